"""NIH-layout index: quirks of the real files and every error path, on small synthetic folders."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from agcl.data.index import (
    carve_splits_by_patient,
    carve_val_by_patient,
    load_index,
    normalize_patient_ids,
    save_index,
)
from agcl.data.nih import NihOptions, build_nih_index, physical_columns, read_data_entry
from agcl.errors import InputError

HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
          "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]")
# (name, labels, patient, split): 6 patients, 12 images; patient 5 and 6 are test
ROWS = [
    ("00000001_000.png", "Cardiomegaly", 1, "tv"), ("00000001_001.png", "Cardiomegaly|Emphysema", 1, "tv"),
    ("00000002_000.png", "No Finding", 2, "tv"), ("00000002_001.png", "Effusion", 2, "tv"),
    ("00000003_000.png", "Hernia", 3, "tv"), ("00000003_001.png", "No Finding", 3, "tv"),
    ("00000004_000.png", "Mass|Nodule", 4, "tv"), ("00000004_001.png", "No Finding", 4, "tv"),
    ("00000005_000.png", "Infiltration", 5, "test"), ("00000005_001.png", "Atelectasis", 5, "test"),
    ("00000006_000.png", "Pneumothorax", 6, "test"), ("00000006_001.png", "No Finding", 6, "test"),
]
BBOX_HEADER = "Image Index,Finding Label,Bbox [x,y,w,h],,,"


def make_nih(root: Path, rows=ROWS, bbox_lines=None, images_subdir="images", write_images=True) -> Path:
    """Write a tiny NIH-layout folder (v2020 style, unsorted rows) and return it."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [HEADER] + [f"{n},{lab},{n[9:12].lstrip('0') or 0},{p},{30 + i},M,PA,2048,2500,0.143,0.143"
                        for i, (n, lab, p, _) in enumerate(rows)]
    lines = [lines[0]] + lines[1:][::-1]  # v2020 rows are not sorted
    (root / "Data_Entry_2017_v2020.csv").write_text("\n".join(lines) + "\n")
    if bbox_lines is None:
        bbox_lines = ["00000005_000.png,Infiltrate,1.5,2.0,3.0,4.0", "00000006_000.png,Pneumothorax,0,0,8,8"]
    (root / "BBox_List_2017.csv").write_text("\n".join([BBOX_HEADER, *bbox_lines]) + "\n")
    # official lists: no trailing newline
    (root / "train_val_list.txt").write_text("\n".join(n for n, _, _, s in rows if s == "tv"))
    (root / "test_list.txt").write_text("\n".join(n for n, _, _, s in rows if s == "test"))
    if write_images:
        folder = root / images_subdir
        folder.mkdir(parents=True, exist_ok=True)
        for i, (n, *_rest) in enumerate(rows):
            Image.fromarray(np.full((8, 8), 10 * i, np.uint8)).save(folder / n)
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_happy_path_sorted_alias_and_unsorted_rows(tmp_path):
    src = make_nih(tmp_path / "nih")
    images, boxes, info = build_nih_index(src, NihOptions(val_fraction=0.2, seed=0))
    out = save_index(tmp_path / "ix", images, boxes, info)
    ix = load_index(out)
    assert ix.images["image_id"].tolist() == sorted(n for n, *_ in ROWS)
    assert ix.meta["counts"]["images"] == 12 and ix.meta["split_source"] == "official"
    assert set(ix.images.loc[ix.images["patient_id"].isin(["5", "6"]), "split"]) == {"test"}
    assert (ix.images["split"] == "val").sum() in (2,)  # 0.2 * 12 = 2.4 -> closest whole patient = 2
    assert ix.boxes["label"].tolist() == ["Infiltration", "Pneumothorax"]  # 'Infiltrate' alias
    np.testing.assert_allclose(ix.boxes[["x0", "y0", "x1", "y1"]].iloc[0], [1.5, 2.0, 4.5, 6.0])
    assert ix.labels_matrix("test").shape == (4, 14)
    assert ix.abs_path("00000001_000.png") == src.resolve() / "images" / "00000001_000.png"
    assert ix.images[["meta_w", "meta_h"]].iloc[0].tolist() == [2048, 2500]


def test_images_in_split_download_layout(tmp_path):
    src = make_nih(tmp_path / "nih", images_subdir="images_001/images")
    images, _, _ = build_nih_index(src)
    assert images["path"].str.startswith("images_001/images/").all()


