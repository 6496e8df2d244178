"""Readers check what they read: sane boxes, finite heatmaps and weights, paths inside the root at every
read, special files refused (never a hang), bounded error text, and no traceback on odd inputs."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from .clirun import agcl, clean_error, leftovers
from .conftest import CACHE

BBOX = "BBox_List_2017.csv"


def _with_timeout(fn, seconds: float = 60):
    """Run ``fn`` in a thread; fail (instead of hanging the suite) when it does not return in time."""
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", fn()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    return box["result"]


def test_huge_box_in_bbox_list_is_refused(phantom_copy: Path, tmp_path: Path) -> None:
    bbox = phantom_copy / BBOX
    rows = bbox.read_text().splitlines()
    image_id = rows[1].split(",")[0]
    bbox.write_text("\n".join([*rows, f"{image_id},Mass,10,10,1e308,20"]) + "\n")
    clean_error(agcl("index", phantom_copy, "--out", tmp_path / "ix"), BBOX, f"line {len(rows) + 1}")
    assert not (tmp_path / "ix").exists()


@pytest.mark.parametrize("kind", ["folder", "broken link", "fifo"])
def test_bbox_list_that_is_not_a_file_is_refused(phantom_copy: Path, tmp_path: Path, kind: str) -> None:
    bbox = phantom_copy / BBOX
    bbox.unlink()
    if kind == "folder":
        bbox.mkdir()
    elif kind == "broken link":
        bbox.symlink_to(tmp_path / "nowhere.csv")
    else:
        os.mkfifo(bbox)
    res = _with_timeout(lambda: agcl("index", phantom_copy, "--out", tmp_path / "ix"))
    clean_error(res, BBOX)
    assert not (tmp_path / "ix").exists()


def test_hand_edited_index_boxes_are_checked_at_every_read(indexed: Path, tmp_path: Path) -> None:
    ix = tmp_path / "ix"
    shutil.copytree(indexed, ix)
    boxes = pd.read_csv(ix / "boxes.csv")
    boxes.loc[0, "x1"] = 1e308  # a box that would contain every detection
    boxes.to_csv(ix / "boxes.csv", index=False)
    clean_error(agcl("prepare", ix, "--size", CACHE, "--workers", 1, "--out", tmp_path / "c"), "boxes.csv", "line 2")
    from agcl.fingerprints import index_fingerprint

    info_path = ix / f"cache_{CACHE}" / "cache.json"  # as if the cache had been rebuilt for the edited index
    info_path.write_text(json.dumps({**json.loads(info_path.read_text()), "index_fingerprint": index_fingerprint(ix)}))
    for x1 in (1e308, 5000.0):  # absurd, or more than one image size beyond its image
        boxes.loc[0, "x1"] = x1
        boxes.to_csv(ix / "boxes.csv", index=False)
        info_path.write_text(json.dumps({**json.loads(info_path.read_text()), "index_fingerprint": index_fingerprint(ix)}))
        clean_error(agcl("evaluate", ix, "--control", "centre", "--out", tmp_path / "eval"), "boxes.csv")
        assert not (tmp_path / "eval").exists()


@pytest.mark.parametrize("path", ["../outside.png", "/etc/hostname", "images/../../outside.png"])
def test_image_paths_outside_the_root_are_refused_when_read(indexed: Path, tmp_path: Path, path: str) -> None:
    ix = tmp_path / "ix"
    shutil.copytree(indexed, ix, ignore=shutil.ignore_patterns("cache_*"))
    images = pd.read_csv(ix / "images.csv", dtype=str, keep_default_na=False)
    images.loc[3, "path"] = path
    images.to_csv(ix / "images.csv", index=False)
    clean_error(agcl("prepare", ix, "--size", CACHE, "--workers", 1), "images.csv", "line 5", repr(path))
    assert not (ix / f"cache_{CACHE}").exists()


def test_nan_heatmaps_are_refused(indexed: Path, tmp_path: Path) -> None:
    from agcl.evaluation.artifacts import write_predictions
    from agcl.fingerprints import index_fingerprint
    from agcl.labels import LABELS

    stage = tmp_path / "stage_x"
    images = pd.read_csv(indexed / "images.csv", dtype={"image_id": str})
    test = images.loc[images["split"] == "test", "image_id"].tolist()
    write_predictions(stage, test, np.full((len(test), len(LABELS)), 0.5))
    maps = np.ones((len(test), len(LABELS), 4, 4), np.float16)
    maps[0, 2] = np.nan
    np.save(stage / "heatmaps.npy", maps)
    pd.DataFrame({"image_id": test}).to_csv(stage / "heatmaps_ids.csv", index=False)
    (stage / "DONE").write_text(json.dumps({"index_fingerprint": index_fingerprint(indexed)}))
    clean_error(agcl("evaluate", indexed, "--stage", stage, "--out", tmp_path / "eval"), "heatmaps.npy", "NaN")
    assert not (tmp_path / "eval").exists()


def _checkpoint_with(tmp_path: Path, mutate) -> Path:
    from agcl.models import build_model
    from agcl.train.checkpoint import model_payload

    model = build_model({"kind": "multilabel", "backbone": "tiny", "image_size": 32}, seed=0)
    payload = {"schema": 1, **model_payload(model, stage="bsl", epoch=0, config={})}
    mutate(payload)
    path = tmp_path / "bad.pt"
    torch.save(payload, path)
    return path


def test_checkpoint_with_nan_weights_is_refused(phantom: Path, tmp_path: Path) -> None:
    def poison(p: dict) -> None:
        name = next(k for k, v in p["model"].items() if v.is_floating_point())
        p["model"][name][...] = float("nan")

    ckpt = _checkpoint_with(tmp_path, poison)
    image = next((phantom / "images").glob("*.png"))
    clean_error(agcl("predict", image, "-c", ckpt, "-o", tmp_path / "out", "--device", "cpu"), "bad.pt", "NaN")
    assert not (tmp_path / "out").exists()


def test_checkpoint_with_a_bad_image_size_names_the_checkpoint(phantom: Path, tmp_path: Path) -> None:
    ckpt = _checkpoint_with(tmp_path, lambda p: p["model_spec"].update(image_size=-4))
    image = next((phantom / "images").glob("*.png"))
    msg = clean_error(agcl("predict", image, "-c", ckpt, "-o", tmp_path / "out", "--device", "cpu"),
                      "incompatible checkpoint", "bad.pt", "image_size")
    assert str(image) not in msg


def test_unsafe_checkpoint_message_never_suggests_weights_only_false(phantom: Path, tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    path = tmp_path / "evil.pt"
    torch.save({"a": Evil()}, path)
    image = next((phantom / "images").glob("*.png"))
    msg = clean_error(agcl("predict", image, "-c", path, "-o", tmp_path / "out", "--device", "cpu"), "evil.pt")
    assert "weights_only" not in msg and "safe load refuses" in msg


def test_dicom_with_an_absurd_rescale_slope_is_rejected(tmp_path: Path, checkpoint: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    def dicom(path: Path, slope: str) -> Path:
        meta = FileMetaDataset()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.MediaStorageSOPClassUID = generate_uid()
        meta.MediaStorageSOPInstanceUID = generate_uid()
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.Rows = ds.Columns = 16
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleSlope, ds.RescaleIntercept = slope, "0"
        ds.PixelData = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 16).tobytes()
        ds.save_as(path, enforce_file_format=True)
        return path

    assert pydicom is not None
    for slope in ("1e308", "0"):
        bad = dicom(tmp_path / f"slope_{slope}.dcm", slope)
        res = agcl("predict", bad, "-c", checkpoint, "-o", tmp_path / f"out{slope}", "--device", "cpu")
        clean_error(res, "failures.csv")
        failures = pd.read_csv(tmp_path / f"out{slope}" / "failures.csv")
        assert "RescaleSlope" in failures["error"].iloc[0]
    good = dicom(tmp_path / "ok.dcm", "1")
    assert agcl("predict", good, "-c", checkpoint, "-o", tmp_path / "ok", "--device", "cpu").exit_code == 0


def test_fifo_among_text_reports_is_refused_without_blocking(tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "a.txt").write_text("Small effusion.")
    os.mkfifo(folder / "b.txt")
    res = _with_timeout(lambda: agcl("mine", folder, "--out", tmp_path / "s.csv"))
    clean_error(res, "b.txt", "FIFO")
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("content", ["id,report\nr1,\nr2,   \n", "id,report\n"])
def test_reports_that_are_all_empty_are_an_error(tmp_path: Path, content: str) -> None:
    reports = tmp_path / "rep.csv"
    reports.write_text(content)
    clean_error(agcl("mine", reports, "--out", tmp_path / "s.csv"), "rep.csv")
    assert not (tmp_path / "s.csv").exists()


def test_fifo_config_and_csv_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "c.yaml"
    os.mkfifo(fifo)
    clean_error(_with_timeout(lambda: agcl("run", "--run-dir", tmp_path / "run", "--config", fifo)), "c.yaml", "FIFO")
    csv = tmp_path / "c.csv"
    os.mkfifo(csv)
    clean_error(_with_timeout(lambda: agcl("index", "--csv", csv, "--out", tmp_path / "ix")), "c.csv", "FIFO")


def test_yaml_errors_give_line_and_column_and_stay_short(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  index_dir: [1,\noptim: 3\n")
    msg = clean_error(agcl("run", "--run-dir", tmp_path / "r", "--config", config), "c.yaml", "line", "column")
    assert "line 4 column 1" in msg
    lines = ['curriculum:', '  labels:', '    - &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f'    - &a{i} [' + ",".join([f"*a{i - 1}"] * 9) + ']' for i in range(1, 9)]
    config.write_text("\n".join(lines) + "\n")
    msg = clean_error(agcl("run", "--run-dir", tmp_path / "r", "--config", config), "curriculum.labels")
    assert len(msg) < 400
    config.write_bytes(b"data:\n  index_dir: \xff\xfe\n")
    clean_error(agcl("run", "--run-dir", tmp_path / "r", "--config", config), "c.yaml", "line 2", "UTF-8")


def test_odd_metadata_and_folders_index_without_a_traceback(phantom_copy: Path, tmp_path: Path, caplog) -> None:
    entry = phantom_copy / "Data_Entry_2017_v2020.csv"
    rows = entry.read_text().splitlines()
    header = rows[0].split(",")
    col = header.index("Follow-up #")
    cells = rows[1].split(",")
    cells[col] = "1.5"  # a fractional Follow-up
    rows[1] = ",".join(cells)
    entry.write_text("\n".join(rows) + "\n")
    (phantom_copy / "images" / "loop.png").symlink_to("loop.png")  # a symlink loop among the images
    (phantom_copy / "images" / "self").symlink_to(".")
    res = agcl("index", phantom_copy, "--out", tmp_path / "ix")
    assert res.exit_code == 0, res.output
    follow = pd.read_csv(tmp_path / "ix" / "images.csv", dtype={"image_id": str})["follow_up"]
    assert follow.isna().sum() == 1
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    clean_error(agcl("index", tmp_path / "loop", "--out", tmp_path / "ix2"), "loop")


def test_damaged_cache_state_is_one_line_or_rebuilt(indexed: Path, tmp_path: Path) -> None:
    ix = tmp_path / "ix"
    shutil.copytree(indexed, ix)
    cache = ix / f"cache_{CACHE}"
    (cache / "manifest.csv").unlink()  # a deleted manifest
    clean_error(agcl("evaluate", ix, "--control", "centre", "--out", tmp_path / "eval"), "manifest.csv")
    clean_error(agcl("train", "--run-dir", tmp_path / "run", "--set", f"data.index_dir={ix}",
                     "--set", f"data.image_size={CACHE}"), "manifest.csv", "--rebuild")
    assert agcl("prepare", ix, "--size", CACHE, "--workers", 1).exit_code == 0
    assert (cache / "manifest.csv").is_file()
    info = json.loads((cache / "cache.json").read_text())
    (cache / "cache.json").write_text(json.dumps({**info, "complete": False}))
    (cache / "progress.npz").write_bytes(b"PK\x03\x04 damaged")  # a damaged progress file: start over
    res = agcl("prepare", ix, "--size", CACHE, "--workers", 1)
    assert res.exit_code == 0, res.output
    assert json.loads((cache / "cache.json").read_text())["complete"] is True and not leftovers(ix)


def test_json_artifacts_never_hold_nan(tmp_path: Path) -> None:
    from agcl.io import write_json_atomic

    write_json_atomic(tmp_path / "x.json", {"t": float("nan"), "v": [np.float64("inf"), np.float32(1.5), 2],
                                            "nested": {"k": (float("-inf"),)}})
    assert json.loads((tmp_path / "x.json").read_text(), parse_constant=lambda c: pytest.fail(c)) == {
        "t": None, "v": [None, 1.5, 2], "nested": {"k": [None]}}
