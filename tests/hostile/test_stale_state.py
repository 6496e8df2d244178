"""Stale state: a re-indexed folder keeps an old cache; stage outputs of another index; evaluation
must refuse both (fingerprint chain index -> cache -> stage outputs -> evaluation)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from agcl.evaluation.artifacts import write_heatmaps, write_predictions
from agcl.labels import LABELS

from .clirun import agcl, clean_error
from .conftest import CACHE, N


def test_evaluate_refuses_cache_of_previous_index(phantom: Path, tmp_path: Path, caplog) -> None:
    from agcl.data.phantom import synthesize

    bigger = tmp_path / "bigger"  # same image ids, another resolution
    synthesize(bigger, n=N, size=128, seed=0)
    ix = tmp_path / "ix"
    assert agcl("index", phantom, "--out", ix).exit_code == 0
    assert agcl("prepare", ix, "--size", CACHE, "--workers", 1).exit_code == 0
    with caplog.at_level(logging.WARNING):
        assert agcl("index", bigger, "--out", ix).exit_code == 0
    assert f"cache_{CACHE}" in caplog.text and "agcl prepare" in caplog.text  # index says the cache is stale
    res = agcl("evaluate", ix, "--control", "centre", "--out", tmp_path / "eval")
    clean_error(res, f"cache_{CACHE}", "agcl prepare")
    assert not (tmp_path / "eval").exists()
    # re-preparing rebuilds the cache for the new index, and evaluation runs again
    assert agcl("prepare", ix, "--size", CACHE, "--workers", 1).exit_code == 0
    assert agcl("evaluate", ix, "--control", "centre", "--out", tmp_path / "eval").exit_code == 0


def test_reindexing_the_same_source_keeps_the_cache(indexed: Path, phantom: Path, tmp_path: Path) -> None:
    ix = tmp_path / "ix"
    shutil.copytree(indexed, ix)
    assert agcl("index", phantom, "--out", ix).exit_code == 0  # same input -> same fingerprint
    assert agcl("evaluate", ix, "--control", "centre", "--out", tmp_path / "eval").exit_code == 0


def _stage(index_dir: Path, stage: Path, fingerprint: str) -> Path:
    images = pd.read_csv(index_dir / "images.csv", dtype={"image_id": str})
    test = images.loc[images["split"] == "test", "image_id"].tolist()
    write_predictions(stage, test, np.full((len(test), len(LABELS)), 0.5))
    write_heatmaps(stage, test, np.ones((len(test), len(LABELS), 4, 4), np.float32))
    (stage / "DONE").write_text(json.dumps({"index_fingerprint": fingerprint}))
    return stage


def test_evaluate_refuses_stage_outputs_of_another_index(indexed: Path, tmp_path: Path) -> None:
    from agcl.fingerprints import index_fingerprint

    good = _stage(indexed, tmp_path / "run" / "stage_good", index_fingerprint(indexed))
    assert agcl("evaluate", indexed, "--stage", good, "--out", tmp_path / "ok").exit_code == 0
    summary = json.loads((tmp_path / "ok" / "summary.json").read_text())
    assert index_fingerprint(indexed) in json.dumps(summary)  # the evaluation records what it was built from
    old = _stage(indexed, tmp_path / "run" / "stage_old", "0" * 40)
    res = agcl("evaluate", indexed, "--stage", old, "--out", tmp_path / "eval")
    clean_error(res, "stage_old", "agcl run")
    assert not (tmp_path / "eval").exists()


def test_run_refuses_finished_stages_of_another_index(indexed: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "stage_bsl").mkdir(parents=True)
    (run / "stage_bsl" / "DONE").write_text(json.dumps({"index_fingerprint": "0" * 40}))
    res = agcl("run", "--run-dir", run, "--set", f"data.index_dir={indexed}", "--set", "data.image_size=32")
    clean_error(res, "stage_bsl", "agcl run")
    assert not (run / "stage_curriculum_r1").exists()
