"""``agcl index`` and ``agcl prepare`` through the CLI: exit codes, one-line errors, no partial artifacts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from agcl.cli import app

runner = CliRunner()


@pytest.fixture()
def nih_folder(tmp_path):
    """Four images of four patients in NIH layout (2017-style CSV: CRLF, trailing comma, padded ids)."""
    src = tmp_path / "nih"
    (src / "images").mkdir(parents=True)
    names = [f"0000000{p}_000.png" for p in range(1, 5)]
    header = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
              "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],")
    rows = [f"{n},{lab},000,0000000{i + 1},0{40 + i}Y,M,PA,24,20,0.1,0.1"
            for i, (n, lab) in enumerate(zip(names, ["Mass", "No Finding", "Effusion|Mass", "Nodule"], strict=True))]
    (src / "Data_Entry_2017.csv").write_bytes(("\r\n".join([header, *rows]) + "\r\n").encode())
    (src / "BBox_List_2017.csv").write_text("Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
                                            f"{names[3]},Nodule,2,3,4,5\n")
    (src / "train_val_list.txt").write_text("\n".join(names[:3]))
    (src / "test_list.txt").write_text(names[3])
    for i, n in enumerate(names):
        Image.fromarray(np.full((20, 24), 50 * i, np.uint8)).save(src / "images" / n)
    return src


def test_index_then_prepare(nih_folder, tmp_path):
    out = tmp_path / "ix"
    res = runner.invoke(app, ["index", str(nih_folder), "--out", str(out), "--val-fraction", "0.25"])
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "index.json").read_text())
    assert meta["metadata_version"] == "2017" and meta["counts"]["splits"] == {"train": 2, "val": 1, "test": 1}
    res = runner.invoke(app, ["prepare", str(out), "--size", "8", "--workers", "1"])
    assert res.exit_code == 0, res.output
    info = json.loads((out / "cache_8" / "cache.json").read_text())
    assert info["complete"] is True and info["n"] == 4
    assert (out / "cache_8" / "images.u8").stat().st_size == 4 * 8 * 8
    manifest = (out / "cache_8" / "manifest.csv").read_text().splitlines()
    assert manifest[1].startswith("0,00000001_000.png,24,20")


def test_index_error_leaves_nothing(nih_folder, tmp_path):
    (nih_folder / "images" / "00000002_000.png").unlink()
    out = tmp_path / "ix"
    res = runner.invoke(app, ["index", str(nih_folder), "--out", str(out)])
    assert res.exit_code == 2
    assert "error:" in res.output and "1 of 4 image files are missing" in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not out.exists()
    res = runner.invoke(app, ["index", "--out", str(out)])
    assert res.exit_code == 2 and "missing SRC" in res.output
    res = runner.invoke(app, ["index", str(nih_folder), "--out", str(out), "--metadata", "2019"])
    assert res.exit_code == 2 and "--metadata must be auto, v2020 or 2017" in res.output


def test_prepare_error_is_resumable_and_not_marked_complete(nih_folder, tmp_path):
    out = tmp_path / "ix"
    assert runner.invoke(app, ["index", str(nih_folder), "--out", str(out)]).exit_code == 0
    (nih_folder / "images" / "00000003_000.png").write_bytes(b"\x89PNG broken")
    res = runner.invoke(app, ["prepare", str(out), "--size", "8", "--workers", "1"])
    assert res.exit_code == 2 and "00000003_000.png" in res.output
    assert json.loads((out / "cache_8" / "cache.json").read_text())["complete"] is False
    assert not (out / "cache_8" / "manifest.csv").exists()
    res = runner.invoke(app, ["prepare", str(out), "--size", "8", "--workers", "1", "--skip-bad"])
    assert res.exit_code == 0
    assert json.loads((out / "cache_8" / "cache.json").read_text())["bad_ids"] == ["00000003_000.png"]
    res = runner.invoke(app, ["prepare", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and "is not an agcl index" in res.output
