"""The 14 findings: how each one changes the attenuation map, and where its truth box lies.

Each drawer returns ``(delta, footprint, marking_mult)``: attenuation added to the chest, the region the
truth box is drawn around, and a factor on the lung markings (air or fluid hides vessels). Severity sets
size (``sz``) and contrast (``ct``): severe lesions are large and dense, mild ones small and faint —
the premise of the severity curriculum (AGCL §2.2, Fig. 1). Findings that change organ geometry
(cardiomegaly, emphysema, volume loss) act through :func:`anatomy_modifiers` before the chest is drawn.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import map_coordinates

from agcl.data.phantom.anatomy import heart_centre, heart_mask, lung_frame, lung_mask, lung_point, sig
from agcl.data.phantom.cohort import Lesion
from agcl.data.phantom.spec import SEVERITIES, PhantomSpec

Result = tuple[np.ndarray, np.ndarray, np.ndarray | float]


def field(rng: np.random.Generator, X: np.ndarray, Y: np.ndarray, cells: int) -> np.ndarray:
    """Smooth random field (unit variance) sampled at canonical coordinates, so it moves with the patient."""
    grid = rng.standard_normal((cells + 3, cells + 3))
    return map_coordinates(grid, [Y * cells + 1, X * cells + 1], order=1, mode="nearest").astype(np.float32)


def _sides(les: Lesion) -> tuple[str, ...]:
    return ("right", "left") if les.side == "both" else (les.side,)


def _disk(X, Y, c, r, soft=0.25):
    return sig(r - np.hypot(X - c[0], Y - c[1]), soft * r)


def _nodule(les, X, Y, anat, L, rng, sz, ct) -> Result:
    c = lung_point(anat, les.side, les.params["a"], les.params["b"])
    r = 0.021 * sz
    dist = np.hypot(X - c[0], Y - c[1])
    d = 0.50 * ct * sig(r - dist, 0.35 * r) * (1.0 - 0.3 * np.clip(dist / r, 0, 1) ** 2)
    return d, d, 1.0


def _mass(les, X, Y, anat, L, rng, sz, ct) -> Result:
    c = lung_point(anat, les.side, les.params["a"], les.params["b"])
    th = np.arctan2(Y - c[1], X - c[0])
    p = rng.uniform(0, 2 * np.pi, 2)
    r = 0.055 * sz * (1 + 0.12 * np.cos(3 * th + p[0]) + 0.08 * np.cos(5 * th + p[1]))
    d = 0.30 * ct * sig(r - np.hypot(X - c[0], Y - c[1]), 0.01)
    return d, d, 1.0


def _effusion(les, X, Y, anat, L, rng, sz, ct) -> Result:
    f = lung_frame(anat, les.side)
    k = SEVERITIES.index(les.severity)
    h = (f["base"] - f["top"]) * (0.10, 0.26, 0.48)[k] * les.params["size_jitter"] * anat["effusion_size"]
    lat = np.clip(f["sgn"] * (X - f["cx"]) / f["w"], -1.0, 1.2)
    level = f["base"] - h - 0.3 * h * (lat + 1.0)  # meniscus: higher against the lateral wall
    hemi = lung_mask(X, Y, f | {"w": 1.06 * f["w"], "dome": f["dome"] + 0.02})  # hemithorax, not cut by the heart
    fluid = sig(Y - level, 0.03) * hemi
    return 0.22 * ct * fluid * (0.6 + 0.4 * sig(Y - level - 0.05, 0.1)), fluid, 1.0 - fluid


def _pneumothorax(les, X, Y, anat, L, rng, sz, ct) -> Result:
    f = lung_frame(anat, les.side)
    k = SEVERITIES.index(les.severity)
    wd = 0.022 * sz * (1.0, 1.3, 2.0)[k]
    inner = lung_mask(X, Y, f | {"w": f["w"] - wd, "top": f["top"] + 1.5 * wd, "cx": f["cx"] - f["sgn"] * 0.4 * wd})
    reach = f["top"] + (0.45, 0.7, 1.0)[k] * (f["base"] - f["top"])
    outer = L[f"lung_{les.side}"]
    rim = np.clip(outer - inner, 0, 1) * sig(reach - Y, 0.04)
    line = np.clip(inner * (1 - inner) * 4, 0, 1) * sig(reach - Y, 0.04)
    d = -0.09 * ct * rim + 0.10 * ct * line
    return d, np.maximum(rim, line), 1.0 - rim


def _cardiomegaly(les, X, Y, anat, L, rng, sz, ct) -> Result:
    foot = heart_mask(X, Y, anat | {"heart_w": anat["heart_w"] * anat["heart_scale"]})
    return np.zeros_like(X), foot, 1.0


def _edema(les, X, Y, anat, L, rng, sz, ct) -> Result:
    hy = 0.47
    r = 0.07 + 0.06 * sz
    haze = sum(np.exp(-((X - 0.5 - s * 0.1) ** 2 + (Y - hy) ** 2) / r**2) for s in (-1, 1))
    haze = haze * L["lung"] * (0.75 + 0.25 * field(rng, X, Y, 12))
    kerley = np.exp(-((field(rng, X, Y, 30)) / 0.15) ** 2) * sig(Y - 0.5, 0.1) * L["lung"]
    d = 0.13 * ct * haze + 0.05 * ct * kerley
    return d, haze, 1.0 - 0.4 * np.clip(haze, 0, 1)


def _emphysema(les, X, Y, anat, L, rng, sz, ct) -> Result:
    d = np.zeros_like(X)
    if les.severity != "mild":  # bullae in the upper zones
        for side in ("right", "left"):
            c = lung_point(anat, side, rng.uniform(0.05, 0.3), rng.uniform(0.4, 0.8))
            d -= 0.05 * ct * _disk(X, Y, c, 0.03 * sz) * L["lung"]
    return d, L["lung"], 1.0


def _atelectasis(les, X, Y, anat, L, rng, sz, ct) -> Result:
    c = lung_point(anat, les.side, les.params["a"], les.params["b"] * 0.7)
    t = np.deg2rad(les.params["angle"] * 0.5 - 8 * (1 if les.side == "right" else -1))
    u = (X - c[0]) * np.cos(t) + (Y - c[1]) * np.sin(t)
    v = -(X - c[0]) * np.sin(t) + (Y - c[1]) * np.cos(t)
    length, thick = 0.06 + 0.04 * sz, 0.006 + 0.012 * sz
    if les.severity == "severe":  # wedge: thicker medially
        thick = thick * (1.6 - 0.8 * np.clip(u / length, -1, 1))
    band = sig(1.0 - (u / length) ** 2 - (v / thick) ** 2, 0.5)
    d = 0.30 * ct * band * L[f"lung_{les.side}"]
    return d, d, 1.0


def _infiltration(les, X, Y, anat, L, rng, sz, ct) -> Result:
    c = lung_point(anat, les.side, les.params["a"], les.params["b"])
    r = 0.05 + 0.03 * sz
    blob = np.exp(-((X - c[0]) ** 2 + (Y - c[1]) ** 2) / r**2)
    patch = sig(field(rng, X, Y, 28) + 0.3, 1.2) * blob * L[f"lung_{les.side}"]
    return 0.20 * ct * patch, blob * L[f"lung_{les.side}"], 1.0


def _pneumonia(les, X, Y, anat, L, rng, sz, ct) -> Result:
    c = lung_point(anat, les.side, les.params["a"], les.params["b"] * 0.8)
    r = 0.06 + 0.05 * sz
    e = ((X - c[0]) / (1.2 * r)) ** 2 + ((Y - c[1]) / r) ** 2 + 0.25 * field(rng, X, Y, 10)
    region = sig(1.0 - e, 0.5) * L[f"lung_{les.side}"]
    d = 0.17 * ct * region * (0.85 + 0.15 * field(rng, X, Y, 24))
    return d, region, 1.0 - 0.7 * region


def _consolidation(les, X, Y, anat, L, rng, sz, ct) -> Result:
    c = lung_point(anat, les.side, les.params["a"], les.params["b"] * 0.8)
    r = 0.04 + 0.04 * sz
    region = sig(1.0 - ((X - c[0]) ** 2 + (Y - c[1]) ** 2) / r**2 - 0.2 * field(rng, X, Y, 12), 0.3)
    region = region * L[f"lung_{les.side}"]
    bronchi = np.exp(-(field(rng, X, Y, 14) / 0.18) ** 2)  # air bronchograms: dark tubular lines
    d = 0.30 * ct * region * (1.0 - 0.45 * bronchi)
    return d, region, 1.0 - region


def _fibrosis(les, X, Y, anat, L, rng, sz, ct) -> Result:
    net = np.exp(-(field(rng, X, Y, 36) / 0.12) ** 2) + np.exp(-(field(rng, X, Y, 36) / 0.12) ** 2)
    upper = sig((0.42 + 0.1 * sz) - Y, 0.08)
    d = 0.12 * ct * np.clip(net, 0, 1) * upper * L["lung"]
    return d, upper * L["lung"], 1.0


def _pleural_thickening(les, X, Y, anat, L, rng, sz, ct) -> Result:
    f = lung_frame(anat, les.side)
    wd = 0.009 + 0.014 * sz
    inner = lung_mask(X, Y, f | {"w": f["w"] - wd, "top": f["top"] + 1.5 * wd})
    a0 = les.params["a"] * 0.6
    y0, y1 = f["top"] + a0 * (f["base"] - f["top"]), f["top"] + (a0 + 0.35) * (f["base"] - f["top"])
    band = np.clip(L[f"lung_{les.side}"] - inner, 0, 1) * sig(Y - y0, 0.02) * sig(y1 - Y, 0.02)
    return 0.40 * ct * band, band, 1.0


def _hernia(les, X, Y, anat, L, rng, sz, ct) -> Result:
    hx, hy = heart_centre(anat)
    c = (hx - 0.01, hy + 0.35 * anat["heart_h"])
    r = 0.03 + 0.03 * sz
    disk = _disk(X, Y, c, r, 0.15)
    level = c[1] - 0.1 * r
    d = 0.20 * ct * disk * sig(Y - level, 0.004) - 0.18 * ct * disk * sig(level - Y, 0.004)
    return d, disk, 1.0


DRAWERS: dict[str, Callable[..., Result]] = {
    "Atelectasis": _atelectasis, "Cardiomegaly": _cardiomegaly, "Effusion": _effusion,
    "Infiltration": _infiltration, "Mass": _mass, "Nodule": _nodule, "Pneumonia": _pneumonia,
    "Pneumothorax": _pneumothorax, "Consolidation": _consolidation, "Edema": _edema,
    "Emphysema": _emphysema, "Fibrosis": _fibrosis, "Pleural_Thickening": _pleural_thickening,
    "Hernia": _hernia,
}


def strength(les: Lesion, spec: PhantomSpec) -> tuple[float, float]:
    """``(sz, ct)``: relative size and contrast of a lesion from its severity (+ jitter), times the
    spec's global contrast and its class factors (``class_size``, ``class_contrast``)."""
    k = SEVERITIES.index(les.severity)
    sz = spec.severity_size[k] * les.params["size_jitter"] * spec.class_factor("class_size", les.label)
    ct = (spec.severity_contrast[k] * les.params["contrast_jitter"] * spec.lesion_contrast
          * spec.class_factor("class_contrast", les.label))
    return sz, ct


