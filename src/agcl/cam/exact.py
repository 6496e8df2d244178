"""Exact class activation maps (CAM, Zhou et al. 2016; AGCL Eq. 1) for all classes in one einsum.

For a head ``logit_k = mean_{x,y}(W_k · f(x,y)) + b_k`` on global-average-pooled features,
``H_k(x,y) = Σ_d W_k(d) f(x,y,d)`` (Eq. 1) is exact: its spatial mean plus ``b_k`` is the logit.

Bias handling: Eq. 1 has no bias, so by default it is left out (``bias=None``). Passing ``bias``
adds ``b_k`` at every location, which makes ``mean_{x,y} H_k == logit_k`` exactly. A per-map constant
does not change a min–max normalised map (hence not the ``wang2017``/``cam20`` boxes after min–max
normalisation) but does change raw values compared across images.
"""

from __future__ import annotations

import torch


def class_activation_maps(
    features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """CAM for every class at once (Eq. 1): ``einsum("bchw,kc->bkhw")``.

    Args:
        features: last-conv-block activations.
        weight: FC weights, one row per class.
        bias: optional per-class bias added at every location.

    Shapes: features [B,C,h,w] float; weight [K,C]; bias [K] -> [B,K,h,w] in the features' dtype,
    on the feature grid: cell (i,j) is centred on the receptive-field centre of feature (i,j), which is
    *not* the centre of input rows i*H/h..(i+1)*H/h (ResNet: half a cell up-left); use
    :func:`agcl.cam.align.align_to_image` (or ``forward_with_cams(..., frame="image")``) before reading a map in
    the image frame.
    """
    if features.ndim != 4 or weight.ndim != 2 or features.shape[1] != weight.shape[1]:
        raise ValueError(f"CAM shapes do not fit: features {tuple(features.shape)}, weight {tuple(weight.shape)}")
    cams = torch.einsum("bchw,kc->bkhw", features, weight.to(features.dtype))
    if bias is not None:
        cams = cams + bias.to(cams.dtype).view(1, -1, 1, 1)
    return cams
