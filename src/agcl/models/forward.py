"""One forward pass that returns probabilities and CAMs together (the pipeline's stages and ``agcl predict``)."""

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
    if frame not in ("features", "image"):
        raise ValueError(f"frame must be 'features' or 'image', got {frame!r}")
    device_type = images.device.type
    ctx = (torch.autocast(device_type, dtype=torch.bfloat16 if device_type == "cpu" else torch.float16)
           if autocast else contextlib.nullcontext())
    with ctx:
        features = model.forward_features(images)
    features = features.float()
    logits = model.forward_head(features)
    cams = model.cam(features, with_bias=with_bias).float()
    if frame == "image":
        from agcl.cam.align import align_to_image

        cams = align_to_image(cams, tuple(images.shape[-2:]), *model.feature_geometry())
    return model.probabilities(logits), cams
