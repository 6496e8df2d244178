"""``agcl evaluate --heatmap gradcam|gradcampp|regression`` end to end on the fake run's index and cache, with a
checkpoint: the maps come from the checkpoint on the cached pixels and every table names the source."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from typer.testing import CliRunner

from agcl.cli import app


def test_evaluate_with_gradcam_maps_from_the_checkpoint(fake_run: Path, tmp_path: Path) -> None:
    from agcl.cam.gradcam import gradient_cams
    from agcl.data.cache import ImageCache
    from agcl.evaluation.inputs import load_test_set
    from agcl.evaluation.recomputed import checkpoint_heatmaps
    from agcl.models import build_model
    from agcl.train.checkpoint import model_payload, save_checkpoint

    index = fake_run.parent / "index"
    stage = tmp_path / "stage_bsl"
    shutil.copytree(fake_run / "stage_bsl", stage)
    net = build_model({"kind": "multilabel", "backbone": "tiny", "image_size": 32}, seed=0).eval()
    save_checkpoint(stage / "checkpoint.pt", model_payload(net, stage="bsl", epoch=0, config={}))
    (stage / "heatmaps.npy").unlink()  # not needed for a gradient source
    res = CliRunner().invoke(app, ["evaluate", str(index), "--stage", str(stage), "--heatmap", "gradcampp",
                                   "--out", str(tmp_path / "eval"), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    loc = pd.read_csv(tmp_path / "eval" / "localization.csv")
    assert (loc["heatmap"] == "gradcampp").all() and loc["gt"].iloc[-1] > 0
    assert (pd.read_csv(tmp_path / "eval" / "maxboxacc.csv")["heatmap"] == "gradcampp").all()
    test = load_test_set(index)
    ids, maps = checkpoint_heatmaps(stage, test, "gradcam", "cpu")
    cache = ImageCache.open(test.source)
    x = torch.from_numpy(np.stack([cache.get(cache.row_of(i)) for i in ids])).float().div_(255.0)[:, None]
    _, ref = gradient_cams(net, x, "gradcam")
    assert sorted(ids) == sorted(test.gt["image_id"].unique()) and np.allclose(maps, ref.numpy(), atol=1e-6)


def test_evaluate_regression_maps_of_a_two_path_stage_and_a_clean_error_for_bsl(fake_run: Path, tmp_path: Path) -> None:
    from agcl.data.cache import ImageCache
    from agcl.evaluation.inputs import load_test_set
    from agcl.evaluation.recomputed import checkpoint_heatmaps
    from agcl.models import build_model, forward_with_cams, forward_with_regression
    from agcl.train.checkpoint import model_payload, save_checkpoint

    index = fake_run.parent / "index"
    test = load_test_set(index)
    cache = ImageCache.open(test.source)
    for design in ("separate", "tied"):
        stage = tmp_path / f"stage_{design}"
        shutil.copytree(fake_run / "stage_bsl", stage)
        net = build_model({"kind": "two_path", "backbone": "tiny", "image_size": 32, "regression": design}, seed=1).eval()
        if design == "tied":
            net.regressor.set_affine(np.full(14, 0.5), np.full(14, 0.25))
        save_checkpoint(stage / "checkpoint.pt", model_payload(net, stage="agl", epoch=0, config={}))
        res = CliRunner().invoke(app, ["evaluate", str(index), "--stage", str(stage), "--heatmap", "regression",
                                       "--out", str(tmp_path / f"eval_{design}"), "--device", "cpu"])
        assert res.exit_code == 0, res.output
        assert (pd.read_csv(tmp_path / f"eval_{design}" / "localization.csv")["heatmap"] == "regression").all()
        ids, maps = checkpoint_heatmaps(stage, test, "regression", "cpu")
        x = torch.from_numpy(np.stack([cache.get(cache.row_of(i)) for i in ids])).float().div_(255.0)[:, None]
        _, ref = forward_with_regression(net, x, frame="image")
        np.testing.assert_allclose(maps, ref.numpy(), atol=1e-6)
        _, cams = forward_with_cams(net, x, frame="image")
        if design == "tied":  # Ĥ = a·CAM + b, also in the image frame (the alignment is linear)
            np.testing.assert_allclose(maps, 0.5 * cams.numpy() + 0.25, atol=1e-5)
        else:
            assert not np.allclose(maps, cams.numpy(), atol=1e-3)
    bsl = tmp_path / "stage_bsl"
    shutil.copytree(fake_run / "stage_bsl", bsl)
    net = build_model({"kind": "multilabel", "backbone": "tiny", "image_size": 32}, seed=0)
    save_checkpoint(bsl / "checkpoint.pt", model_payload(net, stage="bsl", epoch=0, config={}))
    res = CliRunner().invoke(app, ["evaluate", str(index), "--stage", str(bsl), "--heatmap", "regression",
                                   "--out", str(tmp_path / "eval_bsl"), "--device", "cpu"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    errors = [x for x in res.output.splitlines() if x.startswith("error: ")]
    assert len(errors) == 1 and "--heatmap regression needs a two-path checkpoint" in errors[0] and "multilabel" in errors[0]
    assert not (tmp_path / "eval_bsl" / "localization.csv").exists()
