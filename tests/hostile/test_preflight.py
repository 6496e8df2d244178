"""``agcl run`` checks every input before it writes anything, so a failed start never blocks the fixed
command; ``--fresh`` starts over; old run directories resume when a missing key keeps its numbers."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from agcl.pipeline.settings import PipelineConfig, SeedsConfig

from .clirun import agcl, clean_error
from .conftest import CACHE

TINY = ("--set", f"data.image_size={CACHE}", "--set", "model.backbone=tiny", "--set", "model.pretrained=none",
        "--set", "runtime.device=cpu", "--set", "runtime.progress=false", "--set", "optim.max_epochs=1",
        "--set", "data.augment=none", "--set", "data.batch_size=16")


def _run(run: Path, *sets: str):
    return agcl("run", "--run-dir", run, *TINY, *[a for s in sets for a in ("--set", s)])


@pytest.mark.parametrize(("sets", "named"), [
    ((), "data.index_dir"),
    (("data.index_dir={missing}",), "missing"),
    (("data.index_dir={ix}", "source.severity={missing}"), "source.severity"),
    (("data.index_dir={ix}", "source.truth_boxes={missing}"), "source.truth_boxes"),
    (("data.index_dir={ix}", "model.backbone=resnet18", "model.output_stride=16"), "output_stride"),
    (("data.index_dir={ix}", "model.backbone=efficientnet_lite0", "data.image_size=40"), "output stride"),
    (("data.index_dir={ix}", "model.pretrained={missing}"), "model.pretrained"),
    (("data.index_dir={ix}", "data.image_size=64"), "cache"),
    (("source.raw_dir={missing}",), "missing"),
])
def test_a_bad_setting_fails_before_anything_is_written(indexed: Path, tmp_path: Path, sets, named: str) -> None:
    run = tmp_path / "run"
    values = [s.format(ix=indexed, missing=tmp_path / "missing") for s in sets]
    clean_error(_run(run, *values), named)
    assert not run.exists()  # no config.yaml: the corrected command is not "started with another config"


def test_a_bad_severity_table_fails_at_once_and_the_fix_runs(indexed: Path, tmp_path: Path) -> None:
    severity = tmp_path / "severity.csv"
    severity.write_text("id,label,status,severity\nx.png,Tumour,positive,severe\n")
    run = tmp_path / "run"
    clean_error(_run(run, f"data.index_dir={indexed}", f"source.severity={severity}"), "severity.csv", "Tumour")
    assert not run.exists()
    severity.write_text("id,label,status,severity\nx.png,Mass,positive,severe\n")
    res = agcl("run", "--run-dir", run, *TINY, "--set", f"data.index_dir={indexed}", "--set",
               f"source.severity={severity}", "--only", "bsl")
    assert res.exit_code == 0, res.output
    assert (run / "stage_bsl" / "DONE").is_file()


def test_index_without_a_validation_split_is_refused_up_front(indexed: Path, tmp_path: Path) -> None:
    import pandas as pd

    ix = tmp_path / "ix"
    shutil.copytree(indexed, ix)
    images = pd.read_csv(ix / "images.csv", dtype=str, keep_default_na=False)
    images.loc[images["split"] == "val", "split"] = "train"
    images.to_csv(ix / "images.csv", index=False)
    clean_error(_run(tmp_path / "run", f"data.index_dir={ix}"), "'val'")
    assert not (tmp_path / "run").exists()


def test_seed_reference_without_no_finding_training_images_is_refused_up_front(indexed: Path, tmp_path: Path) -> None:
    import pandas as pd

    ix = tmp_path / "ix"
    shutil.copytree(indexed, ix)
    images = pd.read_csv(ix / "images.csv", dtype=str, keep_default_na=False)
    normal = (images["split"] == "train") & (images["no_finding"] == "1")
    moved = images["patient_id"].isin(images.loc[normal, "patient_id"])  # splits are patient-level
    assert normal.any() and (images.loc[~moved, "split"] == "train").any()
    images.loc[moved, "split"] = "val"  # every patient with a No Finding training image moves to validation
    images.to_csv(ix / "images.csv", index=False)
    from agcl.data.cache import prepare_cache

    prepare_cache(ix, size=CACHE, workers=1, progress=False, rebuild=True)  # the cache follows the edited index
    clean_error(_run(tmp_path / "run", f"data.index_dir={ix}"), "seeds.reference=no_finding", "No Finding")
    assert not (tmp_path / "run").exists()
    res = agcl("run", "--run-dir", tmp_path / "run", *TINY, "--set", f"data.index_dir={ix}", "--set",
               "seeds.reference=none", "--only", "bsl")  # the paper's raw seed maps need no reference images
    assert res.exit_code == 0, res.output


def test_fresh_starts_over_a_run_started_with_another_config(indexed: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"optim": {"lr": 0.5}}))
    (run / "notes.txt").write_text("mine")
    clean_error(_run(run, f"data.index_dir={indexed}"), "another config", "--fresh")
    res = agcl("run", "--run-dir", run, *TINY, "--set", f"data.index_dir={indexed}", "--fresh", "--only", "bsl")
    assert res.exit_code == 0, res.output
    assert yaml.safe_load((run / "config.yaml").read_text())["optim"]["lr"] != 0.5
    assert (run / "notes.txt").read_text() == "mine"


def _resume_config(run: Path, **sections) -> None:
    from agcl.config import to_dict
    from agcl.pipeline.settings import PipelineConfig

    written = to_dict(PipelineConfig())
    for section, keys in sections.items():
        for key, value in keys.items():
            if value is None:
                written[section].pop(key)
            else:
                written[section][key] = value
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.yaml").write_text(yaml.safe_dump(written, sort_keys=False))


def test_old_config_without_output_stride_or_with_renamed_eval_keys_resumes(tmp_path: Path) -> None:
    from agcl.pipeline.driver import check_resume_config
    from agcl.pipeline.settings import PipelineConfig

    run = tmp_path / "run"
    _resume_config(run, model={"output_stride": None}, eval={"generator": None, "t": None})
    text = (run / "config.yaml").read_text().replace("eval:\n", "eval:\n  box_method: wang2017\n  iobb: 0.25\n")
    (run / "config.yaml").write_text(text)
    assert "output_stride" not in text
    check_resume_config(run, PipelineConfig())  # a missing key that defaults to the same value: resumes


@dataclasses.dataclass(frozen=True)
class NewSeeds(SeedsConfig):
    """A release that adds ``seeds.margin``; before it existed, agcl behaved as margin = 0.1."""

    ABSENT: ClassVar[dict] = {"margin": 0.1}
    margin: float = 0.0


@dataclasses.dataclass(frozen=True)
class NewConfig(PipelineConfig):
    seeds: NewSeeds = dataclasses.field(default_factory=NewSeeds)


def test_missing_key_that_would_change_the_numbers_blocks_resume(tmp_path: Path) -> None:
    from agcl.errors import ConfigError
    from agcl.pipeline.driver import check_resume_config

    run = tmp_path / "run"
    _resume_config(run)  # written before `seeds.margin` existed
    with pytest.raises(ConfigError, match=r"seeds.margin: 0.1 -> 0.0"):
        check_resume_config(run, NewConfig())
    check_resume_config(run, NewConfig(seeds=NewSeeds(margin=0.1)))  # the old behaviour, asked for: resumes


def test_a_run_config_this_agcl_cannot_read_is_one_line(tmp_path: Path, indexed: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("data: [unclosed\n")
    clean_error(_run(run, f"data.index_dir={indexed}"), "config.yaml", "line")
    (run / "config.yaml").write_text(yaml.safe_dump({"model": {"retired_key": 1}}))
    clean_error(_run(run, f"data.index_dir={indexed}"), "config.yaml", "--fresh")
