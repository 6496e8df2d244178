"""``agcl train`` end to end on a tiny index + cache: files written, resume/skip, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from agcl.cli import app
from agcl.labels import LABELS
from agcl.train.checkpoint import load_checkpoint

runner = CliRunner()
SETS = ["--set", "model.backbone=tiny", "--set", "model.pretrained=none", "--set", "data.image_size=32",
        "--set", "optim.max_epochs=2", "--set", "data.batch_size=4", "--set", "runtime.progress=false",
        "--set", "runtime.device=cpu"]


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 synthetic 48×48 PNGs indexed (train/val/test by patient) and cached at 32 px with the data tools."""
    from agcl.data.cache import prepare_cache
    from agcl.data.index import save_index

    root = tmp_path_factory.mktemp("tiny")
    (root / "images").mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(20):
        iid = f"{i:05d}_000.png"
        Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8), mode="L").save(root / "images" / iid)
        labels = {name: int(rng.random() < 0.3) for name in LABELS}
        rows.append({"image_id": iid, "path": f"images/{iid}", "patient_id": str(i), "follow_up": 0, "age": 50,
                     "sex": "M", "view": "PA", "meta_w": 48, "meta_h": 48, **labels,
                     "no_finding": int(not any(labels.values())), "split": "train" if i < 12 else "val" if i < 16 else "test"})
    index_dir = root / "index"
    save_index(index_dir, pd.DataFrame(rows), pd.DataFrame(columns=["image_id", "label", "x0", "y0", "x1", "y1"]),
               {"root": str(root), "source": "csv"})
    prepare_cache(index_dir, size=32, workers=1, progress=False)
    return index_dir


def test_train_writes_config_checkpoint_metrics_and_tensorboard(tiny_index: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--run-dir", str(run), "--set", f"data.index_dir={tiny_index}", *SETS])
    assert result.exit_code == 0, result.output
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["model"]["backbone"] == "tiny" and cfg["data"]["index_dir"] == str(tiny_index)
    ck = load_checkpoint(run / "stage_bsl" / "checkpoint.pt", expect_kind="multilabel")
    assert ck["stage"] == "bsl" and ck["model_spec"]["num_classes"] == 14 and len(ck["metrics"]["history"]) == 2
    from agcl.models import build_model

    build_model(ck["model_spec"], pretrained="none").load_state_dict(ck["model"])
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [0, 1] and all("val/loss" in e and "train/cls" in e for e in epochs)
    assert any((run / "tb" / "bsl").iterdir())
    assert sorted(p.name for p in (run / "stage_bsl").iterdir()) == ["checkpoint.pt"]

    again = runner.invoke(app, ["train", "--run-dir", str(run), "--set", f"data.index_dir={tiny_index}", *SETS])
    assert again.exit_code == 0 and len((run / "metrics.jsonl").read_text().splitlines()) == len(events)  # skipped
    fresh = runner.invoke(app, ["train", "--fresh", "--run-dir", str(run), "--set", f"data.index_dir={tiny_index}", *SETS])
    assert fresh.exit_code == 0, fresh.output
    assert len((run / "metrics.jsonl").read_text().splitlines()) == len(events)  # old events replaced


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "optim.lrr=1"], "unknown config key 'optim.lrr'; did you mean 'lr'?"),
        (["--set", "runtime.amp=fp61"], "did you mean 'fp16'?"),
        ([], "data.index_dir is not set"),
        (["--set", "data.index_dir=/nonexistent/idx"], "is not an agcl index"),
        (["--set", "runtime.device=cuda"], "cuda"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    import torch

    if "runtime.device=cuda" in args and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = runner.invoke(app, ["train", "--run-dir", str(tmp_path / "r"), *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r" / "stage_bsl").exists()
