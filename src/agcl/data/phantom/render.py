"""Render one planned image: anatomy + lesions + devices → exposure, noise → 8-bit grey, plus truth boxes.

Smooth content (anatomy, lesions) is drawn on a grid of ``min(size, spec.render_size)`` pixels and
resized bilinearly; devices, markers and quantum noise are drawn at the output size. Randomness comes
only from generators derived from ``(seed, purpose, index)``, so rendering order and worker count do not
change a single byte.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from agcl.data.phantom.anatomy import pose_grid, render_anatomy
from agcl.data.phantom.cohort import STREAM_LESION, STREAM_RENDER, STREAM_TEXTURE, ImagePlan, stream
from agcl.data.phantom.lesions import DRAWERS, anatomy_modifiers, strength
from agcl.data.phantom.shortcuts import draw_devices, draw_markers
from agcl.data.phantom.spec import PhantomSpec

Box = tuple[float, float, float, float]


def footprint_box(foot: np.ndarray, scale: float, frac: float = 0.3) -> Box | None:
    """xyxy box (pixel edges, output frame) around the footprint's pixels above ``frac`` of its maximum."""
    a = np.abs(foot)
    peak = float(a.max()) if a.size else 0.0
    if peak <= 0:
        return None
    m = a > frac * peak
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    return (cols[0] * scale, rows[0] * scale, (cols[-1] + 1) * scale, (rows[-1] + 1) * scale)


def pad_box(box: Box, margin: float, size: int) -> Box:
    """``box`` grown by ``margin`` × its width/height on every side, clipped to ``[0, size]``."""
    if not margin:
        return box
    x0, y0, x1, y1 = box
    dx, dy = margin * (x1 - x0), margin * (y1 - y0)
    return (max(0.0, x0 - dx), max(0.0, y0 - dy), min(float(size), x1 + dx), min(float(size), y1 + dy))


def _resize(a: np.ndarray, size: int) -> np.ndarray:
    if a.shape[0] == size:
        return a
    return np.asarray(Image.fromarray(a, mode="F").resize((size, size), Image.Resampling.BILINEAR))


def render_image(plan: ImagePlan, spec: PhantomSpec, seed: int, *, with_lesions: bool = True,
                 with_devices: bool = True) -> tuple[np.ndarray, dict[str, Box]]:
    """Draw one image of the plan.

    Args:
        plan: the image's decisions (anatomy, pose, lesions, shortcuts, exposure).
        spec: the phantom spec (size, render size, lesion contrast).
        seed: the phantom seed.
        with_lesions / with_devices: switch findings / shortcut objects off (tests measure lesion
            contrast as the difference of the two renders).

    Returns:
        ``(image, boxes)``: uint8 ``[size, size]`` grey image and ``{label: (x0, y0, x1, y1)}`` truth boxes
        in output pixels (edges), one per lesion, always inside the image.
    """
    size = spec.size
    res = min(size, spec.render_size)
    lesions = plan.lesions if with_lesions else []
    anat = dict(plan.anatomy)
    if plan.view == "AP":  # magnified heart, more horizontal clavicles
        anat["heart_w"] *= 1.08
        anat["clav_y"] -= 0.02
    anat |= anatomy_modifiers(lesions, spec, anat.get("lucency", 1.0))
    X, Y = pose_grid(res, anat)
    layers = render_anatomy(X, Y, anat, stream(seed, STREAM_TEXTURE, plan.patient))
    A, markings = layers["A"], layers["markings"]
    boxes: dict[str, Box] = {}
    for les in lesions:
        sz, ct = strength(les, spec)
        lrng = stream(seed, STREAM_LESION, int(les.params["tex"]))
        delta, foot, mult = DRAWERS[les.label](les, X, Y, anat, layers, lrng, sz, ct)
        A = A + delta
        markings = markings * mult
        box = footprint_box(foot, size / res)
        if box is not None:
            boxes[les.label] = pad_box(box, spec.class_factor("box_margin", les.label, 0.0), size)
    rng = stream(seed, STREAM_RENDER, plan.index)
    A = _resize((A + markings).astype(np.float32), size)
    if with_devices:
        A = A + draw_devices(size, anat, plan.shortcuts, rng)
    # parenchymal mottle, detector blur, exposure (lower for sicker/AP patients) and quantum noise
    px = size / 256.0
    A = A + 0.02 * gaussian_filter(rng.standard_normal((size, size)).astype(np.float32), 1.5 * px)
    intensity = (1.0 - np.exp(-2.6 * np.maximum(A, 0.0) / plan.exposure)) ** 1.4  # film gamma
    intensity = gaussian_filter(intensity, 0.6 * px)
    intensity += rng.standard_normal((size, size)).astype(np.float32) * (0.012 / np.sqrt(plan.exposure))
    img = (np.clip(intensity, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if with_devices:
        img = draw_markers(img, plan.shortcuts, rng)
    return img, boxes
