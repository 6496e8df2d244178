"""Loader settings of a fit (``data.pin_memory``, ``persistent_workers``, ``prefetch_factor``): resolution,
the kept loader of epoch-independent datasets, and resuming runs whose config predates these keys."""

from __future__ import annotations

import pytest
import torch
import yaml
from torch.utils.data import Dataset

from agcl.config import dump_config
from agcl.config.schema import DataConfig
from agcl.errors import ConfigError
from agcl.pipeline.driver import check_resume_config, load_pipeline_config
from agcl.train.device import RuntimeEnv
from agcl.train.sampling import EpochLoaders, LoaderOptions, epoch_dependent

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


class Items(Dataset):
    def __init__(self, n: int, epoch_dependent: bool) -> None:
        self.n, self.epoch_dependent, self.epoch = n, epoch_dependent, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {"image": torch.full((1, 2, 2), float(i)), "index": i}


def test_options_resolve_per_device():
    auto = LoaderOptions(num_workers=2)
    assert auto.pin(CUDA) and not auto.pin(CPU)
    assert auto.persistent(CUDA) and not auto.persistent(CPU)
    assert not LoaderOptions(num_workers=0, persistent_workers="on").persistent(CUDA)  # no workers, nothing to keep
    assert LoaderOptions(num_workers=1, persistent_workers="on").persistent(CPU)
    assert not LoaderOptions(num_workers=4, pin_memory="off", persistent_workers="off").pin(CUDA)
    with pytest.raises(ConfigError, match="pin_memory=on needs CUDA"):
        LoaderOptions(pin_memory="on").pin(CPU)
    data = DataConfig(num_workers=3, pin_memory="off", persistent_workers="on", prefetch_factor=5)
    assert LoaderOptions.from_config(data) == LoaderOptions(3, "off", "on", 5)
    with pytest.raises(ConfigError, match="prefetch_factor"):
        DataConfig(prefetch_factor=0)
    with pytest.raises(ConfigError, match="augment_device"):
        DataConfig(augment_device="tpu")  # type: ignore[arg-type]


def test_persistent_loader_is_kept_only_for_epoch_independent_datasets():
    env = RuntimeEnv(CPU)
    loaders = EpochLoaders(env, seed=0, options=LoaderOptions(num_workers=1, persistent_workers="on",
                                                              prefetch_factor=3))
    fixed, moving = Items(10, epoch_dependent=False), Items(10, epoch_dependent=True)
    assert not epoch_dependent(fixed) and epoch_dependent(moving)
    first = loaders.get(fixed, 4, epoch=0, train=True)
    order0 = torch.cat([b["index"] for b in first]).tolist()
    again = loaders.get(fixed, 4, epoch=1, train=True)
    assert again is first and first.persistent_workers and first.prefetch_factor == 3
    order1 = torch.cat([b["index"] for b in again]).tolist()
    assert order1 != order0  # the kept loader follows the new epoch's permutation
    fresh = EpochLoaders(env, seed=0, options=LoaderOptions(num_workers=0))
    assert torch.cat([b["index"] for b in fresh.get(fixed, 4, epoch=1, train=True)]).tolist() == order1
    m0 = loaders.get(moving, 4, epoch=0, train=True)
    assert loaders.get(moving, 4, epoch=1, train=True) is not m0 and not m0.persistent_workers
    assert loaders.get(fixed, 4, epoch=2, train=True) is not first  # another dataset came in between
    assert loaders.get(fixed, 8, epoch=0, train=False) is not loaders.get(fixed, 4, epoch=0, train=False)
    loaders.close()


def test_resume_accepts_a_config_written_before_the_loader_keys(tmp_path):
    cfg = load_pipeline_config(None, ["data.index_dir=/x"])
    saved = yaml.safe_load(dump_config(cfg))
    for key in ("augment_device", "pin_memory", "persistent_workers", "prefetch_factor"):
        del saved["data"][key]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    check_resume_config(tmp_path, cfg)  # absent = the default
    check_resume_config(tmp_path, load_pipeline_config(None, ["data.index_dir=/x", "data.pin_memory=off",
                                                              "data.prefetch_factor=4"]))  # numbers unchanged
    with pytest.raises(ConfigError, match="augment_device"):
        check_resume_config(tmp_path, load_pipeline_config(None, ["data.index_dir=/x", "data.augment_device=gpu"]))