def anatomy_modifiers(lesions: list[Lesion], spec: PhantomSpec, anatomy_lucency: float = 1.0) -> dict[str, float]:
    """Geometry changes caused by findings: enlarged heart, hyperinflation, volume loss."""
    mods: dict[str, float] = {"heart_scale": 1.0}
    for les in lesions:
        sz, ct = strength(les, spec)
        k = SEVERITIES.index(les.severity)
        if les.label == "Cardiomegaly":
            mods["heart_scale"] = (1.16, 1.28, 1.42)[k] * (0.97 + 0.06 * (les.params["size_jitter"] - 0.85) / 0.3)
            g = spec.class_factor("class_size", les.label)
            if g != 1.0:  # class_size scales the enlargement, not the heart
                mods["heart_scale"] = 1.0 + g * (mods["heart_scale"] - 1.0)
            if spec.cardiomegaly_height:
                mods["heart_h_scale"] = 1.0 + spec.cardiomegaly_height * (mods["heart_scale"] - 1.0)
        elif les.label == "Effusion":
            mods["effusion_size"] = spec.class_factor("class_size", les.label)  # fluid height (the drawer)
        elif les.label == "Emphysema":
            mods["lucency"] = anatomy_lucency * (1.0 + 0.12 * ct)
            mods["marking_gain"] = 1.0 - 0.25 * min(ct, 1.2)
            mods["dome_factor"] = (0.8, 0.55, 0.3)[k]
            for side in ("right", "left"):
                mods[f"base_shift_{side}"] = mods.get(f"base_shift_{side}", 0.0) + 0.012 * sz
        elif les.label == "Atelectasis" and les.severity != "mild":
            key = f"base_shift_{les.side}"
            mods[key] = mods.get(key, 0.0) - 0.02 * sz  # volume loss: the hemidiaphragm rises
    return mods
