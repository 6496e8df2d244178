"""Feature-grid CAMs → the image (cache) frame of the heatmap contract.

The heatmap contract says cell ``(i, j)`` of an ``h×w`` map covers input rows ``i·H/h..(i+1)·H/h`` and
columns ``j·W/w..(j+1)·W/w`` — every consumer (box generators, pointing game, overlays) places a cell's
value at the **centre** of that area, ``(j + 0.5)·W/w``. A CNN's feature cell is centred elsewhere:
with the symmetric padding of ResNet and the tiny backbone (3×3/7×7 stride-2 convs with padding
``k // 2``, 3×3 max-pool with padding 1), the receptive field of feature cell ``j`` is centred on input
pixel ``j·stride``, i.e. at ``j·stride + 0.5`` in pixel-edge coordinates — half a cell (less half a
pixel) up and left of the nominal centre ``j·stride + stride/2``. Read in the nominal frame, a raw CAM is
therefore shifted by ``(stride − 1)/2`` pixels to the right and down: 3.5 px at output stride 8,
15.5 px at stride 32 (3 % of a 512-px image) — as large as a small nodule.

:func:`align_to_image` resamples a raw CAM so that cell ``j`` holds the feature-grid value interpolated
(linearly, separably) at the nominal centre of its area. Raw feature-grid CAMs stay what seed maps and
the two-path regression targets use (Eq. 2 compares them with Ĥ on the same feature grid); only maps that
are read in the image frame (``heatmaps.npy``, ``agcl predict``, seed diagnostics) are aligned.
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
