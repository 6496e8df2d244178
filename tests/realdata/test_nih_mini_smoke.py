"""The real-data path on a reduced nih-cxr14-mini: index (split file, missing files) -> prepare -> `agcl run`.

48 real images (24 train / 8 val / 16 test, the test ones all carry radiologist boxes), 64 px, tiny
backbone, one epoch per stage, one AGCL round, no severity table (the dataset has no reports). Skips
without ../shared/data (the ``nih_mini_dir`` fixture).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from agcl.cli import app
from agcl.pipeline.demo import packaged_config

# 16 test images cannot hold positives and negatives of all 14 labels: NaN AUC + warning by design.
pytestmark = pytest.mark.filterwarnings("ignore:AUC undefined")

N_TRAIN, N_VAL, N_TEST = 24, 8, 16


def _reduced_split(mini):
    """A deterministic 24/8/16 subset of mini_split.csv: No Finding images in train/val (the curriculum's
    negatives), box images in test. Returns (subset rows, test box rows of BBox_List_2017.csv)."""
    split = pd.read_csv(mini / "mini_split.csv", dtype=str)
    meta = pd.read_csv(mini / "Data_Entry_2017_v2020.csv", dtype=str, usecols=["Image Index", "Finding Labels"])
    boxes = pd.read_csv(mini / "BBox_List_2017.csv", header=None, skiprows=1, usecols=[0, 1], names=["id", "lab"])
    df = split.merge(meta, on="Image Index").sort_values("Image Index")
    nf = df["Finding Labels"] == "No Finding"
    has_box = df["Image Index"].isin(set(boxes["id"]))
    parts = []
    for name, n in (("train", N_TRAIN), ("val", N_VAL)):
        rows = df["split"] == name
        parts += [df[rows & nf].head(n // 2), df[rows & ~nf].head(n - n // 2)]
    parts.append(df[(df["split"] == "test") & has_box].head(N_TEST))
    sub = pd.concat(parts)[["Image Index", "split"]]
    test_ids = set(sub.loc[sub["split"] == "test", "Image Index"])
    return sub, boxes[boxes["id"].isin(test_ids)]


def _invoke(args):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"agcl {' '.join(map(str, args))}\n{result.output}"
    return result


def test_reduced_nih_mini_runs_every_stage_without_severity(nih_mini_dir, tmp_path):
    # a folder of symlinks to 48 of the real images; metadata and split file are the real ones (1,510
    # rows): --allow-missing drops the other 1,462 and the split comes from mini_split.csv
    data = tmp_path / "mini48"
    (data / "images").mkdir(parents=True)
    subset, test_boxes = _reduced_split(nih_mini_dir)
    ids = subset["Image Index"]
    for name in ids:
        (data / "images" / name).symlink_to(nih_mini_dir / "images" / name)
    for meta in ("Data_Entry_2017_v2020.csv", "BBox_List_2017.csv"):
        (data / meta).symlink_to(nih_mini_dir / meta)

    index = tmp_path / "index"
    _invoke(["index", str(data), "--split-file", str(nih_mini_dir / "mini_split.csv"), "--allow-missing", "--out", str(index)])
    meta = json.loads((index / "index.json").read_text())
    assert meta["counts"]["splits"] == {"train": N_TRAIN, "val": N_VAL, "test": N_TEST}
    assert meta["dropped_missing_files"] == 1510 - len(ids)
    # boxes stay in the 256 frame of the files (x1 = x + w of BBox_List_2017.csv)
    idx_boxes = pd.read_csv(index / "boxes.csv", dtype={"image_id": str})
    assert idx_boxes[["x1", "y1"]].max().max() <= 256.0
    _invoke(["prepare", str(index), "--size", "64", "--workers", "1"])

    run = tmp_path / "run"
    sets = ["data.image_size=64", "data.batch_size=8", "runtime.num_threads=1", "runtime.progress=false",
            "optim.max_epochs=1", "curriculum.epochs_per_stage=1", "curriculum.min_positives=2",
            "refine.rounds=1", f"data.index_dir={index}"]
    _invoke(["run", "--config", str(packaged_config("nih-mini")), "--run-dir", str(run),
             *[a for s in sets for a in ("--set", s)]])

    for stage in ("bsl", "bsl_plus", "agl", "agcl_1"):
        for f in ("DONE", "checkpoint.pt", "predictions.csv", "heatmaps.npy", "heatmaps_ids.csv", "boxes.csv"):
            assert (run / f"stage_{stage}" / f).is_file(), f"stage_{stage}/{f}"
        preds = pd.read_csv(run / f"stage_{stage}" / "predictions.csv")
        assert len(preds) == N_TEST
    for stage in ("curriculum_r1", "seeds_agl", "seeds_r1"):
        assert (run / f"stage_{stage}" / "DONE").is_file()

    # Table 1 and Table 2 on the real radiologist boxes of the 16 test images
    auc = pd.read_csv(run / "eval" / "auc.csv")
    assert list(dict.fromkeys(auc["model"])) == ["BSL", "BSL+", "AGL", "AGCL-1", "uniform", "centre"]
    loc = pd.read_csv(run / "eval" / "localization.csv")
    bsl = loc[(loc["model"] == "BSL") & (loc["label"] != "Total")].drop_duplicates("label")
    counts = {lab: n for lab, n in zip(bsl["label"], bsl["gt"], strict=True) if n > 0}
    expected = test_boxes["lab"].replace("Infiltrate", "Infiltration").value_counts().to_dict()
    assert counts == expected and sum(counts.values()) == len(test_boxes) >= N_TEST
    assert {"detected", "tp", "gt_hit", "recall", "precision"} <= set(loc.columns)

    # no reports -> no severity: loud log, empty S1, one ungraded curriculum stage, stated in summary.md
    assert "NO SEVERITY TABLE" in (run / "pipeline.log").read_text()
    seeds = pd.read_csv(run / "stage_seeds_r1" / "seeds.csv")
    assert not (seeds["rule"] == "S1").any()
    summaries = [json.loads(p.read_text()) for p in (run / "stage_curriculum_r1").glob("*/summary.json")]
    assert len(summaries) == 14
    assert all(s["grades"]["none"] == s["train_positives"] for s in summaries)  # nothing graded
    trained = [s for s in summaries if "stages" in s]  # the others had < min_positives ("skipped")
    assert trained and all([st["grades"] for st in s["stages"]] == [["none"]] for s in trained)
    assert "No severity table" in (run / "eval" / "summary.md").read_text()
