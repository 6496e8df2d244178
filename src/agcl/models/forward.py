"""One forward pass that returns probabilities and CAMs (or the two-path regression maps Ĥ) together (the
pipeline's stages, ``agcl predict`` and ``agcl evaluate --heatmap regression``)."""

from __future__ import annotations

import contextlib

import torch

from agcl.models.networks import CamNet


@torch.inference_mode()
def forward_with_cams(model: CamNet, images: torch.Tensor, *, autocast: bool = False,
          with_bias: bool = False, frame: str = "features") -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities and exact CAMs from one forward pass (features -> head -> CAM).

    Args:
        model: a :class:`~agcl.models.networks.CamNet` (put it in ``eval()`` mode yourself).
        images: grey images in [0,1] on the model's device.
        autocast: run the backbone under ``torch.autocast`` (bf16 on CPU, fp16 on CUDA); the head and
            CAM are computed in float32 from the same features.
        with_bias: add the FC bias to every CAM location (see :mod:`agcl.cam.exact`).
        frame: ``"features"`` (default): the exact CAM on the feature grid (Eq. 1; what seed maps and
            regression targets use); ``"image"``: resampled so that cell (i,j) covers input rows
            i·H/h..(i+1)·H/h, the frame of ``heatmaps.npy`` and the box generators
            (:func:`agcl.cam.align.align_to_image`).

    Returns:
        ``(probs, cams)``; for a binary net K = 1 (positive class).

    Shapes: images [B,1,H,W] float in [0,1] -> probs [B,K] float32 in [0,1], cams [B,K,h,w] float32
    (raw CAM, feature-grid or image frame).
    """
    _check_frame(frame)
    features = _features(model, images, autocast)
    logits = model.forward_head(features)
    cams = model.cam(features, with_bias=with_bias).float()
    return model.probabilities(logits), _in_frame(model, cams, images, frame)


@torch.inference_mode()
def forward_with_regression(model: CamNet, images: torch.Tensor, *, autocast: bool = False,
                            frame: str = "features") -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities and the two-path network's regressed heatmaps Ĥ (Eq. 2) from one forward pass.

    Ĥ is the regression path's own output (``separate``) or the affine map of the CAM (``tied``),
    on the feature grid like the CAM; ``frame="image"`` resamples it exactly as
    :func:`forward_with_cams` does, so it can be scored like any heatmap (``--heatmap regression``).

    Raises:
        ValueError: ``model`` has no regression path (not a two-path network).

    Shapes: images [B,1,H,W] float in [0,1] -> probs [B,K] float32, maps [B,K,h,w] float32.
    """
    if not hasattr(model, "regress"):
        raise ValueError(f"a {getattr(model, 'kind', type(model).__name__)} network has no regression path")
    _check_frame(frame)
    features = _features(model, images, autocast)
    maps = model.regress(features).float()
    return model.probabilities(model.forward_head(features)), _in_frame(model, maps, images, frame)


def _features(model: CamNet, images: torch.Tensor, autocast: bool) -> torch.Tensor:
    """Last-block features in float32 (the backbone under autocast when asked). Shapes: -> [B,C,h,w]."""
    device_type = images.device.type
    ctx = (torch.autocast(device_type, dtype=torch.bfloat16 if device_type == "cpu" else torch.float16)
           if autocast else contextlib.nullcontext())
    with ctx:
        features = model.forward_features(images)
    return features.float()


def _check_frame(frame: str) -> None:
    if frame not in ("features", "image"):
        raise ValueError(f"frame must be 'features' or 'image', got {frame!r}")


def _in_frame(model: CamNet, maps: torch.Tensor, images: torch.Tensor, frame: str) -> torch.Tensor:
    """Feature-grid maps as they are (``features``) or in the image frame (``image``). Shapes: [B,K,h,w]."""
    if frame == "image":
        from agcl.cam.align import align_to_image

        maps = align_to_image(maps, tuple(images.shape[-2:]), *model.feature_geometry())
    return maps
