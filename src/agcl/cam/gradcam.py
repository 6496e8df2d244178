"""Grad-CAM (Selvaraju et al. 2017) and Grad-CAM++ (Chattopadhay et al. 2018) for every class of an
agcl network, through pytorch-grad-cam, delivered in the heatmap contract of ``heatmaps.npy``.

What comes from the library: the activation/gradient hooks (``ActivationsAndGradients``, installed by
the CAM object on the target layer), the targets (``ClassifierOutputTarget``) and the channel-weight
formulas (``GradCAM.get_cam_weights``: spatial mean of the gradients; ``GradCAMPlusPlus``: Eq. 19 of
Chattopadhay et al.). What is done here, and why:

- Target layer = the network's last-block features f (Eq. 1), exposed as an ``nn.Identity`` between
  ``forward_features`` and ``forward_head``. The backbone runs once under ``no_grad``; only the head is
  differentiated, once per class (14 cheap backward passes through GAP + FC instead of 14 full
  forward/backward passes — the library's ``__call__`` does one target per image per call).
- The map is kept raw and at the feature grid, like the exact CAM: the library's ``__call__`` would
  min–max scale each map and resize it to the input with OpenCV, which reads feature cell ``j`` as
  centred at ``(j + 0.5)·H/h`` — the nominal frame, shifted by half a receptive-field cell — and
  discards the values that compare across images. Maps are moved into the image frame with
  :func:`agcl.cam.align.align_to_image`, exactly as the exact CAM of a stage is.
- ReLU on the weighted sum, as in both papers (``relu=False`` gives the pre-ReLU map).

For a GAP + FC head, ∂logit_k/∂f(x,y) = W_k / (h·w) at every location, so Grad-CAM's weights are
``W_k/(h·w)`` and its pre-ReLU map is the exact CAM divided by ``h·w`` (a positive per-class factor;
tests/cam/test_gradcam.py checks it).
"""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from agcl.cam.align import align_to_image

GRADIENT_METHODS = {"gradcam": GradCAM, "gradcampp": GradCAMPlusPlus}


class _HeadOnFeatures(nn.Module):
    """``net``'s logits from its features, with the features passing through a hookable layer."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.features = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            f = self.net.forward_features(x).float()
        return self.net.forward_head(self.features(f.requires_grad_()))


def gradient_cams(net: nn.Module, images: torch.Tensor, method: str = "gradcam", *, relu: bool = True,
                  frame: str = "image") -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities and Grad-CAM / Grad-CAM++ maps of every output class, in one forward pass.

    Args:
        net: a multi-label or two-path :class:`~agcl.models.networks.CamNet` (eval mode is set by the
            library; parameters are left untouched: no ``.grad`` is written).
        images: grey images in [0,1] on the net's device.
        method: ``"gradcam"`` or ``"gradcampp"``.
        relu: apply the ReLU of the papers' definition.
        frame: ``"image"`` (the ``heatmaps.npy`` contract) or ``"features"`` (raw feature grid).

    Shapes: images [B,1,H,W] -> (probs [B,K] float32 in [0,1], maps [B,K,h,w] float32, CPU).
    """
    if method not in GRADIENT_METHODS:
        raise ValueError(f"gradient CAM method {method!r} is not one of {list(GRADIENT_METHODS)}")
    if frame not in ("image", "features"):
        raise ValueError(f"frame must be 'image' or 'features', got {frame!r}")
    if getattr(net, "kind", "") == "binary":
        raise ValueError("gradient CAMs are computed for multi-label and two-path nets (one logit per class)")
    head = _HeadOnFeatures(net)
    flags = [p.requires_grad for p in net.parameters()]
    for p in net.parameters():
        p.requires_grad_(False)  # differentiate w.r.t. the features only
    try:
        with GRADIENT_METHODS[method](model=head, target_layers=[head.features]) as cam, torch.enable_grad():
            hooks = cam.activations_and_grads
            logits = hooks(images)
            acts = hooks.activations[0].numpy()
            maps = []
            for k in range(logits.shape[1]):
                hooks.gradients = []
                targets = [ClassifierOutputTarget(k)] * len(images)
                sum(t(o) for t, o in zip(targets, logits, strict=True)).backward(retain_graph=True)
                weights = cam.get_cam_weights(images, [head.features], targets, acts, hooks.gradients[0].numpy())
                maps.append(np.einsum("bchw,bc->bhw", acts, weights.astype(np.float32)))
            probs = net.probabilities(logits.detach())
    finally:
        for p, flag in zip(net.parameters(), flags, strict=True):
            p.requires_grad_(flag)
    out = torch.from_numpy(np.stack(maps, axis=1).astype(np.float32))
    if relu:
        out = out.clamp_min(0)
    if frame == "image":
        out = align_to_image(out, tuple(images.shape[-2:]), *net.feature_geometry())
    return probs.float().cpu(), out
