"""``build_model(spec)``: (re)build any agcl network from its model spec (the checkpoint contract)."""

from __future__ import annotations

import torch
from torch import nn

from agcl.config import did_you_mean
from agcl.errors import ConfigError
from agcl.models.backbones import BACKBONES, build_backbone, feature_geometry
from agcl.models.networks import BinaryNet, CamNet, MultiLabelNet
from agcl.models.two_path import LEGACY_REGRESSION, REGRESSION_DESIGNS, REGRESSION_KERNELS, TwoPathNet

KINDS: dict[str, type[CamNet]] = {"multilabel": MultiLabelNet, "binary": BinaryNet, "two_path": TwoPathNet}
_CHOICES = {"cam": ("difference", "positive"), "regression": REGRESSION_DESIGNS + tuple(LEGACY_REGRESSION)}


def _choice(spec: dict, key: str, allowed, default: str) -> str:
    value = spec.get(key, default)
    if value not in allowed:
        raise ConfigError(f"model spec: {key}={value!r} is not one of {list(allowed)}{did_you_mean(value, allowed)}")
    return value


def normalize_spec(spec: dict) -> dict:
    """The spec :func:`build_model` builds, with defaults filled in and every value checked, without
    building anything (what ``agcl run`` checks before it starts and what a checkpoint is checked with).

    Raises:
        ConfigError: an unknown kind/backbone/choice, an image size outside [8, 4096], an output stride
            the backbone does not have, or an image size the stride does not divide.
    """
    from agcl.config.ranges import IMAGE_SIZE, POSITIVE, check

    if not isinstance(spec, dict):
        raise ConfigError(f"model spec must be a mapping, got {type(spec).__name__}")
    kind = _choice(spec, "kind", tuple(KINDS), "multilabel")
    backbone = _choice(spec, "backbone", BACKBONES, "resnet50")
    try:
        num_classes = int(spec.get("num_classes", 2 if kind == "binary" else 14))
        image_size = int(spec.get("image_size", 512))
    except (TypeError, ValueError):
        raise ConfigError(f"model spec: num_classes and image_size must be integers, got "
                          f"{spec.get('num_classes')!r}, {spec.get('image_size')!r}") from None
    check("model spec image_size", image_size, IMAGE_SIZE)
    check("model spec num_classes", num_classes, POSITIVE)
    full = {"kind": kind, "backbone": backbone, "num_classes": num_classes, "image_size": image_size,
            "pretrained": str(spec.get("pretrained", "none"))}
    requested = spec.get("output_stride")
    if requested is not None and (isinstance(requested, bool) or not isinstance(requested, int)):
        raise ConfigError(f"model spec: output_stride must be an integer or null, got {requested!r}")
    stride, _ = feature_geometry(backbone, requested)
    full["output_stride"] = stride
    if backbone.startswith("efficientnet_lite") and full["image_size"] % stride:  # TF-SAME padding: see feature_geometry
        raise ConfigError(f"data.image_size={full['image_size']} is not a multiple of the output stride {stride} "
                          f"of backbone {backbone} (the CAM frame needs whole feature cells)")
    if kind == "binary":
        if full["num_classes"] != 2:
            raise ConfigError(f"model spec: a binary net has num_classes=2, got {full['num_classes']}")
        full["cam"] = _choice(spec, "cam", _CHOICES["cam"], "difference")
    if kind == "two_path":
        full.update(_regression(spec))
    return full


def _regression(spec: dict) -> dict:
    """The normalised regression-path keys of a two-path spec (see :mod:`agcl.models.two_path`)."""
    design = _choice(spec, "regression", _CHOICES["regression"], "separate")
    kernel = spec.get("regression_kernel")
    if design in LEGACY_REGRESSION:
        design, legacy_kernel = LEGACY_REGRESSION[design]
        kernel = legacy_kernel if kernel is None else kernel
    if design == "tied":
        if kernel not in (None, 1):
            raise ConfigError(f"model spec: regression_kernel={kernel!r} applies to the separate path only, "
                              "not to regression='tied'")
        return {"regression": "tied"}
    kernel = 1 if kernel is None else kernel
    if isinstance(kernel, bool) or kernel not in REGRESSION_KERNELS:
        raise ConfigError(f"model spec: regression_kernel={kernel!r} is not one of {list(REGRESSION_KERNELS)}")
    return {"regression": "separate", "regression_kernel": int(kernel)}


def build_model(spec: dict, *, pretrained: str | None = None, seed: int | None = None) -> CamNet:
    """Build a network from a spec.

    Args:
        spec: ``{"kind": "multilabel"|"binary"|"two_path", "backbone": str, "num_classes": int,
            "image_size": int, "pretrained"?: "none"|"imagenet"|PATH, "output_stride"?: int|None,
            "cam"?: "difference"|"positive" (binary), "regression"?: "separate"|"tied" (two_path),
            "regression_kernel"?: 1|3 (two_path, separate)}``. A spec without ``regression`` (a checkpoint
            from before the choice existed) is ``separate``; its older values ``conv1x1``/``conv3x3`` read
            as ``separate`` with kernel 1/3.
            ``num_classes`` is 14 for multilabel/two_path and 2 for binary (the number of FC outputs).
            ``output_stride`` is filled in with the backbone's stride (it fixes the CAM geometry);
            EfficientNet-Lite needs ``image_size`` to be a multiple of it.
        pretrained: overrides ``spec["pretrained"]``; pass ``"none"`` when a checkpoint's state_dict
            will be loaded right after.
        seed: if given, random initialisation is drawn from a forked RNG seeded with it (the global
            torch RNG is left untouched), so two builds with one seed are identical.

    Returns:
        The network; ``model.spec`` is the normalised spec (with defaults filled in).
    """
    full = normalize_spec(spec)
    kind, backbone, stride = full["kind"], full["backbone"], full["output_stride"]
    init = pretrained if pretrained is not None else full["pretrained"]
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        net: nn.Module = build_backbone(backbone, init, stride)
        model = KINDS[kind](net, full["num_classes"], full)
    return model
