"""End-to-end pipeline runs on a tiny synthetic NIH-like dataset (tiny backbone, 32 px, 1 epoch/stage)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from agcl.errors import ConfigError
from agcl.labels import LABELS
from agcl.pipeline.driver import load_pipeline_config, run_pipeline

from . import synthetic

# The tiny dataset has 3 of 14 classes: AUC is undefined for the others (NaN + warning by design).
pytestmark = pytest.mark.filterwarnings("ignore:AUC undefined")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return synthetic.build(tmp_path_factory.mktemp("synth"))


MODEL_STAGES = ("bsl", "agl", "agcl_1", "agcl_2")


def test_full_run_writes_every_artifact_and_resumes_as_noop(synth, tmp_path):
    cfg = load_pipeline_config(None, synthetic.tiny_config(synth, rounds=2))
    run = tmp_path / "run"
    summaries = run_pipeline(cfg, run)
    assert (run / "config.yaml").is_file() and (run / "metrics.jsonl").is_file() and (run / "tb").is_dir()
    for name in MODEL_STAGES:
        sd = run / f"stage_{name}"
        for f in ("DONE", "checkpoint.pt", "predictions.csv", "heatmaps.npy", "heatmaps_ids.csv", "boxes.csv"):
            assert (sd / f).is_file(), f"{sd}/{f}"
        assert not (sd / "last.pt").exists()
    for k in (1, 2):
        cur = run / f"stage_curriculum_r{k}"
        assert (cur / "DONE").is_file()
        for lab in synthetic.CLASSES:
            for f in ("DONE", "val_scores.csv", "train_scores.csv", "train_cams.npy", "fit/checkpoint.pt"):
                assert (cur / lab / f).is_file()
        sd = run / f"stage_seeds_r{k}"
        for f in ("DONE", "seeds.csv", "seed_maps.npy", "provenance.json", "counts.csv", "diagnostics.csv"):
            assert (sd / f).is_file()
    for f in ("DONE", "auc.csv", "localization.csv", "summary.md", "seeds.csv"):
        assert (run / "eval" / f).is_file()

    # seeds: provenance columns, maps aligned, rounds only add seeds, t chosen on val (in provenance)
    s1 = pd.read_csv(run / "stage_seeds_r1" / "seeds.csv", dtype={"image_id": str})
    s2 = pd.read_csv(run / "stage_seeds_r2" / "seeds.csv", dtype={"image_id": str})
    assert list(s1.columns) == ["image_id", "label", "rule", "iteration", "prob"]
    assert len(np.load(run / "stage_seeds_r2" / "seed_maps.npy")) == len(s2)
    assert set(zip(s1.image_id, s1.label, strict=True)) <= set(zip(s2.image_id, s2.label, strict=True))
    assert set(s1.rule) <= {"S1", "S2"} and (s1.rule == "S1").any()
    images = pd.read_csv(synth["index"] / "images.csv", dtype={"image_id": str}).set_index("image_id")
    assert (images.loc[s2.image_id, "split"] == "train").all()  # seeds are training images only
    prov = json.loads((run / "stage_seeds_r1" / "provenance.json").read_text())
    assert all(v["t"] is None or v["t"] >= 0.5 for v in prov["labels"].values())

    auc = pd.read_csv(run / "eval" / "auc.csv")
    assert list(dict.fromkeys(auc["model"])) == ["BSL", "AGL", "AGCL-1", "AGCL-2", "uniform", "centre"]
    md = (run / "eval" / "summary.md").read_text()
    assert "Table 1" in md and "Table 2" in md and "Seeds per round" in md and "No severity" not in md
    assert summaries["eval"]["severity_table"] is True

    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file() and p.name != "pipeline.log"}
    run_pipeline(cfg, run)  # everything DONE: nothing is rewritten except config.yaml (same content)
    after = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file() and p.name != "pipeline.log"}
    records = ("config.yaml", "environment.json")  # environment.json gains one entry per invocation
    changed = [p for p in before if before[p] != after.get(p) and p.name not in records]
    assert changed == []


def test_without_severity_degrades_to_agl_like_seeds(synth, tmp_path, caplog):
    cfg = load_pipeline_config(None, synthetic.tiny_config(synth, rounds=1, severity=False,
                                                             extra=("refine.agl=false",)))
    with caplog.at_level("WARNING", logger="agcl"):
        run_pipeline(cfg, tmp_path / "run")
    run = tmp_path / "run"
    seeds = pd.read_csv(run / "stage_seeds_r1" / "seeds.csv")
    assert not (seeds["rule"] == "S1").any()  # S1 is empty without grades
    for lab in synthetic.CLASSES:
        summary = json.loads((run / "stage_curriculum_r1" / lab / "summary.json").read_text())
        assert [s["grades"] for s in summary["stages"]] == [["none"]]  # one stage with all positives
    assert "No severity table" in (run / "eval" / "summary.md").read_text()
    assert any("NO SEVERITY TABLE" in r.getMessage() for r in caplog.records)
    assert list(dict.fromkeys(pd.read_csv(run / "eval" / "auc.csv")["model"])) == ["BSL", "AGCL-1", "uniform",
                                                                                   "centre"]


def test_changed_config_is_refused_on_resume(synth, tmp_path):
    cfg = load_pipeline_config(None, synthetic.tiny_config(synth, rounds=0, extra=("refine.agl=false",)))
    run_pipeline(cfg, tmp_path / "run", only=["bsl"])
    other = load_pipeline_config(None, synthetic.tiny_config(synth, rounds=0, extra=("refine.agl=false",
                                                                                     "optim.lr=0.5")))
    with pytest.raises(ConfigError, match="optim.lr"):
        run_pipeline(other, tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").glob("stage_*")) == ["stage_bsl"]
    assert len(LABELS) == 14


def test_seed_selection_never_reads_test_images(synth, tmp_path, monkeypatch):
    """Curriculum scoring, t and seed choice (AGL and AGCL) read train/val pixels only."""
    from agcl.data.cache import ImageCache

    cfg = load_pipeline_config(None, synthetic.tiny_config(synth, rounds=1))
    run = tmp_path / "run"
    run_pipeline(cfg, run, only=["bsl"])  # BSL writes its test predictions: that is evaluation, not selection
    images = pd.read_csv(synth["index"] / "images.csv", dtype={"image_id": str})
    test_rows = set(np.flatnonzero(images["split"].to_numpy() == "test").tolist())
    read: list[int] = []
    original = ImageCache.get

    def spy(self, row):
        read.append(int(row))
        return original(self, row)

    monkeypatch.setattr(ImageCache, "get", spy)
    run_pipeline(cfg, run, only=["seeds_agl", "seeds_r1"])
    assert read and not (set(read) & test_rows)
    val_rows = set(np.flatnonzero(images["split"].to_numpy() == "val").tolist())
    assert set(read) & val_rows  # t is chosen on validation scores


def test_dataset_without_boxes_or_truth_still_evaluates_auc(tmp_path):
    paths = synthetic.build(tmp_path / "data", n=60, test_boxes=False)
    sets = [s for s in synthetic.tiny_config(paths, rounds=1, extra=("refine.agl=false",))
            if not s.startswith("source.truth_boxes")]
    run_pipeline(load_pipeline_config(None, sets), tmp_path / "run")
    auc = pd.read_csv(tmp_path / "run" / "eval" / "auc.csv")
    assert auc["auc"].notna().any()
    assert not (tmp_path / "run" / "stage_seeds_r1" / "diagnostics.csv").exists()  # no truth: skipped
    assert np.load(tmp_path / "run" / "stage_agcl_1" / "heatmaps.npy").shape[0] == 0
