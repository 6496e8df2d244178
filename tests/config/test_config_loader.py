"""Typed config: YAML in, --set overrides coerced to field types, clear errors, YAML out, extension."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import pytest
import yaml

from agcl.config import (
    TrainConfig,
    apply_overrides,
    from_dict,
    load_config,
    save_config,
    to_dict,
)
from agcl.errors import ConfigError


def test_defaults_follow_the_paper_and_hold_no_machine_paths() -> None:
    cfg = TrainConfig()
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.lr_step_epochs, cfg.optim.lr_gamma) == (0.001, 0.9, 10, 0.1)
    assert cfg.data.index_dir == "" and cfg.data.cache_dir == ""
    strings = [v for section in to_dict(cfg).values() for v in section.values() if isinstance(v, str)]
    assert strings and not any("/" in v or "\\" in v or "~" in v for v in strings)


def test_yaml_and_overrides_are_typed(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 0.01\n  max_epochs: 3\nruntime:\n  amp: bf16\n")
    cfg = load_config(path, ["data.batch_size=4", "runtime.deterministic=off", "optim.weight_decay=0",
                             "runtime.channels_last=on", "data.index_dir=/x/idx"], schema=TrainConfig)
    assert cfg.optim.lr == 0.01 and cfg.optim.max_epochs == 3 and cfg.runtime.amp == "bf16"
    assert cfg.data.batch_size == 4 and isinstance(cfg.data.batch_size, int)
    assert cfg.runtime.deterministic is False and cfg.optim.weight_decay == 0.0
    assert isinstance(cfg.optim.weight_decay, float) and cfg.data.index_dir == "/x/idx"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.optim.lr = 1.0  # type: ignore[misc]


def test_yaml_on_off_reach_toggles_as_words(tmp_path) -> None:
    """YAML 1.1 reads bare on/off as booleans; toggle settings take them as the words they are."""
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  pin_memory: off\n  persistent_workers: on\n  augment_device: gpu\n"
                    "runtime:\n  channels_last: on\n")
    cfg = load_config(path, [], schema=TrainConfig)
    assert (cfg.data.pin_memory, cfg.data.persistent_workers, cfg.runtime.channels_last) == ("off", "on", "on")
    assert cfg.data.augment_device == "gpu"
    path.write_text("runtime:\n  amp: off\n")  # a choice list without on/off still refuses a boolean
    with pytest.raises(ConfigError, match="runtime.amp"):
        load_config(path, [], schema=TrainConfig)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=1", "unknown config key 'optim.lrr'; did you mean 'lr'?"),
        ("optm.lr=1", "unknown config key 'optm'; did you mean 'optim'?"),
        ("runtime.amp=bf61", "invalid value 'bf61' for runtime.amp (choices: auto, none, bf16, fp16); did you mean 'bf16'?"),
        ("runtime.device=gpu", "invalid value 'gpu' for runtime.device"),
        ("data.augment_device=cuda", "invalid value 'cuda' for data.augment_device (choices: auto, cpu, gpu)"),
        ("data.prefetch_factor=0", "data.prefetch_factor must be > 0, got 0"),
        ("data.batch_size=x", "data.batch_size must be an integer, got 'x'"),
        ("data.batch_size=2.5", "data.batch_size must be an integer"),
        ("data.batch_size=0", "data.batch_size must be > 0, got 0"),
        ("optim.lr=-1", "optim.lr must be > 0"),
        ("runtime.deterministic=maybe", "runtime.deterministic must be true or false"),
        ("optim.lr", "expected KEY=VALUE"),
        ("optim.lr.x=1", "'optim.lr' is not a section"),
    ],
)
def test_override_errors_are_one_clear_line(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        apply_overrides(TrainConfig(), [override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_yaml_errors_name_the_file(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: [1\n")
    with pytest.raises(ConfigError, match=f"invalid YAML in config {bad}"):
        load_config(bad, schema=TrainConfig)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("runtime:\n  sed: 1\n")
    with pytest.raises(ConfigError, match=r"unknown.yaml: unknown config key 'runtime.sed'; did you mean 'seed'\?"):
        load_config(unknown, schema=TrainConfig)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml", schema=TrainConfig)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3\n")
    with pytest.raises(ConfigError, match="mapping at top level"):
        load_config(scalar, schema=TrainConfig)


def test_resolved_yaml_round_trips(tmp_path) -> None:
    cfg = apply_overrides(TrainConfig(), ["optim.lr=0.02", "model.backbone=tiny", "runtime.seed=9"])
    save_config(cfg, tmp_path / "run" / "config.yaml")
    again = load_config(tmp_path / "run" / "config.yaml", schema=TrainConfig)
    assert again == cfg
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["optim"]["lr"] == 0.02
    assert from_dict(TrainConfig, to_dict(cfg)) == cfg


@dataclass(frozen=True)
class Extra:
    mode: Literal["agl", "agcl"] = "agcl"
    rounds: int = 2
    lam: float = 0.005
    labels: tuple[str, ...] = ()
    threshold: float | None = None


@dataclass(frozen=True)
class Extended(TrainConfig):
    refine: Extra = field(default_factory=Extra)


def test_sections_can_be_added_by_subclassing(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("refine:\n  mode: agl\n  labels: [Effusion, Mass]\noptim:\n  lr: 0.1\n")
    cfg = load_config(path, ["refine.rounds=3", "refine.threshold=0.8", "refine.labels=[Nodule]"], schema=Extended)
    assert cfg.refine == Extra(mode="agl", rounds=3, lam=0.005, labels=("Nodule",), threshold=0.8)
    assert cfg.optim.lr == 0.1
    assert apply_overrides(cfg, ["refine.threshold=none"]).refine.threshold is None
    with pytest.raises(ConfigError, match="did you mean 'agcl'"):
        apply_overrides(cfg, ["refine.mode=agcll"])
    save_config(cfg, tmp_path / "out.yaml")
    assert load_config(tmp_path / "out.yaml", schema=Extended) == cfg
