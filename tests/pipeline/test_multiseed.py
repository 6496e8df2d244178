"""Several training seeds (agcl run --seeds, agcl compare) and the matched control BSL+ on the tiny synthetic data."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from typer.testing import CliRunner

from agcl.cli import app
from agcl.errors import ConfigError
from agcl.pipeline.compare_runs import compare_runs
from agcl.pipeline.driver import load_pipeline_config, run_pipeline
from agcl.pipeline.multiseed import run_training_seeds

from . import synthetic

pytestmark = pytest.mark.filterwarnings("ignore:AUC undefined")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return synthetic.build(tmp_path_factory.mktemp("synth"))


def _weights(stage) -> dict[str, torch.Tensor]:
    state = torch.load(stage / "checkpoint.pt", weights_only=True)["model"]
    return {k: v for k, v in state.items() if k.startswith(("backbone.", "fc.")) and v.dtype.is_floating_point}


def test_control_is_the_refinement_at_lambda_zero(synth, tmp_path):
    """Same start (BSL) and data order (seeded augmentation): BSL+ ends with exactly the weights of an AGL
    fit at λ = 0, which trains on seed targets that λ = 0 switches off."""
    extra = ("refine.control=true", "refine.lam=0", "data.augment=light", "refine_train.max_epochs=2")
    run = tmp_path / "run"
    run_pipeline(load_pipeline_config(None, synthetic.tiny_config(synth, rounds=0, extra=extra)), run,
                 only=["agl", "bsl_plus"])
    agl, plus, bsl = (_weights(run / f"stage_{s}") for s in ("agl", "bsl_plus", "bsl"))
    done = json.loads((run / "stage_agl" / "DONE").read_text())
    assert done["seeds"] > 0 and done["lam"] == 0.0  # AGL really trained with seed targets
    assert json.loads((run / "stage_bsl_plus" / "DONE").read_text())["seeds"] == 0
    assert agl.keys() == plus.keys() and all(torch.equal(agl[k], plus[k]) for k in agl)
    assert any(not torch.equal(plus[k], bsl[k]) for k in bsl)  # ... and both moved away from BSL
    # the same AGL at λ > 0 from the same BSL and seeds does not end where BSL+ does
    other = tmp_path / "lam"
    for stage in ("stage_bsl", "stage_seeds_agl"):
        shutil.copytree(run / stage, other / stage)
    extra = ("refine.control=true", "refine.lam=0.05", "data.augment=light", "refine_train.max_epochs=2")
    run_pipeline(load_pipeline_config(None, synthetic.tiny_config(synth, rounds=0, extra=extra)), other, only=["agl"])
    moved = _weights(other / "stage_agl")
    assert any(not torch.equal(moved[k], plus[k]) for k in plus)


@pytest.fixture(scope="module")
def seeds_run(synth, tmp_path_factory):
    parent = tmp_path_factory.mktemp("multi") / "run"
    cfg = load_pipeline_config(None, synthetic.tiny_config(synth, rounds=1, extra=("refine.control=true",
                                                                                   "eval.bootstrap=30")))
    out = run_training_seeds(cfg, parent, [0, 1], n_boot=30).compare
    return cfg, parent, out


def test_each_seed_is_a_full_run_on_the_shared_data(seeds_run):
    _, parent, out = seeds_run
    assert out == parent / "compare"
    assert json.loads((parent / "multiseed.json").read_text())["runs"] == ["seed_0", "seed_1"]
    configs = [yaml.safe_load((parent / f"seed_{k}" / "config.yaml").read_text()) for k in (0, 1)]
    assert [c["runtime"]["seed"] for c in configs] == [0, 1]
    assert configs[0]["data"] == configs[1]["data"] and configs[0]["source"] == configs[1]["source"]
    for run in (parent / "seed_0", parent / "seed_1"):
        assert (run / "stage_bsl_plus" / "DONE").is_file() and (run / "eval" / "paired.csv").is_file()
        auc = pd.read_csv(run / "eval" / "auc.csv")
        assert list(dict.fromkeys(auc["model"])) == ["BSL", "BSL+", "AGL", "AGCL-1", "uniform", "centre"]
    a, b = (pd.read_csv(parent / f"seed_{k}" / "stage_bsl" / "predictions.csv") for k in (0, 1))
    assert not np.allclose(a.iloc[:, 1:].to_numpy(), b.iloc[:, 1:].to_numpy())  # the seeds really differ
    env = json.loads((parent / "seed_0" / "environment.json").read_text())["invocations"][-1]
    assert env["machine"]["cpu_model"] and env["torch"]["version"] == torch.__version__
    assert env["torch"]["num_threads"] >= 1 and "blas" in env["numpy"]["build"]
    assert "BLAS" in env["torch"]["build_config"] or "blas" in env["torch"]["build_config"].lower()


def test_compare_aggregates_the_seeds(seeds_run):
    _, parent, out = seeds_run
    per = [pd.read_csv(parent / f"seed_{k}" / "eval" / "auc.csv").query("label == 'Mean'").set_index("model")["auc"]
           for k in (0, 1)]
    over = pd.read_csv(out / "overview.csv").set_index("model")
    for model in ("BSL", "AGCL-1", "uniform"):
        vals = [p[model] for p in per]
        assert over.loc[model, "auc_mean"] == pytest.approx(np.mean(vals), abs=1e-6)
        assert over.loc[model, "auc_sd"] == pytest.approx(np.std(vals, ddof=1), abs=1e-6)
    assert (over["n_seeds"] == 2).all() and (over["training_seeds"] == "0 1").all()
    afp = [pd.read_csv(parent / f"seed_{k}" / "eval" / "localization.csv").query("label == 'Total'")
           .set_index("model")["afp"] for k in (0, 1)]
    for model in ("BSL", "uniform"):  # Wang's false boxes per image, beside recall
        assert over.loc[model, "afp_mean"] == pytest.approx(np.mean([a[model] for a in afp]), abs=1e-6)
    assert over.loc["uniform", "afp_mean"] > 0
    paired = pd.read_csv(out / "paired.csv")
    assert set(zip(paired["model"], paired["reference"], strict=True)) == {
        ("BSL+", "BSL"), ("AGL", "BSL"), ("AGCL-1", "BSL"), ("AGL", "BSL+"), ("AGCL-1", "BSL+")}
    row = paired.query("model == 'AGCL-1' and reference == 'BSL+' and metric == 'auc'").iloc[0]
    seed_diffs = [p["AGCL-1"] - p["BSL+"] for p in per]
    assert [row["seed_0"], row["seed_1"]] == pytest.approx(seed_diffs, abs=1e-5)
    assert row["diff"] == pytest.approx(np.mean(seed_diffs), abs=1e-5)
    assert row["ci_low"] <= row["ci_high"] and row["resamples"] == 30 and row["generator"] == "cam20"
    md = (out / "summary.md").read_text()
    assert "mean ± sd over seeds" in md and "AGCL-1 − BSL+:" in md and "training seeds 0, 1" in md
    assert "| Precision | AFP | Pointing |" in md and "false boxes per image" in md


def test_a_comparison_written_before_afp_still_prints(seeds_run, tmp_path):
    from agcl.pipeline.console import comparison_markdown, print_comparison

    _, _, out = seeds_run
    old = tmp_path / "compare"
    shutil.copytree(out, old)
    for name in ("overview.csv", "per_seed.csv"):
        df = pd.read_csv(old / name)
        df.drop(columns=[c for c in df.columns if c.startswith("afp")]).to_csv(old / name, index=False)
    text = print_comparison(old)
    assert "MaxBoxAcc" in text and "AFP" not in text.split("false boxes per image")[1]
    assert "Each seed" in comparison_markdown(old)


def test_rerun_resumes_without_training_and_compare_cli_prints_readings(seeds_run, synth, tmp_path):
    cfg, parent, out = seeds_run
    trained = {p: p.stat().st_mtime_ns for p in parent.rglob("checkpoint.pt")}
    before = pd.read_csv(out / "paired.csv")
    run_training_seeds(cfg, parent, [0, 1], n_boot=30)
    assert {p: p.stat().st_mtime_ns for p in parent.rglob("checkpoint.pt")} == trained
    assert len(json.loads((parent / "environment.json").read_text())["invocations"]) == 2  # a record per call
    sets = [x for s in synthetic.tiny_config(synth, rounds=1, extra=("refine.control=true", "eval.bootstrap=30"))
            for x in ("--set", s)]
    res = CliRunner().invoke(app, ["run", "--run-dir", str(parent), "--seeds", "0,1", *sets])  # resumes: done
    assert res.exit_code == 0, res.output
    assert "Table 1 — test AUC, mean ± sd over seeds" in res.output and "AGL − BSL+:" in res.output
    assert {p: p.stat().st_mtime_ns for p in parent.rglob("checkpoint.pt")} == trained
    bad = CliRunner().invoke(app, ["run", "--run-dir", str(tmp_path / "x"), "--seeds", "0,zero", *sets])
    assert bad.exit_code == 2 and "--seeds takes integers" in bad.output
    res = CliRunner().invoke(app, ["compare", str(parent), "--resamples", "30"])
    assert res.exit_code == 0, res.output
    assert "AGCL-1 − BSL+:" in res.output and "uniform" in res.output and "MaxBoxAcc" in res.output
    pd.testing.assert_frame_equal(pd.read_csv(out / "paired.csv"), before)  # same resamples, same numbers
    res = CliRunner().invoke(app, ["compare", str(parent / "seed_0"), str(parent / "seed_1")])
    assert res.exit_code == 2 and "--out is required" in res.output


def test_incomparable_runs_and_layouts_are_refused(seeds_run, synth, tmp_path):
    cfg, parent, _ = seeds_run
    with pytest.raises(ConfigError, match="share a training seed"):
        compare_runs([parent / "seed_0", parent / "seed_0"], tmp_path / "c")
    odd = tmp_path / "odd"
    shutil.copytree(parent / "seed_1", odd)
    conf = yaml.safe_load((odd / "config.yaml").read_text())
    conf["optim"]["lr"] = 0.5
    (odd / "config.yaml").write_text(yaml.safe_dump(conf))
    with pytest.raises(ConfigError, match="optim.lr"):
        compare_runs([parent / "seed_0", odd], tmp_path / "c")
    with pytest.raises(ConfigError, match="several training seeds"):
        run_pipeline(cfg, parent)
    with pytest.raises(ConfigError, match="single-seed run directory"):
        run_training_seeds(cfg, parent / "seed_0", [0, 1])


def test_report_of_several_seeds_has_the_forest_plot(seeds_run):
    _, parent, out = seeds_run
    res = CliRunner().invoke(app, ["report", str(parent)])
    assert res.exit_code == 0, res.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert (out / "figures" / "forest.png").stat().st_size > 1000
    assert "AGCL-1 − BSL+:" in page and "seed_0: finished" in page and "mean ± sd" in page
    assert page.count("data:image/png;base64,") == 1
    one = CliRunner().invoke(app, ["report", str(parent / "seed_0")])  # one seed: its own forest plot
    assert one.exit_code == 0, one.output
    single = (parent / "seed_0" / "eval" / "report.html").read_text(encoding="utf-8")
    assert 'id="paired"' in single and "one seed: the CI covers test-image sampling only" in single
    assert (parent / "seed_0" / "eval" / "figures" / "forest.png").is_file()


def test_demo_prints_the_seeds_or_says_one_seed_is_not_evidence(seeds_run, monkeypatch):
    """The demo's printout (the pipeline itself is replaced by the finished runs of the fixture)."""
    import agcl.pipeline.demo as demo

    _, parent, out = seeds_run
    timing = {"total": 60.0, "pipeline": 50.0}
    monkeypatch.setattr(demo, "run_demo", lambda *a, quick, **k: {"compare": None if quick else out,
                                                                   "timing": timing})
    full = CliRunner().invoke(app, ["demo", "--run-dir", str(parent)])
    assert full.exit_code == 0, full.output
    assert "mean ± sd over seeds" in full.output and "AGCL-1 − BSL+:" in full.output
    assert "not evidence" not in full.output
    quick = CliRunner().invoke(app, ["demo", "--quick", "--run-dir", str(parent / "seed_0")])
    assert quick.exit_code == 0, quick.output
    assert "AGCL-1 − BSL+:" in quick.output and "uniform" in quick.output and "Pointing" in quick.output
    assert "its differences between models are not evidence" in quick.output
    assert "One training seed: these intervals cover test-image sampling only" in quick.output
    both = CliRunner().invoke(app, ["demo", "--quick", "--seeds", "0,1"])
    assert both.exit_code == 2 and "--quick is one training seed" in both.output
