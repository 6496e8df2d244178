"""One validation per setting: the config and the command line share each range (finite values,
non-negative seeds), so a value one refuses the other refuses too, with the same bounds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .clirun import agcl, clean_error


@pytest.mark.parametrize("setting", [
    "eval.t=7", "eval.t=1", "eval.t=nan", "eval.bootstrap=-1", "seeds.target=nan", "seeds.min_t=2",
    "seeds.agl_min_t=-0.1", "refine.lam=nan", "refine.lam=inf", "refine.rounds=-1", "baseline.lr=nan",
    "refine_train.max_epochs=-1", "runtime.seed=-1", "runtime.seed=99999999999", "curriculum.seed=-3",
    "curriculum.lr=nan", "curriculum.min_positives=-1", "data.image_size=0", "data.image_size=100000",
    "data.num_workers=-1", "data.num_workers=100000", "optim.lr=inf", "optim.lr_gamma=10", "optim.weight_decay=nan",
    "runtime.num_threads=-2",
])
def test_config_values_out_of_range_are_refused_before_anything_is_written(tmp_path: Path, indexed: Path,
                                                                          setting: str) -> None:
    key, value = setting.split("=")
    for command in ("run", "train"):
        res = agcl(command, "--run-dir", tmp_path / "run", "--set", f"data.index_dir={indexed}", "--set", setting)
        msg = clean_error(res, key, value if value != "99999999999" else "99999999999")
        assert len(msg) < 300
        assert not (tmp_path / "run").exists()


def test_config_file_values_are_checked_like_set(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("eval:\n  t: 7\n")
    clean_error(agcl("run", "--run-dir", tmp_path / "run", "--config", config), "c.yaml", "eval.t", "[0, 1)")


@pytest.mark.parametrize(("args", "flag"), [
    (("synth", "{tmp}/ph", "--n", "10", "--size", "32", "--seed", "-1"), "--seed"),
    (("synth", "{tmp}/ph", "--n", "10", "--size", "32", "--workers", "-1"), "--workers"),
    (("synth", "{tmp}/ph", "--n", "10", "--size", "100000"), "--size"),
    (("index", "{phantom}", "--out", "{tmp}/ix", "--seed", "-1"), "--seed"),
    (("index", "{phantom}", "--out", "{tmp}/ix", "--val-fraction", "nan"), "--val-fraction"),
    (("index", "--csv", "{tmp}/c.csv", "--out", "{tmp}/ix", "--fractions", "nan,0.1,0.2"), "--fractions"),
    (("index", "--csv", "{tmp}/c.csv", "--out", "{tmp}/ix", "--fractions", "0.7,inf,0.2"), "--fractions"),
    (("index", "--csv", "{tmp}/c.csv", "--out", "{tmp}/ix", "--label-sep", ""), "--label-sep"),
    (("prepare", "{indexed}", "--size", "0", "--out", "{tmp}/c"), "--size"),
    (("prepare", "{indexed}", "--workers", "-1", "--out", "{tmp}/c"), "--workers"),
    (("evaluate", "{indexed}", "--control", "uniform", "--out", "{tmp}/ev", "--seed", "-1"), "--seed"),
    (("report", "{tmp}", "--seed", "-1"), "--seed"),
])
def test_command_line_values_out_of_range_are_one_line(phantom: Path, indexed: Path, tmp_path: Path, args,
                                                       flag: str) -> None:
    (tmp_path / "c.csv").write_text("path,labels,patient_id\nimages/a.png,Mass,p1\n")
    argv = [a.format(tmp=tmp_path, phantom=phantom, indexed=indexed) for a in args]
    clean_error(agcl(*argv), flag)
    for name in ("ph", "ix", "c", "ev"):
        assert not (tmp_path / name).exists()


def test_predict_box_threshold_nan_is_refused(phantom: Path, checkpoint: Path, tmp_path: Path) -> None:
    image = next((phantom / "images").glob("*.png"))
    res = agcl("predict", image, "-c", checkpoint, "-o", tmp_path / "out", "--box-threshold", "nan")
    clean_error(res, "--box-threshold")


def test_config_and_command_line_share_the_range(indexed: Path, tmp_path: Path) -> None:
    """``eval.t`` and ``agcl evaluate --t`` refuse the same values with the same bounds."""
    cfg = clean_error(agcl("run", "--run-dir", tmp_path / "r", "--set", "eval.t=1"), "eval.t")
    cli = clean_error(agcl("evaluate", indexed, "--control", "centre", "--out", tmp_path / "e", "--t", "1"), "--t")
    bounds = re.compile(r"must be (.*), got")
    assert bounds.search(cfg).group(1) == bounds.search(cli).group(1) == "in [0, 1)"
    from agcl.config.ranges import OVERLAP_T
    from agcl.evaluation.settings import RANGES

    assert RANGES["t"] is OVERLAP_T
