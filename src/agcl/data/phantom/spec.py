"""The phantom's specification: every knob that shapes the synthetic dataset, frozen and hashable.

The phantom is a pure function of ``(seed, spec)`` (docs/phantom.md): two runs with equal specs
write byte-identical files. The spec is saved as ``truth/spec.json`` and compared on re-runs.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

from agcl.labels import LABELS

#: Bump when the drawing or sampling code changes what a given spec produces.
PHANTOM_VERSION = 1

SEVERITIES: tuple[str, ...] = ("mild", "moderate", "severe")

#: Target per-image prevalence (true lesions). Shaped like ChestX-ray14 (Infiltration > Effusion >
#: Atelectasis > ... > Hernia) but raised so every class has enough positives in a 3,000-image set.
TARGET_PREVALENCE: dict[str, float] = {
    "Atelectasis": 0.11,
    "Cardiomegaly": 0.055,
    "Effusion": 0.13,
    "Infiltration": 0.16,
    "Mass": 0.06,
    "Nodule": 0.07,
    "Pneumonia": 0.04,
    "Pneumothorax": 0.06,
    "Consolidation": 0.055,
    "Edema": 0.045,
    "Emphysema": 0.045,
    "Fibrosis": 0.04,
    "Pleural_Thickening": 0.05,
    "Hernia": 0.025,
}

#: Base logits of the per-image finding probabilities, fitted by Monte Carlo (benchmarks/bench_synth.py
#: ``--fit``) so that the sampled prevalences match TARGET_PREVALENCE and "No Finding" is ~45%.
BASE_LOGIT: dict[str, float] = {
    "Atelectasis": -2.61,
    "Cardiomegaly": -2.88,
    "Effusion": -2.18,
    "Infiltration": -1.82,
    "Mass": -2.75,
    "Nodule": -2.74,
    "Pneumonia": -3.29,
    "Pneumothorax": -2.98,
    "Consolidation": -3.08,
    "Edema": -3.44,
    "Emphysema": -3.09,
    "Fibrosis": -3.25,
    "Pleural_Thickening": -3.01,
    "Hernia": -3.74,
}

#: Findings that belong to the patient (persist over follow-ups); the rest are drawn per image.
CHRONIC: tuple[str, ...] = ("Cardiomegaly", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia", "Mass", "Nodule")
ACUTE: tuple[str, ...] = ("Edema", "Effusion", "Pneumonia", "Consolidation", "Infiltration", "Atelectasis", "Pneumothorax")
SAMPLING_ORDER: tuple[str, ...] = CHRONIC + ACUTE

#: Co-occurrence: a present ``source`` adds ``boost`` to the logit of ``target`` (sources come earlier
#: in SAMPLING_ORDER), mimicking ChestX-ray14's frequent pairs.
COOCCURRENCE: tuple[tuple[str, str, float], ...] = (
    ("Mass", "Nodule", 1.0),
    ("Fibrosis", "Pleural_Thickening", 1.2),
    ("Emphysema", "Pneumothorax", 1.2),
    ("Cardiomegaly", "Edema", 1.8),
    ("Cardiomegaly", "Effusion", 1.2),
    ("Edema", "Effusion", 1.2),
    ("Pneumonia", "Consolidation", 1.3),
    ("Pneumonia", "Infiltration", 1.0),
    ("Effusion", "Atelectasis", 1.2),
    ("Infiltration", "Atelectasis", 0.6),
)

#: P(mild, moderate, severe) per class; Nodule is mostly small (AGCL §3).
SEVERITY_DIST: dict[str, tuple[float, float, float]] = {
    name: (0.40, 0.35, 0.25) for name in LABELS
} | {
    "Nodule": (0.60, 0.30, 0.10),
    "Mass": (0.25, 0.40, 0.35),
    "Hernia": (0.30, 0.40, 0.30),
    "Pneumothorax": (0.40, 0.30, 0.30),
}


@dataclass(frozen=True)
class PhantomSpec:
    """Everything that determines a phantom besides the seed.

    Attributes:
        n: number of images.
        size: side of the square PNGs in pixels.
        render_size: anatomy and lesions are drawn at ``min(size, render_size)`` and resized (speed).
        test_fraction: share of images (whole patients) in ``test_list.txt`` (NIH: ~0.23).
        healthy_patient_fraction: patients whose every image is "No Finding".
        sickness_weight: weight of the patient's latent sickness on every finding logit (clusters findings).
        mean_followups: mean images per patient (geometric, capped at ``max_followups``).
        lesion_contrast: global multiplier on lesion attenuation (difficulty calibration).
        exposure_shortcut: strength of the exposure shortcut (AP view and each finding lower the
            exposure, so sicker images are whiter overall); 0 makes exposure independent of findings.
        device_rate: multiplier on the finding- and view-linked part of each device's probability
            (drain with pneumothorax/effusion, pacemaker with cardiomegaly/edema, central line and ECG
            leads with AP view and acute findings); the base rate every patient has is kept.
        marker_rate: multiplier on P(burnt-in "PORTABLE"/"AP"/"SUPINE" marker | AP view).
        view_shortcut: multiplier on how much acute findings and the patient's sickness raise P(AP
            view) (AP views magnify the heart, raise the clavicles and bring lines, leads and markers);
            0 makes the view independent of the findings.
        class_contrast: ``(label, factor)`` pairs multiplying one class's lesion contrast (absent = 1).
        class_size: ``(label, factor)`` pairs multiplying one class's lesion size (absent = 1); for
            Cardiomegaly it scales the enlargement of the heart, for Effusion the fluid height.
        box_margin: ``(label, fraction)`` pairs padding that class's truth box on every side by this
            fraction of its width and height, clipped to the image (hand-drawn NIH boxes enclose a
            finding loosely); absent = 0, the lesion's footprint.
        heart_spread: sd of a per-patient log-normal factor on the normal heart's size (wider normal
            variation makes mild cardiomegaly harder to tell from a large normal heart); 0 = none.
        cardiomegaly_height: share of cardiomegaly's (relative) widening of the heart that also
            raises its height (0: the heart only widens); the heart keeps resting on the diaphragm.
        severity_size: relative lesion size for mild/moderate/severe.
        severity_contrast: relative lesion contrast for mild/moderate/severe.
        label_miss_rate: P(a true finding is dropped from ``Finding Labels``).
        label_extra_rate: P(an image gets one spurious label).
        severity_word_rate: P(a positive report mention carries a severity word).
        uncertain_rate: P(a true finding is reported as uncertain instead of positive).
        bbox_test_only: boxes are written for test images only (as in NIH).
        profile: the named preset (:mod:`agcl.data.phantom.profiles`) this spec was built from;
            recorded in ``truth/spec.json`` beside every field. The field defaults are ``shortcuts``.
    """

    n: int = 3000
    size: int = 256
    render_size: int = 128
    test_fraction: float = 0.23
    healthy_patient_fraction: float = 0.04
    sickness_weight: float = 0.6
    mean_followups: float = 2.5
    max_followups: int = 8
    lesion_contrast: float = 1.0
    exposure_shortcut: float = 1.0
    severity_size: tuple[float, float, float] = (0.55, 0.85, 1.2)
    severity_contrast: tuple[float, float, float] = (0.38, 0.7, 1.2)
    label_miss_rate: float = 0.03
    label_extra_rate: float = 0.02
    severity_word_rate: float = 0.25
    uncertain_rate: float = 0.06
    bbox_test_only: bool = True
    device_rate: float = 1.0
    marker_rate: float = 1.0
    view_shortcut: float = 1.0
    class_contrast: tuple[tuple[str, float], ...] = ()
    class_size: tuple[tuple[str, float], ...] = ()
    box_margin: tuple[tuple[str, float], ...] = ()
    cardiomegaly_height: float = 0.0
    heart_spread: float = 0.0
    profile: str = "shortcuts"
    version: int = field(default=PHANTOM_VERSION)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.size < 32:
            raise ValueError(f"size must be >= 32 pixels, got {self.size}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        for name in ("lesion_contrast", "exposure_shortcut", "device_rate", "marker_rate", "view_shortcut",
                     "cardiomegaly_height", "heart_spread"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        for name, low, high in (("class_contrast", 0.0, math.inf), ("class_size", 0.0, math.inf),
                                ("box_margin", None, 1.0)):
            pairs = getattr(self, name)
            for label, value in pairs:
                if label not in LABELS:
                    raise ValueError(f"{name}: unknown label {label!r}")
                ok = math.isfinite(value) and value < high and (value > low if low is not None else value >= 0.0)
                if not ok:
                    bound = f"> {low:g}" if low is not None else f"in [0, {high:g})"
                    raise ValueError(f"{name}[{label}] must be a finite number {bound}, got {value}")
            if len({label for label, _ in pairs}) != len(pairs):
                raise ValueError(f"{name} names a label twice")

    def class_factor(self, name: str, label: str, default: float = 1.0) -> float:
        """The per-class value of ``label`` in ``class_contrast``, ``class_size`` or ``box_margin``."""
        return dict(getattr(self, name)).get(label, default)

    def to_dict(self, seed: int) -> dict:
        """The JSON-able description saved as ``truth/spec.json`` (seed included)."""
        d = asdict(self)
        for name in ("class_contrast", "class_size", "box_margin"):
            d[name] = dict(getattr(self, name))
        d["seed"] = int(seed)
        d["target_prevalence"] = TARGET_PREVALENCE
        d["severity_dist"] = {k: list(v) for k, v in SEVERITY_DIST.items()}
        return d

    def digest(self, seed: int) -> str:
        """A short hash of :meth:`to_dict`, used to recognise a previous phantom with the same spec."""
        blob = json.dumps(self.to_dict(seed), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
