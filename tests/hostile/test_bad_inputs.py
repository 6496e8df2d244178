"""Malformed input files and options that used to end in a traceback or a silent wrong result."""

from __future__ import annotations

import csv
import io
import logging
import tarfile
from pathlib import Path

import pandas as pd

from .clirun import agcl, clean_error, leftovers

ENTRY = "Data_Entry_2017_v2020.csv"


def test_non_utf8_data_entry(phantom_copy: Path, tmp_path: Path) -> None:
    entry = phantom_copy / ENTRY
    lines = entry.read_bytes().splitlines(keepends=True)
    lines[3] = lines[3].replace(b"PA", b"P\xe9A", 1) if b"PA" in lines[3] else lines[3] + b"\xff"
    entry.write_bytes(b"".join(lines))
    msg = clean_error(agcl("index", phantom_copy, "--out", tmp_path / "ix"), ENTRY, "line 4")
    assert "UTF-8" in msg and not (tmp_path / "ix").exists()


def test_header_only_data_entry(phantom_copy: Path, tmp_path: Path) -> None:
    entry = phantom_copy / ENTRY
    entry.write_text(entry.read_text().splitlines()[0] + "\n")
    msg = clean_error(agcl("index", phantom_copy, "--out", tmp_path / "ix"), ENTRY)
    assert "BBox" not in msg and not (tmp_path / "ix").exists()


def test_box_entirely_outside_the_image(phantom_copy: Path, tmp_path: Path) -> None:
    bbox = phantom_copy / "BBox_List_2017.csv"
    rows = bbox.read_text().splitlines()
    image_id = rows[1].split(",")[0]
    bbox.write_text("\n".join([*rows, f"{image_id},Mass,-500,-300,100,100"]) + "\n")
    clean_error(agcl("index", phantom_copy, "--out", tmp_path / "ix"), "BBox_List_2017.csv", f"line {len(rows) + 1}")
    assert not (tmp_path / "ix").exists()


def test_csv_box_entirely_outside_the_image(phantom: Path, tmp_path: Path) -> None:
    images = [f"images/{p.name}" for p in sorted((phantom / "images").glob("*.png"))[:6]]
    table = tmp_path / "images.csv"
    with open(table, "w", newline="") as fh:
        csv.writer(fh).writerows([["path", "labels", "patient_id"],
                                  *[[p, "Mass", f"p{i}"] for i, p in enumerate(images)]])
    boxes = tmp_path / "boxes.csv"
    boxes.write_text(f"image_id,label,x,y,w,h\n{images[0]},Mass,10,10,5,5\n{images[1]},Mass,-500,-300,100,100\n")
    res = agcl("index", "--csv", table, "--root", phantom, "--boxes", boxes, "--out", tmp_path / "ix")
    clean_error(res, "boxes.csv", "line 3")


def test_report_longer_than_spacy_accepts_is_mined_in_chunks(tmp_path: Path, caplog) -> None:
    # longer than spaCy's max_length (1,000,000 characters): mined in chunks, not skipped
    huge = "The lungs are clear. " * 50_000 + "No pneumothorax. Moderate left pleural effusion."
    reports = tmp_path / "reports.csv"
    with open(reports, "w", newline="") as fh:
        csv.writer(fh).writerows([["id", "report"], ["r1", "Small left pleural effusion."],
                                  ["huge", huge], ["r3", "Large pneumothorax."]])
    with caplog.at_level(logging.INFO):
        res = agcl("mine", reports, "--out", tmp_path / "severity.csv")
    assert res.exit_code == 0, res.output
    assert "report huge: 1050048 characters, mined in 11 chunks" in caplog.text
    mined = pd.read_csv(tmp_path / "severity.csv")
    got = {(r.id, r.label): (r.status, r.severity) for r in mined.itertuples()}
    assert got == {("r1", "Effusion"): ("positive", "mild"), ("huge", "Pneumothorax"): ("negative", "none"),
                   ("huge", "Effusion"): ("positive", "moderate"), ("r3", "Pneumothorax"): ("positive", "severe")}


def test_truncated_report_archive(tmp_path: Path) -> None:
    archive = tmp_path / "reports.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for i in range(40):
            xml = (f"<eCitation><uId id='CXR{i}'/><Abstract><AbstractText Label='FINDINGS'>"
                   f"{f'Small effusion noted in report {i}. ' * 50}</AbstractText></Abstract></eCitation>").encode()
            info = tarfile.TarInfo(f"ecgen-radiology/{i}.xml")
            info.size = len(xml)
            tar.addfile(info, io.BytesIO(xml))
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    msg = clean_error(agcl("mine", archive, "--out", tmp_path / "severity.csv"), str(archive))
    assert "truncated" in msg and not (tmp_path / "severity.csv").exists()


def test_synth_lesion_contrast_nan(tmp_path: Path) -> None:
    clean_error(agcl("synth", tmp_path / "ph", "--n", 10, "--size", 32, "--lesion-contrast", "nan"),
                "--lesion-contrast")
    assert not (tmp_path / "ph").exists() and not leftovers(tmp_path)
