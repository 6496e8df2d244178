"""`agcl predict` / `agcl.predict`: real NIH pixels end to end, boxes mapped to original pixels, and bad
files rejected one by one while the good ones are processed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from agcl.cli import app
from agcl.errors import AgclError
from agcl.labels import LABELS

SIZE = 64  # the model's input side; NIH originals are 1024


@pytest.fixture(scope="module")
def checkpoint(make_checkpoint) -> Path:
    """A contract checkpoint of the tiny backbone (seeded random init), input size SIZE."""
    return make_checkpoint(SIZE)


def _grey(path: Path, size: tuple[int, int], seed: int, mode: str = "L") -> Path:
    rng = np.random.default_rng(seed)
    pix = (rng.random((size[1], size[0])) * 255).astype(np.uint8)
    img = Image.fromarray(pix)
    (img.convert(mode) if mode != "L" else img).save(path)
    return path


def test_predict_real_nih_images(nih_dir: Path, checkpoint: Path, tmp_path: Path) -> None:
    import agcl
    from agcl.boxes.generators import BoxSettings, heatmaps_to_boxes

    images = nih_dir / "images"
    out = tmp_path / "out"
    res = agcl.predict(checkpoint, images, out=out, box_threshold=0.0, batch_size=7, device="cpu")
    assert res.failures.empty
    names = {Path(p).name for p in res.probabilities["image"]}
    assert len(names) == 30 and {"00003400_003.png", "00004934_000.png"} <= names  # the two RGBA files
    assert (res.probabilities[["width", "height"]] == 1024).all().all()
    probs = res.probabilities[list(LABELS)].to_numpy()
    assert np.isfinite(probs).all() and ((probs >= 0) & (probs <= 1)).all()
    box = res.boxes[["x0", "y0", "x1", "y1"]].to_numpy()
    assert len(box) >= 30 * len(LABELS)  # threshold 0: at least one box for every (image, label)
    assert ((box >= 0) & (box <= 1024)).all()
    assert (box > SIZE).any()  # boxes are in the 1024 frame, not the model's 64-pixel input
    # exact mapping: boxes in the S×S grid scaled by 1024/S equal what predict wrote
    first = res.probabilities["image"].iloc[0]
    grid = heatmaps_to_boxes(res.heatmaps[0], SIZE, SIZE, BoxSettings(generator="cam20", upsample_size=SIZE))
    np.testing.assert_allclose(res.boxes_of(first)[["x0", "y0", "x1", "y1"]].to_numpy(), grid.boxes * 1024 / SIZE)
    # files on disk agree with the returned object
    written = pd.read_csv(out / "predictions.csv")
    assert list(written.columns) == ["image", "width", "height", *LABELS]
    np.testing.assert_allclose(written[list(LABELS)].to_numpy(), probs, rtol=1e-6)
    assert np.load(out / "heatmaps.npy").shape == (30, len(LABELS), *res.heatmaps.shape[2:])
    payload = json.loads((out / "predictions.json").read_text())
    assert payload["settings"]["frame"] == "original image pixels" and len(payload["images"]) == 30
    assert len(pd.read_csv(out / "boxes.csv")) == len(res.boxes)


def test_predict_rejects_bad_files_and_processes_the_rest(checkpoint: Path, tmp_path: Path) -> None:
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder = tmp_path / "in"
    folder.mkdir()
    _grey(folder / "a.png", (120, 100), 0)
    _grey(folder / "b_rgba.png", (80, 80), 1, mode="RGBA")
    _grey(folder / "c.jpg", (90, 70), 2, mode="RGB")
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 50, 60, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (np.arange(50 * 60, dtype=np.uint16) % 4096).tobytes()
    ds.save_as(folder / "d.dcm", enforce_file_format=True)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["predict", str(folder), str(notes), str(tmp_path / "missing.png"),
                                      "--checkpoint", str(checkpoint), "--out", str(out), "--overlays",
                                      "--batch-size", "2", "--device", "cpu", "--generator", "wang2017",
                                      "--box-threshold", "0", "--no-progress"])
    assert result.exit_code == 3, result.output
    assert "3 input(s) rejected" in result.output
    preds = pd.read_csv(out / "predictions.csv")
    assert sorted(Path(p).name for p in preds["image"]) == ["a.png", "b_rgba.png", "c.jpg", "d.dcm"]
    assert preds.set_index(preds["image"].map(lambda p: Path(p).name)).loc["a.png", ["width", "height"]].tolist() == [120, 100]
    failures = pd.read_csv(out / "failures.csv")
    assert sorted(Path(p).name for p in failures["image"]) == ["broken.png", "missing.png", "notes.txt"]
    for row in failures.itertuples():
        assert Path(row.image).name in row.error and "\n" not in row.error  # one line naming the file
    boxes = pd.read_csv(out / "boxes.csv")
    for name, w, h in (("a.png", 120, 100), ("d.dcm", 60, 50)):
        b = boxes[boxes["image"].map(lambda p: Path(p).name) == name]
        assert len(b) and (b["x1"] <= w).all() and (b["y1"] <= h).all() and (b[["x0", "y0"]] >= 0).all().all()
    overlays = sorted(p.name for p in (out / "overlays").glob("*.png"))
    assert "a__Atelectasis.png" in overlays and "d__Hernia.png" in overlays
    assert Image.open(out / "overlays" / "a__Atelectasis.png").size == (120, 100)
    assert not (tmp_path / "in" / "overlays").exists()  # nothing written beside the inputs


def test_predict_bad_checkpoint_and_no_images(checkpoint: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    img = _grey(tmp_path / "a.png", (40, 40), 0)
    r = runner.invoke(app, ["predict", str(img), "--checkpoint", str(bad), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "incompatible checkpoint" in r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    r = runner.invoke(app, ["predict", str(empty), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o2")])
    assert r.exit_code == 2 and "no image files" in r.output
    assert not (tmp_path / "o2").exists()
    r = runner.invoke(app, ["predict", str(img), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o3"),
                            "--generator", "cam21"])
    assert r.exit_code == 2 and "cam20" in r.output


def test_api_predict_in_memory_is_deterministic(checkpoint: Path, tmp_path: Path) -> None:
    import agcl
    from agcl.models import build_model
    from agcl.train.checkpoint import model_payload, save_checkpoint

    imgs = [_grey(tmp_path / f"{i}.png", (70, 50), i) for i in range(3)]
    a = agcl.predict(checkpoint, imgs, device="cpu", batch_size=2)
    b = agcl.predict(checkpoint, [str(p) for p in imgs], device="cpu", batch_size=3)
    pd.testing.assert_frame_equal(a.probabilities, b.probabilities)
    pd.testing.assert_frame_equal(a.boxes, b.boxes)
    assert a.heatmaps.shape[:2] == (3, len(LABELS))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.png", "1.png", "2.png"]  # out=None writes nothing
    ckpts = tmp_path.parent / f"{tmp_path.name}_ckpts"
    for kind in ("two_path", "binary"):
        net = build_model({"kind": kind, "backbone": "tiny", "image_size": 32}, seed=0)
        save_checkpoint(ckpts / f"{kind}.pt", model_payload(net, stage=kind, epoch=0, config={}))
    two = agcl.predict(ckpts / "two_path.pt", imgs, device="cpu")  # AGCL-k stages are two-path networks
    assert list(two.probabilities.columns[3:]) == list(LABELS) and two.heatmaps.shape[:2] == (3, len(LABELS))
    with pytest.raises(AgclError, match="kind 'binary'"):  # per-disease curriculum nets give no 14 labels
        agcl.predict(ckpts / "binary.pt", imgs, device="cpu")


def test_predict_gradcam_heatmap_source(checkpoint: Path, tmp_path: Path) -> None:
    import torch

    import agcl
    from agcl.cam.gradcam import gradient_cams
    from agcl.train.checkpoint import load_model

    imgs = [_grey(tmp_path / f"{i}.png", (SIZE, SIZE), i) for i in range(2)]
    cam = agcl.predict(checkpoint, imgs, device="cpu", box_threshold=0.0)
    grad = agcl.predict(checkpoint, imgs, device="cpu", box_threshold=0.0, heatmap="gradcampp")
    pd.testing.assert_frame_equal(cam.probabilities, grad.probabilities, atol=1e-6, rtol=0)
    assert grad.settings["heatmap"] == "gradcampp" and (grad.heatmaps >= 0).all()
    pixels = np.stack([np.asarray(Image.open(p)) for p in imgs])
    x = torch.from_numpy(pixels).float().div_(255.0)[:, None]
    _, ref = gradient_cams(load_model(checkpoint, "cpu").model, x, "gradcampp")
    np.testing.assert_allclose(grad.heatmaps, ref.numpy(), rtol=1e-5, atol=1e-6)
    out = tmp_path / "o"
    r = CliRunner().invoke(app, ["predict", str(imgs[0]), "--checkpoint", str(checkpoint), "--out", str(out),
                                 "--heatmap", "gradcam", "--overlays", "--box-threshold", "0", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert len(list((out / "overlays").glob("*.png"))) >= 1
    r = CliRunner().invoke(app, ["predict", str(imgs[0]), "--checkpoint", str(checkpoint), "--out", str(out),
                                 "--heatmap", "gradcamm"])
    assert r.exit_code == 2 and "did you mean 'gradcam'" in r.output


@pytest.mark.parametrize("backbone,geometry", [("tiny", (8, 0.5)), ("efficientnet_lite0", (16, 15.5))])
def test_predict_heatmaps_are_in_the_image_frame(tmp_path: Path, backbone, geometry) -> None:
    """`agcl predict` heatmaps (and so its boxes and overlays) are the feature-grid CAM aligned to the image."""
    import torch

    import agcl
    from agcl.cam.align import align_to_image
    from agcl.models import build_model, forward_with_cams
    from agcl.train.checkpoint import model_payload, save_checkpoint

    model = build_model({"kind": "multilabel", "backbone": backbone, "image_size": SIZE}, seed=0).eval()
    assert model.feature_geometry() == geometry
    ckpt = tmp_path / "checkpoint.pt"
    save_checkpoint(ckpt, model_payload(model, stage="bsl", epoch=0, config={}))
    (tmp_path / "in").mkdir()
    paths = [_grey(tmp_path / "in" / f"{i}.png", (SIZE, SIZE), seed=i) for i in range(2)]  # S×S: no resize
    res = agcl.predict(ckpt, tmp_path / "in", box_threshold=0.0, device="cpu")
    order = [Path(p).name for p in res.probabilities["image"]]
    x = torch.stack([torch.from_numpy(np.array(Image.open(tmp_path / "in" / n))).float().div(255) for n in order])[:, None]
    _, raw = forward_with_cams(model, x)
    expected = align_to_image(raw, SIZE, *geometry).numpy()
    np.testing.assert_allclose(res.heatmaps, expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(res.heatmaps, raw.numpy(), atol=1e-3)  # the alignment really moved the maps
    assert len(paths) == len(order)
