"""Generic CSV collections (``agcl index --csv``): columns, carving, boxes, path safety, errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from agcl.data.index import load_index, save_index
from agcl.data.table import TableOptions, build_csv_index
from agcl.errors import InputError


def make_collection(tmp_path, n=20, extra=""):
    root = tmp_path / "col"
    (root / "a").mkdir(parents=True)
    lines = [f"file,findings,pid,age,sex{extra and ',' + extra}"]
    for i in range(n):
        Image.fromarray(np.full((6, 6), i, np.uint8)).save(root / "a" / f"x{i}.jpg")
        lab = ["Effusion;Mass", "No Finding", "Infiltrate"][i % 3]
        lines.append(f"a/x{i}.jpg,{lab},P{i // 2},{40 + i},F" + ("," + ["train", "val", "test"][(i // 2) % 3] if extra else ""))
    (tmp_path / "c.csv").write_text("\n".join(lines) + "\n")
    return root


def opts(**kw):
    base = dict(image_col="file", labels_col="findings", label_sep=";", patient_col="pid")
    return TableOptions(**{**base, **kw})


def test_carved_split_by_patient_and_round_trip(tmp_path):
    root = make_collection(tmp_path)
    images, boxes, info = build_csv_index(tmp_path / "c.csv", root, opts(fractions=(0.6, 0.2, 0.2), seed=3))
    assert images.groupby("patient_id")["split"].nunique().max() == 1
    assert set(images["split"]) == {"train", "val", "test"}
    again, _, _ = build_csv_index(tmp_path / "c.csv", root, opts(fractions=(0.6, 0.2, 0.2), seed=3))
    assert again["split"].tolist() == images["split"].tolist()
    first = images.iloc[0]
    assert first["Effusion"] == 1 and first["Mass"] == 1 and first["no_finding"] == 0
    assert images.iloc[2]["Infiltration"] == 1 and images.iloc[1]["no_finding"] == 1
    save_index(tmp_path / "ix", images, boxes, info)
    ix = load_index(tmp_path / "ix")
    assert ix.meta["source"] == "csv" and ix.abs_path("a/x3.jpg") == root.resolve() / "a" / "x3.jpg"
    assert ix.images["age"].tolist()[:2] == [40.0, 41.0]


def test_split_column_boxes_and_missing(tmp_path, caplog):
    root = make_collection(tmp_path, extra="split")
    (tmp_path / "b.csv").write_text("image_id,label,x,y,w,h\na/x0.jpg,Mass,1,1,2,3\na/x4.jpg,Infiltrate,0,0,1,1\n")
    images, boxes, info = build_csv_index(tmp_path / "c.csv", root, opts(split_col="split", boxes=tmp_path / "b.csv"))
    assert info["split_source"] == "column:split" and images.iloc[2]["split"] == "val"
    assert boxes[["x0", "y0", "x1", "y1"]].iloc[0].tolist() == [1, 1, 3, 4] and boxes["label"].iloc[1] == "Infiltration"
    assert "box image(s) are not in the test split" in caplog.text  # x0 is in train
    (root / "a" / "x5.jpg").unlink()
    with pytest.raises(InputError, match=r"1 of 20 image files are missing \(first: a/x5.jpg\)"):
        build_csv_index(tmp_path / "c.csv", root, opts(split_col="split"))
    images, _, info = build_csv_index(tmp_path / "c.csv", root, opts(split_col="split", allow_missing=True))
    assert len(images) == 19 and info["dropped_missing_files"] == 1


@pytest.mark.parametrize(
    ("text", "kw", "pattern"),
    [
        ("file,findings\na/x0.jpg,Mass\n", {}, r"c.csv: missing column\(s\) \['pid'\]"),
        ("file,findings,pid\na/x0.jpg,Mas,p\n", {}, r"c.csv line 2: unknown label 'Mas'"),
        ("file,findings,pid\na/x0.jpg,Mass,p\na/x0.jpg,Mass,q\n", {}, r"c.csv line 3: duplicate image 'a/x0.jpg'"),
        ("file,findings,pid\n../x0.jpg,Mass,p\n", {}, r"c.csv line 2: image path '../x0.jpg' must be relative"),
        ("file,findings,pid\n/etc/passwd,Mass,p\n", {}, r"must be relative to --root"),
        ("file,findings,pid,s\na/x0.jpg,Mass,p,train\na/x1.jpg,Mass,p,test\n", {"split_col": "s"},
         r"c.csv: patient p has images in several splits \(test, train\)"),
        ("file,findings,pid,s\na/x0.jpg,Mass,p,dev\n", {"split_col": "s"}, r"c.csv line 2: split 'dev' is not"),
        ("file,findings,pid\na/x0.jpg,Mass,p\n", {"fractions": (0.5, 0.5, 0.5)}, r"split fractions must be"),
    ],
)
def test_csv_errors(tmp_path, text, kw, pattern):
    root = make_collection(tmp_path, n=2)
    (tmp_path / "c.csv").write_text(text)
    with pytest.raises(InputError, match=pattern):
        build_csv_index(tmp_path / "c.csv", root, opts(**kw))


def test_bad_boxes_csv(tmp_path):
    root = make_collection(tmp_path, n=2)
    (tmp_path / "b.csv").write_text("image_id,label,x0,y0,x1,y1\na/x9.jpg,Mass,0,0,1,1\n")
    with pytest.raises(InputError, match=r"b.csv line 2: box image 'a/x9.jpg' is not in the image CSV"):
        build_csv_index(tmp_path / "c.csv", root, opts(boxes=tmp_path / "b.csv"))
    (tmp_path / "b.csv").write_text("image_id,label,x0,y0,x1,y1\na/x0.jpg,Mass,5,0,1,1\n")
    with pytest.raises(InputError, match=r"b.csv line 2: box needs numeric coordinates with x1 > x0"):
        build_csv_index(tmp_path / "c.csv", root, opts(boxes=tmp_path / "b.csv"))
