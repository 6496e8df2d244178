"""Feature-grid CAMs → the image (cache) frame of the heatmap contract.

The heatmap contract says cell ``(i, j)`` of an ``h×w`` map covers input rows ``i·H/h..(i+1)·H/h`` and
columns ``j·W/w..(j+1)·W/w`` — every consumer (box generators, pointing game, overlays, the report)
places a cell's value at the **centre** of that area, ``(j + 0.5)·W/w``. A CNN's feature cell is
centred elsewhere, at ``j·stride + cell_centre`` (:func:`agcl.models.backbones.feature_geometry`,
checked by gradient support in tests/cam/test_align.py):

- symmetric padding (ResNet, the tiny net): ``cell_centre = 0.5``, half a cell (less half a pixel)
  up/left of nominal; DenseNet-121: 14.5;
- TF "SAME" padding (EfficientNet-Lite): ``cell_centre = stride − 0.5``, half a cell down/right.

Read in the nominal frame, a raw CAM is therefore shifted by about half a cell: 3.5 px at output
stride 8, 7.5 px at 16, 15.5 px at 32 — as large as a small nodule.

:func:`align_to_image` resamples a raw CAM so that cell ``j`` holds the feature-grid value interpolated
(linearly, separably) at the nominal centre of its area; edge cells replicate. It is applied once, where
image-frame maps are produced: the stage ``heatmaps.npy`` (:func:`agcl.pipeline.inference.write_test_outputs`),
``agcl predict`` / :func:`agcl.predict` (heatmaps, boxes, overlays) and the seed diagnostics; evaluation,
the pointing game, overlays and the report read those maps unchanged. Raw feature-grid CAMs stay what
seed maps (``seed_maps.npy``, ``train_cams.npy``) and the two-path regression targets use (Eq. 2
compares them with Ĥ on the same feature grid).

Cost of resampling at ``h×w``: each aligned cell mixes two neighbouring feature cells (weights ≈ ½/½
for a half-cell shift), a mild blur that the box generators' own bilinear upsampling adds to. The
positions are unbiased; peak sharpness is somewhat lower (docs/models.md, "CAM frame").
"""

from __future__ import annotations

import numpy as np
import torch


def _axis_weights(n: int, input_len: int, stride: float, centre: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per output cell: lower source index, upper source index and the weight of the upper one."""
    nominal = (torch.arange(n, dtype=torch.float64) + 0.5) * (input_len / n)  # cell centres, input pixels
    u = ((nominal - centre) / stride).clamp(0, n - 1)  # fractional feature-grid index; edges replicate
    lo = u.floor().long()
    hi = (lo + 1).clamp(max=n - 1)
    return lo, hi, (u - lo).float()


def align_to_image(cams, input_size: tuple[int, int] | int, stride: int, cell_centre: float):
    """Resample feature-grid CAMs into the image frame of the heatmap contract.

    Args:
        cams: raw CAMs on the backbone's feature grid (torch tensor or numpy array).
        input_size: ``(H, W)`` (or one int for a square input) of the image the network saw.
        stride: the backbone's output stride (feature cell ``j`` is ``stride`` input pixels after cell 0).
        cell_centre: pixel-edge coordinate of the receptive-field centre of feature cell 0 (cell ``j`` is
            centred at ``j·stride + cell_centre``), from :func:`agcl.models.backbones.feature_geometry`.

    Shapes: cams [..., h, w] -> [..., h, w], same type and dtype (float).
    """
    is_np = isinstance(cams, np.ndarray)
    t = torch.from_numpy(np.ascontiguousarray(cams)) if is_np else cams
    H, W = (input_size, input_size) if isinstance(input_size, int) else input_size
    h, w = t.shape[-2:]
    out = t.float()
    for dim, n, length in ((-2, h, H), (-1, w, W)):
        lo, hi, frac = _axis_weights(n, length, stride, cell_centre)
        lo, hi, frac = lo.to(out.device), hi.to(out.device), frac.to(out.device)
        shape = [1] * out.ndim
        shape[dim] = n
        a, b = out.index_select(dim, lo), out.index_select(dim, hi)
        out = a + frac.view(shape) * (b - a)
    out = out.to(t.dtype)
    return out.numpy() if is_np else out
