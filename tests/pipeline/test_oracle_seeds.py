"""The oracle-seed builder of study harnesses (benchmarks/oracle_seeds.py): truth boxes of training images
painted on the feature grid, written as a harvest-format seed stage that the refine stage trains on — and
the guarantee that nothing shipped ever reads truth into training."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agcl.labels import LABELS
from agcl.pipeline.driver import build_stages, load_pipeline_config, make_context

from . import synthetic

pytestmark = pytest.mark.filterwarnings("ignore:AUC undefined")

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("oracle_seeds", ROOT / "benchmarks" / "oracle_seeds.py")
oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oracle)


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return synthetic.build(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="module")
def bsl_checkpoint(make_checkpoint) -> Path:
    return make_checkpoint(32)


def _ctx(synth: dict, run: Path, *extra: str):
    return make_context(load_pipeline_config(None, synthetic.tiny_config(synth, extra=extra)), run)


def test_box_coverage_known_answer():
    # stride 8, cell centre 0.5 (tiny/ResNet): cell j spans [8j − 3.5, 8j + 4.5)
    cov = oracle.box_coverage(np.array([[4.5, 4.5, 12.5, 8.5]]), (4, 4), 8, 0.5)
    expected = np.zeros((4, 4), np.float32)
    expected[1, 1] = 0.5  # full width of column 1, half the height of row 1
    np.testing.assert_allclose(cov, expected)
    two = oracle.box_coverage(np.array([[4.5, 4.5, 12.5, 8.5], [0.0, 0.0, 32.0, 6.5]]), (4, 4), 8, 0.5)
    # several boxes: the larger coverage; cell 0 reaches 3.5 px into the padding, so it is never covered fully
    assert two[1, 1] == pytest.approx(0.5) and two[1, 3] == pytest.approx(0.25)
    assert two[0, 0] == pytest.approx((4.5 / 8) ** 2) and two[0, 3] == pytest.approx(4.5 / 8)
    # TF-SAME geometry (EfficientNet-Lite, centre = stride − 0.5): cell j spans [8j + 3.5, 8j + 11.5)
    lite = oracle.box_coverage(np.array([[3.5, 3.5, 11.5, 7.5]]), (4, 4), 8, 7.5)
    expected = np.zeros((4, 4), np.float32)
    expected[0, 0] = 0.5
    np.testing.assert_allclose(lite, expected)
    assert oracle.box_coverage(np.zeros((0, 4)), (3, 5), 16, 15.5).shape == (3, 5)


def test_only_training_images_of_the_chosen_severities(synth, tmp_path):
    ctx = _ctx(synth, tmp_path / "run")
    lesions = oracle.read_lesions(synth["truth"])
    extra = lesions.iloc[:1].assign(image_id="not_an_image.png", severity="severe")
    lesions = pd.concat([lesions, extra], ignore_index=True)
    splits = ctx.images.set_index(ctx.images["image_id"].astype(str))["split"]
    seeds, maps, prov = oracle.oracle_seeds(lesions, splits, ctx.source_sizes, 32, (4, 4), ctx.feature_geometry())
    assert len(seeds) > 0 and maps.shape == (len(seeds), 4, 4)
    assert set(splits[seeds["image_id"]]) == {"train"} and set(seeds["rule"]) == {"oracle"}
    sel = lesions[lesions["severity"].isin(["severe", "moderate"])]
    sp = sel["image_id"].map(splits)
    assert prov["dropped_rows"] == {"not_in_index": 1, "val": int((sp == "val").sum()), "test": int((sp == "test").sum())}
    assert prov["dropped_rows"]["val"] > 0 and prov["dropped_rows"]["test"] > 0 and prov["rule"] == "oracle"
    train_keys = set(zip(sel["image_id"][sp == "train"], sel["label"][sp == "train"], strict=True))
    assert set(zip(seeds["image_id"], seeds["label"], strict=True)) == train_keys
    assert ((maps >= 0) & (maps <= 1)).all() and (maps.reshape(len(maps), -1).max(axis=1) > 0).all()
    severe = oracle.oracle_seeds(lesions, splits, ctx.source_sizes, 32, (4, 4), ctx.feature_geometry(), ["severe"])[0]
    assert 0 < len(severe) < len(seeds)
    # the map of a seed: its truth box (original pixels, 64 px images) in the 32-px frame, painted in cells
    row = seeds.iloc[0]
    box = lesions[(lesions.image_id == row.image_id) & (lesions.label == row.label)][["x0", "y0", "x1", "y1"]]
    np.testing.assert_allclose(maps[0], oracle.box_coverage(box.to_numpy() * 0.5, (4, 4), 8, 0.5))


def test_cli_writes_a_harvest_format_stage(synth, tmp_path, capsys):
    from agcl.pipeline.seedmaps import read_seeds
    from agcl.pipeline.stages import read_done

    out = tmp_path / "run" / "stage_seeds_oracle"
    sets = [a for s in synthetic.tiny_config(synth) for a in ("--set", s)]
    assert oracle.main([*sets, "--lesions", str(synth["truth"]), "--out", str(out)]) == 0
    seeds, maps = read_seeds(out)
    assert list(seeds.columns) == ["image_id", "label", "rule", "iteration", "prob"]
    assert maps.dtype == np.float16 and maps.shape[1:] == (4, 4) and len(maps) == len(seeds) > 0
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["rule"] == "oracle" and prov["grid"] == [4, 4] and prov["lesions"] == str(synth["truth"])
    counts = pd.read_csv(out / "counts.csv")
    assert list(counts.columns) == ["label", "S1", "S2", "AGL", "oracle", "total"] and counts["oracle"].sum() == len(seeds)
    assert read_done(out)["index_fingerprint"] == _ctx(synth, tmp_path / "run").index.fingerprint
    assert oracle.main([*sets, "--lesions", str(synth["truth"]), "--out", str(out)]) == 2  # finished: refused
    assert "already holds a finished seed stage" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("image_id,label,severity,x0,y0,x1,y1\n00000_000.png,Lung Tumour,severe,1,1,2,2\n")
    assert oracle.main([*sets, "--lesions", str(bad), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.csv row 2" in err and not (tmp_path / "o2" / "seeds.csv").exists()


@pytest.mark.parametrize("design", ["separate", "tied"])
def test_refine_stage_trains_on_oracle_seeds(synth, bsl_checkpoint, tmp_path, design):
    import torch

    from agcl.pipeline.refine import run_refine
    from agcl.train.checkpoint import load_checkpoint

    run = tmp_path / "run"
    seeds_dir = run / "stage_seeds_oracle"
    sets = [a for s in synthetic.tiny_config(synth) for a in ("--set", s)]
    assert oracle.main([*sets, "--lesions", str(synth["truth"]), "--out", str(seeds_dir)]) == 0
    ctx = _ctx(synth, run, f"model.regression={design}")
    sdir = run / "stage_oracle"
    sdir.mkdir(parents=True)
    summary = run_refine(ctx, sdir, "oracle", seeds_dir, bsl_checkpoint)
    n_seeds = len(pd.read_csv(seeds_dir / "seeds.csv"))
    n_images = pd.read_csv(seeds_dir / "seeds.csv")["image_id"].nunique()
    assert summary["seeds"] == n_seeds and summary["seed_images"] == n_images and summary["regression"] == design
    state = load_checkpoint(sdir / "checkpoint.pt", expect_kind="two_path")
    assert state["model_spec"]["regression"] == design
    if design == "tied":
        assert summary["tied_init_images"] == n_images
        assert torch.isfinite(state["model"]["regressor.log_scale"]).all()
        assert not torch.equal(state["model"]["regressor.shift"], torch.zeros(len(LABELS)))  # moment-matched
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    epoch = [e for e in events if e["stage"] == "oracle" and e["event"] == "epoch"][-1]
    assert epoch["train/reg"] > 0 and epoch["train/reg_weighted"] == pytest.approx(0.005 * 256 / 16 * epoch["train/reg"])
    assert epoch["train/reg_ratio"] == pytest.approx(epoch["train/reg_weighted"] / epoch["train/cls"])
    assert (sdir / "heatmaps.npy").is_file() and (sdir / "boxes.csv").is_file()


# --- nothing shipped reads truth into training ---------------------------------------------------------

def _shipped_configs() -> list[Path]:
    return sorted((ROOT / "configs").glob("*.yaml")) + sorted((ROOT / "src" / "agcl" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("config", _shipped_configs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_configs_build_a_dag_without_oracle_seeds(synth, tmp_path, config, monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("the oracle builder was called")

    for name in ("oracle_seeds", "write_oracle_stage", "read_lesions", "box_coverage", "main"):
        monkeypatch.setattr(oracle, name, refuse)
    before = {m for m in sys.modules if "oracle" in m}
    cfg = load_pipeline_config(config, [f"data.index_dir={synth['index']}", f"source.truth_boxes={synth['truth']}",
                                        "source.raw_dir="])
    stages = build_stages(make_context(cfg, tmp_path / "run"))
    assert stages and not any("oracle" in s.name for s in stages)
    assert {m for m in sys.modules if "oracle" in m} == before
    assert not any("oracle" in line.lower() for line in config.read_text().splitlines())


def _modules() -> list[Path]:
    return sorted((ROOT / "src" / "agcl").rglob("*.py"))


def test_no_shipped_module_imports_the_oracle_builder():
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith("benchmarks") or "oracle" in n for n in names), f"{path}: imports {names}"
        assert "oracle_seeds" not in path.read_text(encoding="utf-8"), path


def test_truth_boxes_reach_the_seed_diagnostics_only():
    """Every read of the configured truth (``source.truth_boxes``, ``ctx.truth``, ``load_truth``) is in the
    context's loader, in the preflight checks (which read the file and discard it) or in the harvest stages'
    diagnostics step, and there truth goes into diagnostics calls only."""
    where = set()
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            for node in ast.walk(fn):
                hit = ((isinstance(node, ast.Attribute) and node.attr in ("truth", "truth_boxes"))
                       or (isinstance(node, ast.Name) and node.id == "load_truth"))
                if hit:
                    where.add((path.relative_to(ROOT / "src" / "agcl").as_posix(), fn.name))
    assert where == {("pipeline/context.py", "truth"), ("pipeline/harvest.py", "_finish"),
                     ("pipeline/preflight.py", "run_inputs"), ("pipeline/preflight.py", "preflight")}, where
    preflight = ast.parse((ROOT / "src" / "agcl" / "pipeline" / "preflight.py").read_text(encoding="utf-8"))
    calls = [n for n in ast.walk(preflight) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
             and n.func.id == "load_truth"]
    discarded = [n.value for n in ast.walk(preflight) if isinstance(n, ast.Expr)]
    assert calls and all(c in discarded for c in calls)  # checked, never kept
    harvest = ast.parse((ROOT / "src" / "agcl" / "pipeline" / "harvest.py").read_text(encoding="utf-8"))
    finish = next(n for n in ast.walk(harvest) if isinstance(n, ast.FunctionDef) and n.name == "_finish")
    parents = {child: node for node in ast.walk(finish) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(finish):
        if isinstance(node, ast.Name) and node.id == "truth" and isinstance(node.ctx, ast.Load):
            up = parents[node]
            in_test = isinstance(up, ast.Compare)
            in_diag = (isinstance(up, ast.Call) and isinstance(up.func, ast.Attribute)
                       and isinstance(up.func.value, ast.Name) and up.func.value.id == "diagnostics")
            assert in_test or in_diag, ast.unparse(up)


def test_seed_selection_is_the_same_with_and_without_truth(synth, bsl_checkpoint, tmp_path):
    from agcl.pipeline.harvest import run_seeds_agl

    out = {}
    for name, extra in (("with", ()), ("without", ("source.truth_boxes=",))):
        ctx = _ctx(synth, tmp_path / name, "seeds.rule=quantile", "seeds.target=0.3", *extra)
        sdir = tmp_path / name / "stage_seeds_agl"
        sdir.mkdir(parents=True)
        run_seeds_agl(ctx, sdir, bsl_checkpoint)
        out[name] = (pd.read_csv(sdir / "seeds.csv"), np.load(sdir / "seed_maps.npy"), sdir)
    assert len(out["with"][0]) > 0
    pd.testing.assert_frame_equal(out["with"][0], out["without"][0])
    np.testing.assert_array_equal(out["with"][1], out["without"][1])
    assert (out["with"][2] / "diagnostics.csv").is_file() and not (out["without"][2] / "diagnostics.csv").is_file()
