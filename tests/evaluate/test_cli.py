"""``agcl evaluate`` end to end on tiny synthetic index/cache/stage files (a stage + both controls)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from agcl.cli import app
from agcl.evaluation.artifacts import write_heatmaps, write_predictions
from agcl.labels import LABEL_INDEX, LABELS

W, H, S, G = 200, 100, 64, 8  # original size (anisotropic), cache side, heatmap side


@pytest.fixture()
def tiny_eval(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    ids = [f"img{i:03d}.png" for i in range(n)]
    labels = (rng.random((n, 14)) < 0.3).astype(int)
    labels[:, 0] = np.arange(n) % 2  # both values present among test images
    images = pd.DataFrame(labels, columns=list(LABELS))
    images.insert(0, "image_id", ids)
    images["split"] = ["test"] * 30 + ["train"] * 10
    index = tmp_path / "index"
    index.mkdir()
    images.to_csv(index / "images.csv", index=False)
    boxes = pd.DataFrame({"image_id": ["img000.png", "img001.png", "img001.png", "img002.png", "img035.png"],
                          "label": ["Mass", "Mass", "Infiltrate", "Nodule", "Mass"],
                          "x0": [25.0, 100, 0, 50, 0], "y0": [12.5, 50, 0, 25, 0],
                          "x1": [75.0, 150, 50, 75, 10], "y1": [50.0, 87.5, 25, 50, 10]})
    boxes.to_csv(index / "boxes.csv", index=False)
    cache = index / f"cache_{S}"
    cache.mkdir()
    pd.DataFrame({"row": range(n), "image_id": ids, "width": W, "height": H}).to_csv(cache / "manifest.csv", index=False)
    (cache / "cache.json").write_text(json.dumps({"size": S, "n": n, "complete": True}))
    # a "perfect" stage: probabilities follow the labels, heatmaps painted on the GT boxes
    stage = tmp_path / "run" / "stage_bsl"
    test = images[images["split"] == "test"]
    probs = np.clip(test[list(LABELS)].to_numpy() * 0.8 + rng.random((30, 14)) * 0.1, 0, 1)
    write_predictions(stage, test["image_id"], probs)
    maps = np.zeros((30, 14, G, G), np.float32)
    row = {im: i for i, im in enumerate(test["image_id"])}
    for r in boxes.itertuples():
        if r.image_id in row:
            lab = "Infiltration" if r.label == "Infiltrate" else r.label
            c0, c1 = int(r.x0 * G / W), int(np.ceil(r.x1 * G / W))
            r0, r1 = int(r.y0 * G / H), int(np.ceil(r.y1 * G / H))
            maps[row[r.image_id], LABEL_INDEX[lab], r0:r1, c0:c1] = 5.0
    write_heatmaps(stage, test["image_id"], maps)
    return index, stage


def test_evaluate_stage_and_controls(tiny_eval):
    index, stage = tiny_eval
    res = CliRunner().invoke(app, ["evaluate", str(index), "--stage", str(stage), "--control", "uniform",
                                   "--control", "centre", "--generator", "cam20"])
    assert res.exit_code == 0, res.output
    out = stage.parent / "eval"
    for f in ("auc.csv", "localization.csv", "wang.csv", "iou.csv", "pointing.csv", "summary.json", "summary.md",
              "boxes_bsl.csv", "boxes_uniform.csv", "boxes_centre.csv"):
        assert (out / f).is_file(), f
    loc = pd.read_csv(out / "localization.csv").set_index(["model", "label"])
    assert loc.loc[("bsl", "Total"), "gt"] == 4  # the box on a train image is ignored
    assert loc.loc[("bsl", "Total"), "recall"] == 1.0 and loc.loc[("bsl", "Total"), "precision"] == 1.0
    assert (loc["generator"] == "cam20").all() and (loc["upsample_size"] == S).all()
    assert loc.loc[("uniform", "Total"), "detected"] == 4  # cam20: one box per evaluated map
    auc = pd.read_csv(out / "auc.csv").set_index(["model", "label"])
    assert auc.loc[("bsl", "Mean"), "auc"] > 0.95
    assert auc.loc[("centre", "Atelectasis"), "auc"] == 0.5
    md = (out / "summary.md").read_text()
    assert "Table 2" in md and "Detected bsl" in md and "Detected centre" in md and "generator=cam20" in md
    boxes = pd.read_csv(out / "boxes_bsl.csv")
    assert boxes["x1"].max() <= W and boxes["y1"].max() <= H


def test_evaluate_bad_input_is_one_line_error(tiny_eval, tmp_path):
    index, stage = tiny_eval
    preds = pd.read_csv(stage / "predictions.csv").iloc[1:]
    preds.to_csv(stage / "predictions.csv", index=False)
    res = CliRunner().invoke(app, ["evaluate", str(index), "--stage", str(stage)])
    assert res.exit_code == 2 and "no prediction for 1 test image" in res.output
    assert not (stage.parent / "eval").exists()
    res = CliRunner().invoke(app, ["evaluate", str(index), "--control", "unifrom", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "did you mean 'uniform'" in res.output


def test_evaluate_model_is_pure_and_upsample_after_exact(tiny_eval):
    from agcl.boxes.generators import BoxSettings
    from agcl.evaluation.artifacts import read_heatmaps, read_predictions
    from agcl.evaluation.core import EvalSettings, evaluate_model
    from agcl.evaluation.inputs import load_test_set

    index, stage = tiny_eval
    test = load_test_set(index)
    preds = read_predictions(stage)
    ids, maps = read_heatmaps(stage, mmap=False)
    copies = [test.images.copy(), preds.copy(), test.gt.copy(), test.sizes.copy(), maps.copy()]
    settings = EvalSettings(boxes=BoxSettings(generator="wang2017", upsample="after"))
    res = evaluate_model("m", test.images, preds, ids, maps, test.gt, test.sizes, settings)
    for before, after in zip(copies[:4], [test.images, preds, test.gt, test.sizes], strict=True):
        assert before.equals(after)
    assert np.array_equal(copies[4], maps)
    tot = res.localization.set_index("label").loc["Total"]
    # painted cells cover each GT box exactly or slightly more; both thresholds give the same box
    assert tot["detected"] == 8 and tot["tp"] == 8 and tot["recall"] == 1.0
    assert res.pointing.set_index("label").loc["Total", "accuracy"] == 1.0


def test_evaluate_requires_cache_manifest(tiny_eval):
    import shutil

    index, stage = tiny_eval
    shutil.rmtree(index / f"cache_{S}")
    res = CliRunner().invoke(app, ["evaluate", str(index), "--stage", str(stage)])
    assert res.exit_code == 2 and "agcl prepare" in res.output


def test_calibration_outputs_leave_the_main_tables_unchanged(tiny_eval, tmp_path):
    index, stage = tiny_eval
    on, off = tmp_path / "on", tmp_path / "off"
    for out, frac in ((on, "0.4"), (off, "0")):
        res = CliRunner().invoke(app, ["evaluate", str(index), "--stage", str(stage), "--out", str(out),
                                       "--calibration-fraction", frac])
        assert res.exit_code == 0, res.output
    for f in ("auc.csv", "localization.csv", "wang.csv", "iou.csv", "pointing.csv", "maxboxacc.csv", "boxes_bsl.csv"):
        assert (on / f).read_bytes() == (off / f).read_bytes(), f
    assert not (off / "calibration_split.csv").exists()
    split = pd.read_csv(on / "calibration_split.csv")
    assert sorted(split["image_id"]) == ["img000.png", "img001.png", "img002.png"]
    assert (split["part"] == "calibration").sum() == 1  # round(0.4 × 3) images, whole patients
    info = json.loads((on / "calibration.json").read_text())
    assert info["split"]["calibration_fraction"] == 0.4 and info["split"]["by"] == "patient"
    grid = pd.read_csv(on / "calibration_grid.csv")
    assert grid["selected"].sum() == 1 and set(grid["setting"]) == {"fixed", "grid"}
    calibrated = pd.read_csv(on / "calibrated.csv")
    assert set(calibrated["settings"]) == {"fixed", "calibrated"}
    assert (calibrated["t"] == 0.25).all() and (calibrated["heatmap"] == "cam").all() and (grid["criterion"] == "iobb").all()
    mba = pd.read_csv(on / "maxboxacc.csv").set_index(["model", "label"])
    assert mba.loc[("bsl", "Total"), "n"] == 4 and mba.loc[("bsl", "Total"), "maxboxacc_v2"] > 0.5
    curve = pd.read_csv(on / "maxboxacc_curve.csv")
    assert len(curve[(curve["model"] == "bsl") & (curve["label"] == "Total")]) == 2 * 3 * 100
    assert "MaxBoxAcc" in (on / "summary.md").read_text()


def test_evaluate_gradcam_source_needs_a_checkpoint(tiny_eval):
    index, stage = tiny_eval
    res = CliRunner().invoke(app, ["evaluate", str(index), "--stage", str(stage), "--heatmap", "gradcam"])
    assert res.exit_code == 2 and "checkpoint.pt not found" in res.output
    res = CliRunner().invoke(app, ["evaluate", str(index), "--stage", str(stage), "--heatmap", "gradcamm"])
    assert res.exit_code == 2 and "did you mean 'gradcam'" in res.output


def test_evaluate_bootstrap_writes_paired_differences(tiny_eval):
    from agcl.evaluation.auc import auc_table
    from agcl.evaluation.bootstrap import bootstrap_aucs, paired_difference

    index, stage = tiny_eval
    res = CliRunner().invoke(app, ["evaluate", str(index), "--stage", str(stage), "--control", "centre",
                                   "--bootstrap", "50", "--seed", "3", "--generator", "cam20"])
    assert res.exit_code == 0, res.output
    out = stage.parent / "eval"
    diff = pd.read_csv(out / "auc_diff.csv").set_index("label")
    assert (diff["model"] == "centre").all() and (diff["reference"] == "bsl").all()
    assert (diff["bootstrap"] == 50).all() and (diff["seed"] == 3).all()  # the table names its settings
    # recompute from the stage's inputs: the centre control scores 0.5 everywhere
    images = pd.read_csv(index / "images.csv")
    test = images[images["split"] == "test"]
    y = test[list(LABELS)].to_numpy()
    s = pd.read_csv(stage / "predictions.csv").set_index("image_id").loc[test["image_id"], list(LABELS)].to_numpy()
    flat = np.full_like(s, 0.5)
    samples = bootstrap_aucs(y, np.stack([flat, s]), 50, seed=3)
    pa, pb = (auc_table(y, x, LABELS)["auc"].to_numpy()[:-1] for x in (flat, s))
    want = paired_difference(pa, pb, samples[0], samples[1])
    np.testing.assert_allclose(diff["diff"].to_numpy(), want["diff"], atol=1e-5)
    np.testing.assert_allclose(diff["ci_low"].to_numpy(), want["ci_low"], atol=1e-5)
    assert diff.loc["Mean", "ci_high"] < 0  # a flat control is clearly worse than the near-perfect stage
    auc = pd.read_csv(out / "auc.csv")
    assert {"ci_low", "ci_high", "n_boot_valid"} <= set(auc.columns)
    md = (out / "summary.md").read_text()
    assert "AUC difference vs bsl (paired bootstrap" in md
    assert json.loads((out / "summary.json").read_text())["auc_diff"][0]["reference"] == "bsl"


@pytest.mark.parametrize("with_boxes", [True, False])
def test_pipeline_compare_reports_paired_differences(tiny_eval, with_boxes):
    from types import SimpleNamespace

    from agcl.pipeline.compare import run_compare
    from agcl.pipeline.settings import EvalConfig

    index, stage = tiny_eval
    if not with_boxes:  # Table 1 only: no GT box on a test image
        pd.read_csv(index / "boxes.csv").query("image_id == 'img035.png'").to_csv(index / "boxes.csv", index=False)
    other = stage.parent / "stage_agcl_1"
    preds = pd.read_csv(stage / "predictions.csv")
    preds[list(LABELS)] = preds[list(LABELS)].to_numpy()[::-1]  # a worse model
    write_predictions(other, preds["image_id"], preds[list(LABELS)].to_numpy())
    (other / "heatmaps.npy").write_bytes((stage / "heatmaps.npy").read_bytes())
    for f in stage.iterdir():
        if not (other / f.name).exists():
            (other / f.name).write_bytes(f.read_bytes())
    cfg = SimpleNamespace(eval=EvalConfig(generator="cam20", bootstrap=40), data=SimpleNamespace(image_size=S),
                          runtime=SimpleNamespace(seed=0))
    ctx = SimpleNamespace(cfg=cfg, index_dir=index, cache_dir=index / f"cache_{S}", severity=None)
    out = stage.parent / "eval"
    run_compare(ctx, out, [("BSL", stage), ("AGCL-1", other)], [])
    diff = pd.read_csv(out / "auc_diff.csv").query("model == 'AGCL-1'").set_index("label")
    assert (diff["reference"] == "BSL").all() and diff.loc["Mean", "diff"] < 0
    assert diff.loc["Mean", "ci_low"] <= diff.loc["Mean", "diff"] <= diff.loc["Mean", "ci_high"]
    assert "AUC difference vs BSL" in (out / "summary.md").read_text()
    # the one-seed paired table (all four metrics) agrees with Table 1's paired AUC difference
    paired = pd.read_csv(out / "paired.csv").set_index("metric")
    assert list(paired.index) == ["auc", "recall", "precision", "pointing"]
    assert (paired["model"] == "AGCL-1").all() and (paired["reference"] == "BSL").all()
    assert paired.loc["auc", "diff"] == pytest.approx(diff.loc["Mean", "diff"], abs=1e-5)
    assert paired.loc["auc", "verdict"] == ("loss" if paired.loc["auc", "ci_high"] < 0 else "noise")
    assert "AGCL-1 − BSL:" in (out / "summary.md").read_text()
    if with_boxes:  # per-image counts add up to Table 2's Total row of each model and control
        counts = pd.read_csv(out / "image_counts.csv").groupby("model")[["gt", "gt_hit", "detected", "tp"]].sum()
        loc = pd.read_csv(out / "localization.csv").query("label == 'Total'").set_index("model")
        assert set(counts.index) == {"BSL", "AGCL-1", "uniform", "centre"}
        assert (counts == loc.loc[counts.index, ["gt", "gt_hit", "detected", "tp"]]).all().all()
    else:
        assert np.isnan(paired.loc["recall", "diff"]) and paired.loc["recall", "verdict"] == "undefined"
    with pytest.raises(Exception, match="eval.bootstrap"):
        EvalConfig(bootstrap=-1)
