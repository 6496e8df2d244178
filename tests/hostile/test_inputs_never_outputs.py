"""Inputs are never outputs: a command refuses, before it writes anything, an output path that is or
would overwrite one of its inputs (or one of its other outputs)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from .clirun import agcl, clean_error


def _collection(phantom: Path, folder: Path, n: int = 12) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(phantom / "images", folder / "images")
    names = sorted(p.name for p in (folder / "images").glob("*.png"))[:n]
    table = folder / "images.csv"
    with open(table, "w", newline="") as fh:
        csv.writer(fh).writerows([["path", "labels", "patient_id"],
                                  *[[f"images/{name}", "Mass" if i % 2 else "No Finding", f"p{i}"]
                                    for i, name in enumerate(names)]])
    return table


def test_index_refuses_to_replace_its_input_csv(phantom: Path, tmp_path: Path) -> None:
    table = _collection(phantom, tmp_path / "c")
    before = table.read_bytes()
    clean_error(agcl("index", "--csv", table, "--out", tmp_path / "c"), "--out", "would overwrite", "--csv")
    assert table.read_bytes() == before and not (tmp_path / "c" / "index.json").exists()


def test_index_refuses_to_replace_its_boxes_csv(phantom: Path, tmp_path: Path) -> None:
    table = _collection(phantom, tmp_path / "c")
    boxes = tmp_path / "ix" / "boxes.csv"
    boxes.parent.mkdir()
    boxes.write_text("image_id,label,x0,y0,x1,y1\n")
    clean_error(agcl("index", "--csv", table, "--boxes", boxes, "--out", tmp_path / "ix"), "--boxes")
    assert boxes.read_text() == "image_id,label,x0,y0,x1,y1\n"


def test_mine_refuses_to_replace_its_reports(tmp_path: Path) -> None:
    reports = tmp_path / "rep.csv"
    reports.write_text("id,report\nr1,Small left pleural effusion.\n")
    before = reports.read_bytes()
    clean_error(agcl("mine", reports, "--out", reports), "INPUT", "would overwrite")
    assert reports.read_bytes() == before
    link = tmp_path / "link.csv"  # the same file under another name
    link.symlink_to(reports)
    clean_error(agcl("mine", link, "--out", reports), "would overwrite")
    assert reports.read_bytes() == before


def test_mine_refuses_two_outputs_on_one_file_and_outputs_among_folder_reports(tmp_path: Path) -> None:
    reports = tmp_path / "rep.csv"
    reports.write_text("id,report\nr1,Small left pleural effusion.\n")
    mapping = tmp_path / "map.csv"
    mapping.write_text("report_id,image_id\nr1,a.png\n")
    clean_error(agcl("mine", reports, "--map", mapping, "--out", tmp_path / "s.csv", "--images-out", tmp_path / "s.csv"),
                "--images-out", "same file")
    clean_error(agcl("mine", reports, "--map", mapping, "--out", mapping), "--map")
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "r1.txt").write_text("Large pneumothorax.")
    clean_error(agcl("mine", folder, "--out", folder / "r1.txt"), "r1.txt")
    assert (folder / "r1.txt").read_text() == "Large pneumothorax."
    clean_error(agcl("mine", folder, "--out", folder / "severity.txt"), "would be read as a report")


def test_predict_refuses_a_folder_of_someone_elses_outputs(phantom: Path, tmp_path: Path, checkpoint: Path) -> None:
    stage = tmp_path / "stage_bsl"  # e.g. `-o runs/x/stage_bsl`: predictions.csv there belongs to the run
    stage.mkdir()
    (stage / "predictions.csv").write_text("image_id\n")
    image = next((phantom / "images").glob("*.png"))
    clean_error(agcl("predict", image, "-c", checkpoint, "-o", stage, "--device", "cpu", "--no-progress"),
                "predictions.csv", "did not write")
    assert (stage / "predictions.csv").read_text() == "image_id\n"


def test_predict_refuses_overlays_inside_a_scanned_input_folder(phantom: Path, tmp_path: Path,
                                                                 checkpoint: Path) -> None:
    images = tmp_path / "scans"
    shutil.copytree(phantom / "images", images)
    res = agcl("predict", images, "-c", checkpoint, "-o", images / "pred", "--overlays", "--device", "cpu")
    clean_error(res, "overlays", "input folder")
    assert not (images / "pred").exists()


def test_evaluate_refuses_to_replace_its_calibration_file(indexed: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    out.mkdir()
    calibration = out / "calibration_split.csv"
    calibration.write_text("image_id\n")
    res = agcl("evaluate", indexed, "--control", "centre", "--out", out, "--calibration-file", calibration)
    clean_error(res, "--calibration-file")
    assert calibration.read_text() == "image_id\n"


def test_run_refuses_inputs_inside_its_own_files(indexed: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "stage_bsl").mkdir(parents=True)
    severity = run / "stage_bsl" / "severity.csv"  # `agcl run --fresh` would delete it
    severity.write_text("id,label,status,severity\n")
    res = agcl("run", "--run-dir", run, "--set", f"data.index_dir={indexed}", "--set", "data.image_size=32",
               "--set", f"source.severity={severity}")
    clean_error(res, "source.severity", "stage_bsl")
    assert severity.read_text() == "id,label,status,severity\n" and not (run / "config.yaml").exists()


def test_synth_refuses_a_preview_among_its_own_files(phantom: Path, tmp_path: Path) -> None:
    out = tmp_path / "ph"
    shutil.copytree(phantom, out)
    target = sorted((out / "images").glob("*.png"))[0]
    before = target.read_bytes()
    clean_error(agcl("synth", out, "--n", 60, "--size", 64, "--preview-path", target), "--preview-path")
    assert target.read_bytes() == before
