"""Named phantom profiles: presets of :class:`PhantomSpec` fields (docs/phantom.md, "Profiles").

- ``calibrated`` (the default of ``agcl synth`` and the demo): shortcuts at realistic strength — devices,
  portable markers and AP views still go with disease, exposure barely — faint mild and conspicuous
  moderate/severe findings, and per-class contrast and box sizes, chosen from the baseline (BSL, paper
  §2.1) alone, trained with the demo recipe, toward the AGCL paper's Table 1 BSL row and Wang et al.
  2017's per-class localization. What it reaches, and what not: docs/phantom.md, "Calibration" (harness
  ``benchmarks/phantom_calibrate.py``).
- ``shortcuts``: the phantom as first shipped (the :class:`PhantomSpec` field defaults), where
  devices, markers, AP view and an exposure shortcut (sicker images are whiter) dominate the lesions.
  A stress arm: byte-identical to the earlier ``agcl synth`` output for the same seed.
"""

from __future__ import annotations

from dataclasses import replace

from agcl.config.loader import did_you_mean
from agcl.data.phantom.spec import PhantomSpec

DEFAULT_PROFILE = "calibrated"

#: Field values of each profile; fields not named keep the PhantomSpec defaults.
PROFILES: dict[str, dict[str, object]] = {
    "calibrated": {
        # shortcuts at realistic strength: devices, markers and AP views still follow disease
        "exposure_shortcut": 0.25,
        "device_rate": 0.25,
        "marker_rate": 0.3,
        "view_shortcut": 0.6,
        # NLP-like label noise closer to ChestX-ray14's
        "label_miss_rate": 0.12,
        "label_extra_rate": 0.08,
        # mild findings stay faint and small; moderate and severe ones are conspicuous
        "lesion_contrast": 1.5,
        "severity_contrast": (0.12, 1.8, 2.2),
        "severity_size": (0.5, 1.1, 1.3),
        # per class: contrast from the baseline's held-out AUC on a calibration phantom, size from the median
        # NIH box (BBox_List_2017.csv)
        "class_contrast": (("Atelectasis", 0.38), ("Effusion", 1.0), ("Infiltration", 0.42), ("Mass", 0.42),
                           ("Nodule", 2.0), ("Pneumonia", 1.2), ("Pneumothorax", 3.2), ("Consolidation", 0.25),
                           ("Edema", 0.55), ("Emphysema", 1.3), ("Fibrosis", 0.6), ("Pleural_Thickening", 1.2),
                           ("Hernia", 0.6)),
        "class_size": (("Atelectasis", 2.5), ("Effusion", 0.85), ("Infiltration", 2.9), ("Mass", 1.1),
                       ("Nodule", 2.2), ("Pneumonia", 1.5), ("Cardiomegaly", 1.4)),
        # an enlarged heart grows in height too; normal hearts vary more; boxes as loose as NIH's
        "cardiomegaly_height": 1.0,
        "heart_spread": 0.1,
        "box_margin": (("Cardiomegaly", 0.13),),
    },
    "shortcuts": {},
}


def check_profile(name: str) -> str:
    """Return ``name`` if it is a profile; else raise ValueError with the choices and a suggestion."""
    if name not in PROFILES:
        raise ValueError(f"unknown phantom profile {name!r} (profiles: {', '.join(PROFILES)})"
                         f"{did_you_mean(name, list(PROFILES))}")
    return name


def phantom_spec(profile: str = DEFAULT_PROFILE, **fields: object) -> PhantomSpec:
    """The spec of a named profile, with ``fields`` (any PhantomSpec field) overriding the preset.

    The returned spec records ``profile`` (saved in ``truth/spec.json``). Raises ValueError for an
    unknown profile or field value.
    """
    preset = PROFILES[check_profile(profile)]
    return replace(PhantomSpec(), **{**preset, **fields, "profile": profile})
