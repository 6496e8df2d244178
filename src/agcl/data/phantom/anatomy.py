"""Normal chest anatomy as an attenuation map: body, lungs, heart, mediastinum, diaphragm, bones, vessels.

Shapes are analytic functions of canonical coordinates ``(X, Y)`` (fractions of the image side, x to the
image's right, y down) so that one patient's anatomy renders identically at any image size and under
small changes of pose. Attenuation ``A`` is unitless: air ~0, soft tissue ~0.55, aerated lung ~0.25,
bone ~+0.15; :mod:`agcl.data.phantom.render` maps it to grey values.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

EPS = 0.004  # edge softness of organ outlines (canonical units)


def sig(z: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Soft step: 0 for ``z < -eps/2``, 1 for ``z > eps/2``, linear between (the final blur rounds it)."""
    return np.clip(z * (1.0 / eps) + 0.5, 0.0, 1.0)


def pose_grid(size: int, anat: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Canonical coordinates of every pixel centre, undoing the image's pose (rotation, shift, scale).

    Shapes: returns ``X, Y`` float32 ``[size, size]`` (row = image y, column = image x).
    """
    u = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    du, dv = np.meshgrid(u - anat["tx"], u - anat["ty"])
    t = np.deg2rad(anat["rot"])
    c, s, k = np.cos(t), np.sin(t), 1.0 / anat["scale"]
    return (0.5 + k * (c * du + s * dv)).astype(np.float32), (0.5 + k * (-s * du + c * dv)).astype(np.float32)


def to_image(anat: dict[str, float], x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical point(s) → normalised image coordinates (inverse of :func:`pose_grid`)."""
    t = np.deg2rad(anat["rot"])
    c, s, k = np.cos(t), np.sin(t), anat["scale"]
    dx, dy = np.asarray(x) - 0.5, np.asarray(y) - 0.5
    return 0.5 + anat["tx"] + k * (c * dx - s * dy), 0.5 + anat["ty"] + k * (s * dx + c * dy)


def lung_frame(anat: dict[str, float], side: str) -> dict[str, float]:
    """Geometry of one lung: centre x, half-width, apex, costophrenic base, dome height and position."""
    sgn = -1.0 if side == "right" else 1.0  # patient right = image left
    w = anat["lung_w"]
    base = anat["lung_base"] + anat.get(f"base_shift_{side}", 0.0)
    dome_rise = anat["dome_rise"] * anat.get("dome_factor", 1.0) + (0.015 if side == "right" else 0.0)
    cx = 0.5 + sgn * (0.05 + w)
    return {"sgn": sgn, "cx": cx, "w": w, "top": anat["lung_top"], "base": base,
            "dome": base - dome_rise, "x_dome": cx - sgn * 0.2 * w, "k": dome_rise / (1.1 * w) ** 2}


def lung_point(anat: dict[str, float], side: str, a: float, b: float) -> tuple[float, float]:
    """Canonical point at height ``a`` (apex 0 → base 1) and ``b`` (medial 0 → lateral 1) in a lung."""
    f = lung_frame(anat, side)
    y = f["top"] + a * (f["dome"] - f["top"])
    t = (y - f["top"]) / (f["base"] - f["top"])
    hw = f["w"] * (0.25 + 0.75 * np.sqrt(max(t, 0.0)))
    return float(f["cx"] + f["sgn"] * (2 * b - 1) * 0.85 * hw), float(y)


def lung_mask(X: np.ndarray, Y: np.ndarray, f: dict[str, float]) -> np.ndarray:
    """Soft mask of one lung (before the heart and mediastinum are cut out). Shapes: float32 [S, S]."""
    t = np.clip((Y - f["top"]) / (f["base"] - f["top"]), 0.0, 1.0)
    hw = f["w"] * (0.25 + 0.75 * np.sqrt(t))
    low = f["dome"] + f["k"] * (X - f["x_dome"]) ** 2
    return sig(hw - np.abs(X - f["cx"])) * sig(Y - f["top"], 0.01) * sig(low - Y)


def heart_centre(anat: dict[str, float]) -> tuple[float, float]:
    """Centre of the cardiac ellipse: left of the midline, resting on the left hemidiaphragm (its height
    scaled by ``heart_h_scale`` when cardiomegaly also makes the heart taller)."""
    hx = 0.5 + anat["heart_x"] * anat.get("heart_scale", 1.0)
    return hx, lung_frame(anat, "left")["dome"] + 0.03 - anat["heart_h"] * anat.get("heart_h_scale", 1.0)


def heart_mask(X: np.ndarray, Y: np.ndarray, anat: dict[str, float]) -> np.ndarray:
    """Soft mask of the cardiac silhouette (an ellipse bulging to the patient's left)."""
    hx, hy = heart_centre(anat)
    e = ((X - hx) / anat["heart_w"]) ** 2 + ((Y - hy) / (anat["heart_h"] * anat.get("heart_h_scale", 1.0))) ** 2
    return sig(1.0 - e, 0.04)


def _segment_band(X, Y, p0, p1, width):
    """Intensity of a straight band of half-``width`` between points ``p0`` and ``p1``."""
    px, py = p1[0] - p0[0], p1[1] - p0[1]
    t = np.clip(((X - p0[0]) * px + (Y - p0[1]) * py) / (px * px + py * py), 0.0, 1.0)
    d2 = (X - p0[0] - t * px) ** 2 + (Y - p0[1] - t * py) ** 2
    return np.exp(-d2 / (width * width))


def vessel_texture(X, Y, hilum, rng: np.random.Generator) -> np.ndarray:
    """Lung markings: streaks radiating from a hilum, fading towards the periphery (no per-pixel loop)."""
    theta = np.arctan2(Y - hilum[1], X - hilum[0])
    r = np.hypot(X - hilum[0], Y - hilum[1])
    ang = gaussian_filter1d(rng.standard_normal(360), 1.2, mode="wrap")
    ang = np.maximum(ang / ang.std() - 0.2, 0.0)
    rad = 0.6 + 0.4 * np.tanh(gaussian_filter1d(rng.standard_normal(256), 4.0) * 3)
    streak = np.interp(theta, np.linspace(-np.pi, np.pi, 360), ang)
    breaks = np.interp(r, np.linspace(0.0, 0.5, 256), rad)
    return (streak * breaks * np.exp(-r / 0.2) * sig(r - 0.03, 0.01)).astype(np.float32)


def render_anatomy(X: np.ndarray, Y: np.ndarray, anat: dict[str, float], rng: np.random.Generator) -> dict:
    """Attenuation of the normal chest plus the masks lesions need.

    Args:
        X, Y: canonical pixel coordinates from :func:`pose_grid`.
        anat: pose + anatomy (+ lesion modifiers such as ``heart_scale``, ``lucency``, ``marking_gain``).
        rng: the patient's texture generator (same vessels on every follow-up).

    Returns:
        dict with ``A`` (attenuation without markings), ``markings``, ``lung`` (both lungs, heart cut
        out), ``lung_right``, ``lung_left``, ``heart``, ``body``. Shapes: float32 ``[S, S]``.
    """
    d = np.abs(X - 0.5)
    neck = 0.13
    body_hw = neck + (0.62 - neck) * sig(Y - 0.09, 0.05) - (0.62 - anat["body_w"]) * sig(Y - 0.2, 0.12)
    body = sig(body_hw - d, 0.01)
    A = (0.50 + 0.08 * d) * body  # chest wall thicker laterally
    for sgn in (-1, 1):  # humeral heads
        A += 0.16 * sig(0.06 - np.hypot(X - 0.5 - sgn * 0.47, Y - 0.15), 0.012)
    hw = anat["heart_w"] * anat.get("heart_scale", 1.0)
    heart = heart_mask(X, Y, anat | {"heart_w": hw})
    med = sig(0.045 + 0.015 * sig(Y - 0.3, 0.05) - d, 0.006) * sig(heart_centre(anat)[1] - Y, 0.02) * sig(Y - 0.02, 0.01)
    lr, ll = (lung_mask(X, Y, lung_frame(anat, s)) for s in ("right", "left"))
    cut = 1.0 - np.maximum(heart, med)
    lr, ll = lr * cut, ll * cut
    lung = lr + ll
    A -= 0.33 * lung * anat.get("lucency", 1.0)
    A += 0.05 * heart * (1.0 - d * 2)  # heart thicker centrally
    A += 0.05 * sig(0.03 - np.hypot(X - 0.55, Y - 0.33), 0.006)  # aortic knob
    A -= 0.12 * sig(0.012 - d, 0.003) * sig(0.32 - Y, 0.02)  # trachea (air)
    fl = lung_frame(anat, "left")
    A += 0.10 * body * sig(Y - fl["base"] + 0.03, 0.03)  # abdomen below the domes
    A -= 0.14 * sig(1 - ((X - fl["x_dome"]) / 0.045) ** 2 - ((Y - fl["dome"] - 0.04) / 0.025) ** 2, 0.1)
    # spine with vertebral bodies and disc spaces
    spine = sig(0.032 - d, 0.004) * (0.75 + 0.25 * np.cos(2 * np.pi * Y / 0.052) ** 2)
    A += 0.13 * spine * sig(Y - 0.02, 0.01)
    # posterior ribs (one periodic expression for all of them) and fainter anterior ribs
    phase = (Y - anat["rib_y0"] + 0.25 * d - 1.1 * d * d) / anat["rib_sp"]
    ribs = (0.5 + 0.5 * np.cos(2 * np.pi * phase)) ** 6 * sig(d - 0.04, 0.01)
    ribs *= sig(body_hw - 0.03 - d, 0.01) * sig(anat["lung_base"] + 0.02 - Y, 0.02) * sig(Y - 0.08, 0.01)
    ant = (0.5 + 0.5 * np.cos(2 * np.pi * (Y - 0.18 - 0.45 * d) / (1.25 * anat["rib_sp"]))) ** 10
    ant *= sig(d - 0.12, 0.02) * sig(0.42 - d, 0.03) * sig(0.62 - Y, 0.03)
    A += 0.06 * ribs + 0.03 * ant * sig(Y - 0.1, 0.01)
    for sgn in (-1, 1):  # clavicles
        p0 = (0.5 + sgn * 0.04, anat["clav_y"] + 0.02)
        p1 = (0.5 + sgn * 0.29, anat["clav_y"] - 0.03)
        A += 0.14 * _segment_band(X, Y, p0, p1, 0.011)
    if anat["breast"]:
        for sgn in (-1, 1):
            e = ((X - 0.5 - sgn * 0.26) / 0.17) ** 2 + ((Y - 0.70) / 0.13) ** 2
            A += 0.06 * sig(1 - e, 0.3) * sig(Y - 0.64, 0.04)
    hila = sum(sig(0.035 - np.hypot(X - 0.5 - s * 0.085, Y - 0.45), 0.03) for s in (-1, 1))
    A += 0.06 * hila + 0.05 * lung * sig(Y - 0.45, 0.3)  # denser bases
    markings = sum(vessel_texture(X, Y, (0.5 + s * 0.08, 0.46), rng) for s in (-1, 1))
    markings = 0.10 * anat["vessel"] * markings * lung * anat.get("marking_gain", 1.0)
    return {"A": A.astype(np.float32), "markings": markings.astype(np.float32), "lung": lung,
            "lung_right": lr, "lung_left": ll, "heart": heart, "body": body}