def test_2017_quirks_crlf_trailing_comma_ages_and_padded_ids(tmp_path, caplog):
    text = (HEADER + ",\r\n"
            "00000001_000.png,Cardiomegaly,000,00000001,058Y,M,PA,2682,2749,0.143,0.143\r\n"
            "00000001_001.png,No Finding,001,00000001,018M,M,PA,2682,2749,0.143,0.143\r\n"
            "00000002_000.png,No Finding,000,00000002,100D,F,AP,2682,2749,0.143,0.143\r\n"
            "00000003_000.png,No Finding,000,00000003,414Y,F,AP,2682,2749,0.143,0.143\r\n")
    path = tmp_path / "Data_Entry_2017.csv"
    path.write_bytes(text.encode())
    with caplog.at_level(logging.WARNING):
        de = read_data_entry(path)
    assert de["patient_id"].tolist() == ["1", "1", "2", "3"]
    np.testing.assert_allclose(de["age"].iloc[:3], [58, 1.5, 100 / 365.25])
    assert np.isnan(de["age"].iloc[3]) and "1 impossible age" in caplog.text
    assert de["meta_w"].tolist() == [2682] * 4 and de["follow_up"].tolist() == [0, 1, 0, 0]


def test_physical_columns_split_bracketed_names():
    assert physical_columns(HEADER + ",\r\n")[-5:] == ["OriginalImage[Width]", "OriginalImage[Height]",
                                                       "OriginalImagePixelSpacing[x]", "OriginalImagePixelSpacing[y]",
                                                       "_empty9"]
    assert physical_columns(BBOX_HEADER)[:6] == ["Image Index", "Finding Label", "Bbox[x]", "Bbox[y]", "Bbox[w]", "Bbox[h]"]


def test_patient_normalisation_and_val_carving_is_deterministic():
    assert normalize_patient_ids(pd.Series(["00000001", "1", " 0 ", "P001"])).tolist() == ["1", "1", "0", "P001"]
    patients = pd.Series(np.repeat([f"{i}" for i in range(200)], np.arange(200) % 5 + 1))
    a, b = carve_val_by_patient(patients, 60, seed=3), carve_val_by_patient(patients, 60, seed=3)
    assert np.array_equal(a, b) and abs(a.sum() - 60) <= 5
    assert not set(patients[a]) & set(patients[~a])
    assert not np.array_equal(a, carve_val_by_patient(patients, 60, seed=4))
    split = carve_splits_by_patient(patients, (0.7, 0.1, 0.2), seed=0)
    frame = pd.DataFrame({"p": patients, "s": split})
    assert frame.groupby("p")["s"].nunique().max() == 1
    assert abs((split == "test").mean() - 0.2) < 0.03 and abs((split == "val").mean() - 0.1) < 0.03


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda s: edit(s / "Data_Entry_2017_v2020.csv", "Finding Labels,", "Findings,"),
         r"Data_Entry_2017_v2020.csv: missing column 'Finding Labels'"),
        (lambda s: edit(s / "Data_Entry_2017_v2020.csv", "Hernia", "Hernya"),
         r"Data_Entry_2017_v2020.csv line \d+: unknown label 'Hernya'.*did you mean 'Hernia'"),
        (lambda s: edit(s / "Data_Entry_2017_v2020.csv", "00000003_001.png", "00000003_000.png"),
         r"Data_Entry_2017_v2020.csv line \d+: duplicate image id '00000003_000.png' \(first on line \d+\)"),
        (lambda s: edit(s / "Data_Entry_2017_v2020.csv", "00000006_001.png,No Finding,1,6",
                        "00000006_001.png,No Finding,1,4"),
         r"official split lists: patient 4 has images in several splits \(test, train\)"),
        (lambda s: edit(s / "BBox_List_2017.csv", "00000006_000.png", "00000002_000.png"),
         r"BBox_List_2017.csv line 3: 1 box image\(s\) are not in the test split"),
        (lambda s: edit(s / "BBox_List_2017.csv", "Pneumothorax", "Pneumo"),
         r"BBox_List_2017.csv line 3: unknown label 'Pneumo'"),
        (lambda s: edit(s / "BBox_List_2017.csv", ",8,8", ",8,-1"),
         r"BBox_List_2017.csv line 3: box needs numeric x, y and positive w, h"),
        (lambda s: edit(s / "BBox_List_2017.csv", "00000006_000.png", "00000099_000.png"),
         r"BBox_List_2017.csv line 3: box image '00000099_000.png' is not in the metadata"),
        (lambda s: edit(s / "test_list.txt", "\n00000006_001.png", ""),
         r"1 image\(s\) in the metadata are in neither train_val_list.txt nor test_list.txt, e.g. '00000006_001.png'"),
        (lambda s: edit(s / "test_list.txt", "00000006_001.png", "00000006_001.png\n00000077_000.png"),
         r"test_list.txt: 1 name\(s\) not in the metadata, e.g. '00000077_000.png'"),
        (lambda s: edit(s / "test_list.txt", "00000006_001.png", "00000006_001.png\n00000005_000.png"),
         r"test_list.txt line 5: '00000005_000.png' is listed twice"),
        (lambda s: (s / "images" / "00000004_001.png").unlink(),
         r"1 of 12 image files are missing \(first: 00000004_001.png\); pass --allow-missing"),
        (lambda s: edit(s / "Data_Entry_2017_v2020.csv", "Cardiomegaly|Emphysema,1,1,",
                        "Cardiomegaly|Emphysema,1,1,x,y,z,"),
         r"Data_Entry_2017_v2020.csv: malformed CSV"),
        (lambda s: (s / "Data_Entry_2017_v2020.csv").unlink(),
         r"no metadata file Data_Entry_2017_v2020.csv or Data_Entry_2017.csv found"),
    ],
)
def test_errors_name_the_file_and_row(tmp_path, mutate, pattern):
    src = make_nih(tmp_path / "nih")
    mutate(src)
    with pytest.raises(InputError, match=pattern):
        build_nih_index(src)


