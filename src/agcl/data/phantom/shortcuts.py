"""Shortcut objects burnt into the image: chest drains, pacemakers, lines, ECG leads and text markers.

They are correlated with findings (drains with pneumothorax, pacemakers with cardiomegaly and edema,
portable markers with sick AP patients) but never determined by them (docs/phantom.md, "Difficulty"), so a classifier
can score well by looking at them instead of the lesion; the localization tables expose that. Devices
are drawn at the output resolution (thin, sharp, radio-opaque) in image coordinates that follow the
patient's pose.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from agcl.data.phantom.anatomy import heart_centre, to_image

WORDS = ("PORTABLE", "AP", "SUPINE")


def _pts(anat: dict[str, float], size: int, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    xs, ys = to_image(anat, np.array([p[0] for p in pts]), np.array([p[1] for p in pts]))
    return [(float(x * size), float(y * size)) for x, y in zip(xs, ys, strict=True)]


def _bezier(p0, p1, p2, n: int = 24) -> list[tuple[float, float]]:
    t = np.linspace(0.0, 1.0, n)[:, None]
    pts = (1 - t) ** 2 * np.array(p0) + 2 * (1 - t) * t * np.array(p1) + t**2 * np.array(p2)
    return [tuple(p) for p in pts]


def draw_devices(size: int, anat: dict[str, float], shortcuts: dict[str, dict[str, float]],
                 rng: np.random.Generator) -> np.ndarray:
    """Attenuation of all devices in ``shortcuts``. Shapes: float32 ``[size, size]``."""
    canvas = Image.new("F", (size, size), 0.0)
    draw = ImageDraw.Draw(canvas)
    w = max(1, round(size / 110))
    if "chest_drain" in shortcuts:
        s = shortcuts["chest_drain"]
        sgn = 1.0 if s["left"] else -1.0
        path = _bezier((0.5 + sgn * 0.62, 0.86), (0.5 + sgn * (0.42 + 0.04 * s["curve"]), 0.55),
                       (0.5 + sgn * 0.2, 0.2))
        pts = _pts(anat, size, path)
        draw.line(pts, fill=0.45, width=2 * w + 1, joint="curve")
        draw.line(pts, fill=0.22, width=max(1, w // 2))  # lumen
    if "pacemaker" in shortcuts:
        s = shortcuts["pacemaker"]
        sgn = 1.0 if s["left"] else -1.0
        gx, gy = 0.5 + sgn * 0.27, 0.2 + s["dy"]
        box = _pts(anat, size, [(gx - 0.04, gy - 0.028), (gx + 0.04, gy + 0.028)])
        (x0, y0), (x1, y1) = box
        draw.rounded_rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], radius=2 * w, fill=0.95)
        hx, hy = heart_centre(anat)
        for end in ((hx - 0.02, hy + 0.02), (hx + 0.04, hy + 0.06)):
            lead = _bezier((gx, gy), (0.49, 0.28), end)
            draw.line(_pts(anat, size, lead), fill=0.7, width=w, joint="curve")
    if "central_line" in shortcuts:
        s = shortcuts["central_line"]
        sgn = 1.0 if s["left"] else -1.0
        line = _bezier((0.5 + sgn * 0.22, 0.13), (0.5 + sgn * 0.03, 0.17), (0.47, 0.3 + s["depth"]))
        draw.line(_pts(anat, size, line), fill=0.4, width=w, joint="curve")
    if "ecg_leads" in shortcuts:
        s = shortcuts["ecg_leads"]
        lrng = np.random.default_rng(int(s["tex"]))
        for _ in range(int(s["n"])):
            c = (lrng.uniform(0.2, 0.8), lrng.uniform(0.15, 0.85))
            (cx, cy), = _pts(anat, size, [c])
            r = 0.018 * size
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=0.6, width=w)
            end = (lrng.uniform(0, size), size if lrng.random() < 0.5 else 0.0)
            draw.line([(cx, cy), end], fill=0.35, width=w)
    return np.asarray(canvas, dtype=np.float32)


def draw_markers(img: np.ndarray, shortcuts: dict[str, dict[str, float]], rng: np.random.Generator) -> np.ndarray:
    """Burn text into the grey image: the side marker "L" (every image) and, as a shortcut, a portable label.

    Shapes: ``img`` uint8 ``[S, S]`` → a new uint8 array.
    """
    size = img.shape[0]
    pil = Image.fromarray(img, mode="L")
    draw = ImageDraw.Draw(pil)
    font = ImageFont.load_default(size=max(6, size // 14))
    x, y = size * rng.uniform(0.80, 0.90), size * rng.uniform(0.03, 0.12)
    draw.text((x, y), "L", fill=235, font=font)
    if "text_marker" in shortcuts:
        s = shortcuts["text_marker"]
        small = ImageFont.load_default(size=max(6, size // 18))
        tx = size * (0.03 if s["corner"] == 0 else 0.55)
        draw.text((tx, size * 0.90), WORDS[int(s["word"])], fill=240, font=small)
    return np.asarray(pil, dtype=np.uint8).copy()
