"""One-pass inference for the pipeline and ``agcl predict``: probabilities and CAMs together."""

from __future__ import annotations

import contextlib

import torch

from agcl.models.networks import CamNet


@torch.inference_mode()
def infer(model: CamNet, images: torch.Tensor, *, autocast: bool = False,
          with_bias: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities and exact CAMs from one forward pass (features -> head -> CAM).

    Args:
        model: a :class:`~agcl.models.networks.CamNet` (put it in ``eval()`` mode yourself).
        images: grey images in [0,1] on the model's device.
        autocast: run the backbone under ``torch.autocast`` (bf16 on CPU, fp16 on CUDA); the head and
            CAM are computed in float32 from the same features.
        with_bias: add the FC bias to every CAM location (see :mod:`agcl.cam.exact`).

    Returns:
        ``(probs, cams)``; for a binary net K = 1 (positive class).

    Shapes: images [B,1,H,W] float in [0,1] -> probs [B,K] float32 in [0,1], cams [B,K,h,w] float32
    (raw CAM, feature-map frame).
    """
    device_type = images.device.type
    ctx = (torch.autocast(device_type, dtype=torch.bfloat16 if device_type == "cpu" else torch.float16)
           if autocast else contextlib.nullcontext())
    with ctx:
        features = model.forward_features(images)
    features = features.float()
    logits = model.forward_head(features)
    return model.probabilities(logits), model.cam(features, with_bias=with_bias).float()
