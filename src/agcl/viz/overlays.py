"""Heatmap overlays with ground-truth and predicted boxes, as in the AGCL paper's Fig. 3.

Pure functions: arrays in, an RGB ``uint8`` array out. Saving is a separate, atomic step.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from agcl.cam.normalize import minmax_normalize
from agcl.io import write_with_atomic

#: Ground-truth boxes are green (as in Fig. 3); predicted boxes magenta, a hue the jet colormap lacks.
GT_COLOUR = (0, 230, 0)
PRED_COLOUR = (255, 0, 255)

Box = Sequence[float]  # (x0, y0, x1, y1)


def normalise_for_display(heatmap: np.ndarray) -> np.ndarray:
    """Min–max scale one heatmap to [0, 1] for display only.

    This destroys comparability between images (each map is stretched to its own range); it is used
    for pictures, never for seed thresholds or boxes. A constant map becomes all zeros.

    Shapes: heatmap ``[h, w]`` float (raw CAM) -> ``[h, w]`` float32 in [0, 1].
    """
    h = np.asarray(heatmap, dtype=np.float32)
    finite = np.isfinite(h)
    if not finite.any():
        return np.zeros_like(h)
    # Non-finite pixels take the finite minimum (so they do not set the range) and end at 0.
    scaled = minmax_normalize(np.where(finite, h, h[finite].min()))
    return np.where(finite, scaled, 0.0).astype(np.float32)


def _colormap(values: np.ndarray, cmap: str) -> np.ndarray:
    """Map [0, 1] values through a 256-entry lookup table of a matplotlib colormap (fast).

    Shapes: values ``[H, W]`` float in [0, 1] -> ``[H, W, 3]`` float32 in [0, 255].
    """
    import matplotlib

    lut = (matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).astype(np.float32)
    return lut[np.clip(np.rint(values * 255.0), 0, 255).astype(np.intp)]


def opacity(values: np.ndarray, alpha: float, floor: float) -> np.ndarray:
    """Per-pixel heatmap opacity: 0 up to ``floor``, rising linearly to ``alpha`` at the map's maximum,
    so weak responses leave the radiograph visible and only strong ones are coloured.

    Shapes: values ``[H, W]`` in [0, 1] -> ``[H, W, 1]`` float32 in [0, alpha].
    """
    ramp = np.clip((values - floor) / max(1e-6, 1.0 - floor), 0.0, 1.0)
    return (alpha * ramp)[..., None].astype(np.float32)


def _colour_bar(draw: ImageDraw.ImageDraw, out_w: int, out_h: int, cmap: str, floor: float) -> None:
    """A vertical colour bar in the top-right corner: map maximum at the top, minimum at the bottom;
    the part below ``floor`` (drawn transparent on the image) is greyed."""
    bar_w, bar_h, margin = max(6, out_w // 40), max(20, int(out_h * 0.35)), max(3, out_w // 80)
    x0, y0 = out_w - margin - bar_w, margin + 4
    values = np.linspace(1.0, 0.0, bar_h)
    colours = _colormap(values[:, None], cmap)[:, 0]
    for i, (v, c) in enumerate(zip(values, colours, strict=True)):
        fill = tuple(int(x) for x in (c if v > floor else 0.5 * c + 64))
        draw.line([x0, y0 + i, x0 + bar_w - 1, y0 + i], fill=fill)
    draw.rectangle([x0 - 1, y0 - 1, x0 + bar_w, y0 + bar_h], outline=(255, 255, 255))
    draw.text((x0 - 13, y0 - 4), "hi", fill=(255, 255, 255))  # left of the bar, at its ends
    draw.text((x0 - 13, y0 + bar_h - 7), "lo", fill=(255, 255, 255))


def _top_boxes(boxes: Iterable[Box], scores: Sequence[float] | None, max_boxes: int | None):
    """Boxes (and scores) sorted by score, at most ``max_boxes``; unchanged order without scores."""
    boxes = [tuple(float(v) for v in b) for b in boxes]
    if scores is None:
        return boxes, [None] * len(boxes)
    order = sorted(range(len(boxes)), key=lambda i: -float(scores[i]))[:max_boxes]
    return [boxes[i] for i in order], [float(scores[i]) for i in order]


def overlay(
    image: np.ndarray,
    heatmap: np.ndarray | None = None,
    *,
    gt_boxes: Iterable[Box] = (),
    pred_boxes: Iterable[Box] = (),
    pred_scores: Sequence[float] | None = None,
    max_pred: int = 3,
    box_frame: tuple[float, float] | None = None,
    size: int | None = None,
    alpha: float = 0.6,
    floor: float = 0.25,
    cmap: str = "jet",
    colour_bar: bool = True,
) -> np.ndarray:
    """Blend a class heatmap over a grey radiograph and draw boxes.

    The heatmap covers the whole image (the cache is a plain resize of the whole image), so it is
    upsampled bilinearly to the display size. Its opacity follows its (display-normalised) intensity
    (:func:`opacity`): transparent below ``floor``, up to ``alpha`` at the maximum. Boxes are xyxy in the
    pixel frame ``box_frame`` = (width, height) — normally the original image — and are scaled to the
    display frame. With ``pred_scores`` only the ``max_pred`` highest-scoring predicted boxes are drawn,
    each labelled with its score.

    Args:
        image: grey radiograph.
        heatmap: raw class activation map of one class, or None for boxes only.
        gt_boxes: ground-truth boxes (drawn green).
        pred_boxes: predicted boxes (drawn magenta).
        pred_scores: one score per predicted box (the generator's: raw heatmap maximum in the box).
        max_pred: how many predicted boxes to keep when scores are given.
        box_frame: (width, height) of the boxes' frame; defaults to the image's own size.
        size: longest side of the output in pixels (keeps aspect); defaults to the image size.
        alpha: heatmap opacity at the map's maximum, in [0, 1].
        floor: display-normalised value below which the heatmap is fully transparent.
        cmap: matplotlib colormap name (red = strong response with ``jet``, as in Fig. 3).
        colour_bar: draw the colour bar (top right) when a heatmap is shown.

    Returns:
        The overlay picture.

    Shapes: image ``[H, W]`` uint8; heatmap ``[h, w]`` float; returns ``[H', W', 3]`` uint8.
    """
    img = np.asarray(image)
    if img.ndim != 2:
        raise ValueError(f"expected a grey [H, W] image, got shape {img.shape}")
    height, width = img.shape
    if size is not None and max(height, width) != size:
        scale = size / max(height, width)
        out_w, out_h = max(1, round(width * scale)), max(1, round(height * scale))
        grey = np.asarray(Image.fromarray(img.astype(np.uint8)).resize((out_w, out_h), Image.BILINEAR))
    else:
        out_w, out_h, grey = width, height, img.astype(np.uint8)
    rgb = np.repeat(grey[..., None].astype(np.float32), 3, axis=2)
    if heatmap is not None:
        norm = normalise_for_display(heatmap)
        up = np.clip(np.asarray(Image.fromarray(norm, mode="F").resize((out_w, out_h), Image.BILINEAR)), 0.0, 1.0)
        a = opacity(up, alpha, floor)
        rgb = (1.0 - a) * rgb + a * _colormap(up, cmap)
    picture = Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8), mode="RGB")
    fw, fh = box_frame if box_frame is not None else (width, height)
    sx, sy = out_w / float(fw), out_h / float(fh)
    line = max(2, round(max(out_w, out_h) / 160))
    draw = ImageDraw.Draw(picture)
    if heatmap is not None and colour_bar:
        _colour_bar(draw, out_w, out_h, cmap, floor)
    for x0, y0, x1, y1 in gt_boxes:
        draw.rectangle([x0 * sx, y0 * sy, x1 * sx, y1 * sy], outline=GT_COLOUR, width=line)
    boxes, scores = _top_boxes(pred_boxes, pred_scores, max_pred)
    for (x0, y0, x1, y1), score in zip(boxes, scores, strict=True):
        draw.rectangle([x0 * sx, y0 * sy, x1 * sx, y1 * sy], outline=PRED_COLOUR, width=line)
        if score is not None:
            text = f"{score:.2g}"
            tx, ty = x0 * sx, y0 * sy - 11 if y0 * sy >= 11 else y1 * sy + 1  # above the box, else below
            draw.rectangle([tx - 1, ty, tx + 6 * len(text) + 1, ty + 10], fill=(0, 0, 0))
            draw.text((tx, ty - 1), text, fill=PRED_COLOUR)
    return np.asarray(picture)


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode an RGB/grey ``uint8`` array as PNG bytes.

    Shapes: rgb ``[H, W, 3]`` or ``[H, W]`` uint8.
    """
    buf = io.BytesIO()
    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def save_png(path: str | os.PathLike[str], rgb: np.ndarray) -> None:
    """Write an array as a PNG file atomically.

    Shapes: rgb ``[H, W, 3]`` or ``[H, W]`` uint8.
    """
    data = png_bytes(rgb)
    write_with_atomic(path, lambda tmp: tmp.write_bytes(data))