def test_allow_missing_drops_images_and_their_boxes(tmp_path, caplog):
    src = make_nih(tmp_path / "nih")
    (src / "images" / "00000006_000.png").unlink()
    with caplog.at_level(logging.WARNING):
        images, boxes, info = build_nih_index(src, NihOptions(allow_missing=True))
    assert len(images) == 11 and info["dropped_missing_files"] == 1
    assert boxes["image_id"].tolist() == ["00000005_000.png"]
    assert "1 of 12 images have no file and were dropped" in caplog.text


def test_box_label_mismatch_is_a_counted_warning(tmp_path, caplog):
    src = make_nih(tmp_path / "nih", bbox_lines=["00000005_000.png,Mass,1,1,2,2", "00000006_000.png,Pneumothorax,0,0,8,8"])
    with caplog.at_level(logging.WARNING):
        _, _, info = build_nih_index(src)
    assert info["box_label_mismatches"] == 1
    assert "1 of 2 box label(s) are not among their image's labels (first: 00000005_000.png Mass)" in caplog.text


def test_2017_selected_boxes_checked_against_v2020_labels(tmp_path, caplog):
    src = make_nih(tmp_path / "nih")
    text = (src / "Data_Entry_2017_v2020.csv").read_text()
    # the 2017 file calls the Infiltrate box image 'No Finding' (as for 00011151_004 in the real data)
    (src / "Data_Entry_2017.csv").write_text(text.replace("00000005_000.png,Infiltration,", "00000005_000.png,No Finding,"))
    with caplog.at_level(logging.WARNING):
        images, _, info = build_nih_index(src, NihOptions(metadata="2017"))
    assert info["metadata_version"] == "2017" and images.set_index("image_id").at["00000005_000.png", "no_finding"] == 1
    assert info["box_label_mismatches"] == 0 and "not among their image's labels" not in caplog.text
    (src / "Data_Entry_2017_v2020.csv").unlink()  # without v2020 the 2017 labels are all there is
    _, _, info = build_nih_index(src, NihOptions(metadata="auto"))
    assert info["metadata_version"] == "2017" and info["box_label_mismatches"] == 1


def test_split_file_checks_and_box_warning(tmp_path, caplog):
    src = make_nih(tmp_path / "nih")
    names = [n for n, *_ in ROWS]
    split = ["train"] * 6 + ["val"] * 2 + ["test"] * 4
    table = pd.DataFrame({"Image Index": names, "split": split})
    table.to_csv(tmp_path / "split.csv", index=False)
    images, _, info = build_nih_index(src, NihOptions(split_file=tmp_path / "split.csv"))
    assert images.set_index("image_id").loc[names, "split"].tolist() == split
    assert info["split_source"].startswith("file:")
    # a box image outside test is only a warning with a split file
    table.assign(split=["train"] * 6 + ["val"] * 2 + ["train"] * 2 + ["test"] * 2).to_csv(tmp_path / "s2.csv", index=False)
    with caplog.at_level(logging.WARNING):
        build_nih_index(src, NihOptions(split_file=tmp_path / "s2.csv"))
    assert "box image(s) are not in the test split" in caplog.text
    # leakage, missing rows, bad values
    table.assign(split=["train"] * 5 + ["val"] * 3 + ["test"] * 4).to_csv(tmp_path / "s3.csv", index=False)
    with pytest.raises(InputError, match=r"s3.csv: patient 3 has images in several splits \(train, val\)"):
        build_nih_index(src, NihOptions(split_file=tmp_path / "s3.csv"))
    table.iloc[:-1].to_csv(tmp_path / "s4.csv", index=False)
    with pytest.raises(InputError, match=r"s4.csv: 1 image\(s\) of the metadata have no split, e.g. '00000006_001.png'"):
        build_nih_index(src, NihOptions(split_file=tmp_path / "s4.csv"))
    table.assign(split=["train"] * 11 + ["holdout"]).to_csv(tmp_path / "s5.csv", index=False)
    with pytest.raises(InputError, match=r"s5.csv line 13: split 'holdout' is not train, val or test"):
        build_nih_index(src, NihOptions(split_file=tmp_path / "s5.csv"))
