"""The phantom is written in the exact NIH ChestX-ray14 layout (headers, fields, lists, boxes)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from agcl.labels import BOX_LABELS, LABELS, NO_FINDING, parse_finding_labels

HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
          "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]")
NAME = re.compile(r"^(\d{8})_(\d{3})\.png$")


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_data_entry_exact_format(tiny_phantom: Path) -> None:
    text = (tiny_phantom / "Data_Entry_2017_v2020.csv").read_text(encoding="utf-8")
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0] == HEADER
    rows = _rows(tiny_phantom / "Data_Entry_2017_v2020.csv")[1:]
    assert len(rows) == 160
    for r in rows:
        assert len(r) == 11, r
        m = NAME.match(r[0])
        assert m, r[0]
        assert int(m.group(1)) == int(r[3]) and int(m.group(2)) == int(r[2])  # patient_followup
        assert r[3] == str(int(r[3])) and r[2] == str(int(r[2]))  # v2020: unpadded integers
        assert 0 < int(r[4]) <= 100 and r[5] in ("M", "F") and r[6] in ("PA", "AP")
        assert (r[7], r[8]) == ("64", "64") and float(r[9]) > 0
        diseases, no_finding = parse_finding_labels(r[1])
        assert no_finding != bool(diseases)
        if diseases:
            assert r[1] == "|".join(diseases)  # canonical order, exact tokens


def test_images_are_8bit_grey_pngs(tiny_phantom: Path) -> None:
    names = sorted(p.name for p in (tiny_phantom / "images").iterdir())
    entry = pd.read_csv(tiny_phantom / "Data_Entry_2017_v2020.csv")
    assert names == sorted(entry["Image Index"])
    for name in names[:20]:
        with Image.open(tiny_phantom / "images" / name) as im:
            assert im.format == "PNG" and im.mode == "L" and im.size == (64, 64)


def test_split_lists_patient_level(tiny_phantom: Path) -> None:
    tv_text = (tiny_phantom / "train_val_list.txt").read_text()
    te_text = (tiny_phantom / "test_list.txt").read_text()
    for t in (tv_text, te_text):
        assert not t.endswith("\n") and "\r" not in t
    tv, te = tv_text.split("\n"), te_text.split("\n")
    entry = pd.read_csv(tiny_phantom / "Data_Entry_2017_v2020.csv")
    assert sorted(tv + te) == sorted(entry["Image Index"])
    assert not set(tv) & set(te)
    assert not {n[:8] for n in tv} & {n[:8] for n in te}  # no patient in both
    assert 0.12 < len(te) / 160 < 0.34


def test_bbox_list_nih_format(tiny_phantom: Path) -> None:
    lines = (tiny_phantom / "BBox_List_2017.csv").read_text().splitlines()
    assert lines[0] == "Image Index,Finding Label,Bbox [x,y,w,h],,,"
    assert len(lines[0].split(",")) == 9
    rows = _rows(tiny_phantom / "BBox_List_2017.csv")[1:]
    assert rows, "tiny phantom should have some test boxes"
    test = set((tiny_phantom / "test_list.txt").read_text().split("\n"))
    entry = pd.read_csv(tiny_phantom / "Data_Entry_2017_v2020.csv").set_index("Image Index")
    allowed = {("Infiltrate" if b == "Infiltration" else b) for b in BOX_LABELS}
    seen = set()
    for r in rows:
        assert len(r) == 6, r
        name, label, (x, y, w, h) = r[0], r[1], map(float, r[2:])
        assert name in test and label in allowed and label != "Infiltration"
        canonical = "Infiltration" if label == "Infiltrate" else label
        assert canonical in entry.loc[name, "Finding Labels"].split("|")
        assert (name, label) not in seen
        seen.add((name, label))
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= 64 and y + h <= 64


def test_truth_folder(tiny_phantom: Path) -> None:
    t = tiny_phantom / "truth"
    les = pd.read_csv(t / "lesions.csv")
    assert list(les.columns) == ["image_id", "label", "severity", "x0", "y0", "x1", "y1"]
    assert set(les["label"]) <= set(LABELS) and set(les["severity"]) <= {"mild", "moderate", "severe"}
    assert ((les.x0 >= 0) & (les.y0 >= 0) & (les.x1 <= 64) & (les.y1 <= 64) & (les.x1 > les.x0) & (les.y1 > les.y0)).all()
    assert not les.duplicated(["image_id", "label"]).any()
    men = pd.read_csv(t / "mentions.csv")
    assert list(men.columns) == ["image_id", "label", "status", "severity"]
    assert set(men["status"]) <= {"positive", "negative", "uncertain"}
    assert set(men["severity"]) <= {"mild", "moderate", "severe", "none"}
    assert (men.loc[men.status != "positive", "severity"] == "none").all()
    sc = pd.read_csv(t / "shortcuts.csv")
    assert set(sc["shortcut"]) <= {"chest_drain", "pacemaker", "central_line", "ecg_leads", "text_marker",
                                   "ap_view", "low_exposure"}
    spec = json.loads((t / "spec.json").read_text())
    assert spec["n"] == 160 and spec["size"] == 64 and spec["seed"] == 0
    reports = pd.read_csv(tiny_phantom / "reports.csv")
    assert list(reports.columns) == ["image_id", "report"] and len(reports) == 160
    assert reports["report"].str.len().min() > 10


def test_noisy_labels_match_truth_and_noise_record(tiny_phantom: Path) -> None:
    """Finding Labels = true labels − missed + extra, exactly as truth/label_noise.csv records."""
    entry = pd.read_csv(tiny_phantom / "Data_Entry_2017_v2020.csv").set_index("Image Index")
    images = pd.read_csv(tiny_phantom / "truth" / "images.csv").set_index("image_id")
    noise = pd.read_csv(tiny_phantom / "truth" / "label_noise.csv")
    for name, row in images.iterrows():
        true = set() if row.true_labels == NO_FINDING else set(row.true_labels.split("|"))
        sub = noise[noise.image_id == name]
        expect = (true - set(sub[sub.kind == "missed"].label)) | set(sub[sub.kind == "extra"].label)
        got = set(parse_finding_labels(entry.loc[name, "Finding Labels"])[0])
        assert got == expect, name


def test_readable_by_nih_index(tiny_phantom: Path) -> None:
    nih = pytest.importorskip("agcl.data.nih")
    images, boxes, _info = nih.build_nih_index(tiny_phantom)
    assert len(images) == 160
    assert set(images.loc[images["split"] == "test", "image_id"]) >= set(boxes["image_id"])
