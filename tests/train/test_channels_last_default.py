"""``runtime.channels_last: auto``: on for CUDA, per measured backbone on CPU; explicit values win."""

from __future__ import annotations

import pytest
import torch

from agcl.config import RuntimeConfig
from agcl.errors import ConfigError
from agcl.train.device import CPU_CHANNELS_LAST, resolve_channels_last, setup_runtime

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


@pytest.mark.parametrize("backbone", sorted(CPU_CHANNELS_LAST))
def test_auto_follows_the_measured_table_on_cpu_and_is_on_for_cuda(backbone):
    assert resolve_channels_last("auto", CPU, backbone) is CPU_CHANNELS_LAST[backbone]
    assert resolve_channels_last("auto", CUDA, backbone) is True


def test_unknown_backbone_is_off_on_cpu_and_explicit_settings_win():
    assert resolve_channels_last("auto", CPU, None) is False
    assert resolve_channels_last("auto", CPU, "densenet121") is False
    for backbone in (*CPU_CHANNELS_LAST, None):
        assert resolve_channels_last("on", CPU, backbone) is True
        assert resolve_channels_last("off", CUDA, backbone) is False
    with pytest.raises(ConfigError, match="channels_last"):
        resolve_channels_last("yes", CPU, "resnet18")


def test_setup_runtime_uses_the_backbone():
    rt = RuntimeConfig(device="cpu", channels_last="auto", deterministic=True)
    for backbone, on in CPU_CHANNELS_LAST.items():
        assert setup_runtime(rt, backbone).channels_last is on
    assert setup_runtime(rt).channels_last is False
