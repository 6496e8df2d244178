"""``agcl evaluate --heatmap gradcam|gradcampp`` end to end on the fake run's index and cache, with a
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
    from agcl.evaluation.gradient import gradient_heatmaps
    from agcl.evaluation.inputs import load_test_set
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
    ids, maps = gradient_heatmaps(stage, test, "gradcam", "cpu")
    cache = ImageCache.open(test.source)
    x = torch.from_numpy(np.stack([cache.get(cache.row_of(i)) for i in ids])).float().div_(255.0)[:, None]
    _, ref = gradient_cams(net, x, "gradcam")
    assert sorted(ids) == sorted(test.gt["image_id"].unique()) and np.allclose(maps, ref.numpy(), atol=1e-6)
