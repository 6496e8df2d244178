"""``agcl predict --heatmap regression``: a two-path checkpoint's regressed heatmaps become the heatmaps,
boxes and overlays; a checkpoint without a regression path is refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from agcl.cli import app

SIZE = 32


def _images(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray((rng.random((48, 40)) * 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture(scope="module")
def two_path_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    from agcl.models import build_model
    from agcl.train.checkpoint import model_payload, save_checkpoint

    model = build_model({"kind": "two_path", "backbone": "tiny", "image_size": SIZE}, seed=3).eval()
    path = tmp_path_factory.mktemp("two_path") / "checkpoint.pt"
    save_checkpoint(path, model_payload(model, stage="agcl_1", epoch=0, config={}))
    return path, model


def test_predict_regression_heatmaps(two_path_checkpoint, tmp_path):
    import agcl
    from agcl.inference.inputs import iter_loaded, scan_inputs
    from agcl.models import forward_with_regression

    path, model = two_path_checkpoint
    images = _images(tmp_path / "imgs")
    res = agcl.predict(path, images, out=tmp_path / "out", box_threshold=0.0, device="cpu", heatmap="regression",
                       overlays=True)
    assert res.failures.empty and res.heatmaps.shape == (3, 14, 4, 4) and res.settings["heatmap"] == "regression"
    files, _ = scan_inputs([images])
    loaded = [item for chunk in iter_loaded(files, SIZE, keep_original=False, batch_size=8, workers=0) for item in chunk]
    x = torch.from_numpy(np.stack([it.resized for it in loaded])).float().div_(255.0)[:, None]
    _, ref = forward_with_regression(model, x, frame="image")
    order = [str(it.image) for it in loaded]
    got = res.heatmaps[[list(res.probabilities["image"]).index(o) for o in order]]
    np.testing.assert_allclose(got, ref.numpy(), atol=1e-6)
    cam = agcl.predict(path, images, box_threshold=0.0, device="cpu")
    assert not np.allclose(cam.heatmaps, res.heatmaps, atol=1e-3)  # the separate path is not the CAM
    assert len(res.boxes) >= 3 * 14 and any((tmp_path / "out" / "overlays").glob("*.png"))
    cli = CliRunner().invoke(app, ["predict", str(images), "-c", str(path), "-o", str(tmp_path / "cli"),
                                   "--heatmap", "regression", "--no-progress", "--device", "cpu"])
    assert cli.exit_code == 0, cli.output
    np.testing.assert_allclose(np.load(tmp_path / "cli" / "heatmaps.npy"), res.heatmaps, rtol=2e-3, atol=1e-4)  # float16 file


def test_predict_regression_refuses_a_bsl_checkpoint(make_checkpoint, tmp_path):
    ckpt = make_checkpoint(SIZE)
    images = _images(tmp_path / "imgs")
    res = CliRunner().invoke(app, ["predict", str(images), "-c", str(ckpt), "-o", str(tmp_path / "out"),
                                   "--heatmap", "regression", "--no-progress", "--device", "cpu"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    errors = [x for x in res.output.splitlines() if x.startswith("error: ")]  # (log lines may precede it)
    assert len(errors) == 1 and "--heatmap regression needs a two-path checkpoint" in errors[0] and str(ckpt) in errors[0]
    assert res.output.rstrip("\n").splitlines()[-1] == errors[0]
    assert not (tmp_path / "out" / "predictions.csv").exists()
