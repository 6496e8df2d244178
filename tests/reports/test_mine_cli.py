"""``agcl mine`` end to end: CSV + --map, OpenI auto-mapping, --import-severity, and clean errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from agcl.cli import app

runner = CliRunner()


def test_mine_csv_with_map(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("rid,text\n1,Small left pleural effusion. No pneumothorax.\n2,\n")
    (tmp_path / "map.csv").write_text("report_id,image_id\n1,img1.png\n1,img2.png\n")
    out = tmp_path / "sev.csv"
    res = runner.invoke(app, ["mine", str(tmp_path / "r.csv"), "--out", str(out), "--id-col", "rid",
                              "--text-col", "text", "--map", str(tmp_path / "map.csv"), "--no-progress",
                              "--mentions-out", str(tmp_path / "m.csv")])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out, dtype=str)
    assert table[["id", "label", "status", "severity"]].values.tolist() == [
        ["1", "Effusion", "positive", "mild"], ["1", "Pneumothorax", "negative", "none"]]
    images = pd.read_csv(tmp_path / "sev.images.csv", dtype=str)
    assert list(images.columns) == ["image_id", "label", "status", "severity"] and len(images) == 4
    assert (tmp_path / "m.csv").is_file()


def test_mine_errors_are_one_line_and_write_nothing(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("id,report\n1,x\n1,y\n")
    out = tmp_path / "sev.csv"
    res = runner.invoke(app, ["mine", str(tmp_path / "r.csv"), "--out", str(out)])
    assert res.exit_code == 2 and "error:" in res.output and "duplicate report id '1'" in res.output
    assert not out.exists()
    res = runner.invoke(app, ["mine", "--out", str(out)])
    assert res.exit_code == 2 and "missing INPUT" in res.output


def test_mine_import_severity(tmp_path: Path) -> None:
    (tmp_path / "ext.csv").write_text("image_id,label,severity\n00000001_000.png,Effusion,3\n")
    out = tmp_path / "sev.csv"
    res = runner.invoke(app, ["mine", "--import-severity", str(tmp_path / "ext.csv"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(out).values.tolist() == [["00000001_000.png", "Effusion", "positive", "severe"]]


def test_mine_openi_folder_maps_parent_images(tmp_path: Path) -> None:
    xml = ('<eCitation><uId id="CXR5"/><Abstract><AbstractText Label="FINDINGS">Moderate cardiomegaly.'
           '</AbstractText><AbstractText Label="IMPRESSION">No pneumothorax.</AbstractText></Abstract>'
           '<parentImage id="CXR5_1_IM-0001"/><parentImage id="CXR5_1_IM-0002"/></eCitation>')
    src = tmp_path / "ecgen-radiology"
    src.mkdir()
    (src / "5.xml").write_text(xml)
    out = tmp_path / "sev.csv"
    res = runner.invoke(app, ["mine", str(src), "--out", str(out), "--images-out", str(tmp_path / "img.csv")])
    assert res.exit_code == 0, res.output
    images = pd.read_csv(tmp_path / "img.csv")
    assert images.values.tolist() == [
        ["CXR5_1_IM-0001", "Cardiomegaly", "positive", "moderate"],
        ["CXR5_1_IM-0002", "Cardiomegaly", "positive", "moderate"],
        ["CXR5_1_IM-0001", "Pneumothorax", "negative", "none"],
        ["CXR5_1_IM-0002", "Pneumothorax", "negative", "none"],
    ]
