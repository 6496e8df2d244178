"""Plan the cohort: patients, follow-ups, findings, severities, shortcuts, label noise and the split.

Everything random except pixel noise is decided here, cheaply and in one process, from per-patient and
per-image generators derived from ``(seed, purpose, index)`` with :class:`numpy.random.SeedSequence`.
The plan is then rendered image by image (possibly in parallel) without changing any decision.
Sides are the patient's: "right" is on the image's left (radiological convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agcl.data.phantom.spec import (
    BASE_LOGIT,
    CHRONIC,
    COOCCURRENCE,
    SAMPLING_ORDER,
    SEVERITIES,
    SEVERITY_DIST,
    PhantomSpec,
)
from agcl.labels import LABEL_INDEX, LABELS

# Purposes of the derived random streams (spawn_key[0]).
STREAM_PATIENT, STREAM_RENDER, STREAM_TEXTURE, STREAM_LESION, STREAM_SPLIT, STREAM_NOISE, STREAM_REPORT = range(7)
STREAM_HEART = 7  # per-patient heart-size spread (drawn only when spec.heart_spread > 0)
BILATERAL = {"Edema", "Emphysema", "Fibrosis", "Cardiomegaly", "Hernia"}


def stream(seed: int, purpose: int, index: int = 0) -> np.random.Generator:
    """An independent generator for one purpose and one index (image, patient, lesion)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(purpose, int(index))))


@dataclass
class Lesion:
    """One finding as drawn: canonical label, true severity and shape parameters (lung-relative)."""

    label: str
    severity: str
    side: str  # "right" | "left" | "both" (patient side)
    params: dict[str, float] = field(default_factory=dict)


@dataclass
class ImagePlan:
    """Every decision about one image except its pixel noise."""

    index: int
    patient: int
    follow_up: int
    age: int
    sex: str
    view: str
    exposure: float
    anatomy: dict[str, float]
    lesions: list[Lesion]
    shortcuts: dict[str, dict[str, float]]
    split: str = "train"
    labels: list[str] = field(default_factory=list)  # noisy Finding Labels
    missed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def image_id(self) -> str:
        return f"{self.patient:08d}_{self.follow_up:03d}.png"

    @property
    def true_labels(self) -> list[str]:
        return sorted({les.label for les in self.lesions}, key=LABEL_INDEX.__getitem__)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + np.exp(-x))


def _patient_anatomy(rng: np.random.Generator, sex: str) -> dict[str, float]:
    """Patient-level anatomy (canonical frame, fractions of the image side)."""
    return {
        "scale": rng.uniform(0.92, 1.04),
        "lung_w": rng.uniform(0.150, 0.180),
        "lung_top": rng.uniform(0.12, 0.16),
        "lung_base": rng.uniform(0.72, 0.78),
        "dome_rise": rng.uniform(0.06, 0.09),
        "heart_w": rng.uniform(0.135, 0.160),
        "heart_h": rng.uniform(0.095, 0.115),
        "heart_x": rng.uniform(0.04, 0.065),
        "body_w": rng.uniform(0.43, 0.48),
        "rib_sp": rng.uniform(0.058, 0.068),
        "rib_y0": rng.uniform(0.10, 0.13),
        "clav_y": rng.uniform(0.13, 0.16),
        "breast": 1.0 if sex == "F" else 0.0,
        "vessel": rng.uniform(0.8, 1.2),
        "lucency": rng.uniform(0.9, 1.1),  # normal variation of lung aeration
    }


def _pose(rng: np.random.Generator, anatomy: dict[str, float]) -> dict[str, float]:
    """Per-image pose and inspiration jitter around the patient's anatomy."""
    a = dict(anatomy)
    a["rot"] = rng.normal(0.0, 2.0)
    a["tx"] = rng.normal(0.0, 0.015)
    a["ty"] = rng.normal(0.0, 0.012)
    a["scale"] *= rng.uniform(0.98, 1.02)
    a["lung_base"] += rng.normal(0.0, 0.012)
    return a


def _lesion(rng: np.random.Generator, label: str) -> Lesion:
    sev = SEVERITIES[rng.choice(3, p=SEVERITY_DIST[label])]
    side = "both" if label in BILATERAL else ("right" if rng.random() < 0.5 else "left")
    params = {
        "a": rng.uniform(0.15, 0.85),  # apex (0) -> base (1)
        "b": rng.uniform(0.25, 0.85),  # medial (0) -> lateral (1)
        "angle": rng.uniform(-30.0, 30.0),
        "size_jitter": rng.uniform(0.85, 1.15),
        "contrast_jitter": rng.uniform(0.85, 1.15),
        "tex": float(rng.integers(0, 2**31 - 1)),
    }
    if label in ("Atelectasis", "Pneumonia", "Consolidation"):
        params["a"] = rng.uniform(0.5, 0.85)
    elif label == "Mass":
        params["a"] = rng.uniform(0.2, 0.7)
    return Lesion(label, sev, side, params)


def _evolve(rng: np.random.Generator, les: Lesion) -> Lesion:
    """A chronic lesion at a follow-up: same place, severity drifts by one step now and then."""
    k = SEVERITIES.index(les.severity)
    if rng.random() < 0.15:
        k = int(np.clip(k + rng.choice([-1, 1]), 0, 2))
    return Lesion(les.label, SEVERITIES[k], les.side, dict(les.params))


def _findings(
    rng: np.random.Generator, z: float, spec: PhantomSpec, chronic: dict[str, Lesion]
) -> list[Lesion]:
    """Sample one image's lesions: chronic ones carried over, acute ones drawn with co-occurrence boosts."""
    present: dict[str, Lesion] = {}
    for label in SAMPLING_ORDER:
        if label in CHRONIC:
            if label in chronic and rng.random() < 0.9:
                present[label] = _evolve(rng, chronic[label])
            continue
        logit = BASE_LOGIT[label] + spec.sickness_weight * z
        logit += sum(b for s, t, b in COOCCURRENCE if t == label and s in present)
        if rng.random() < _sigmoid(logit):
            present[label] = _lesion(rng, label)
    return [present[k] for k in LABELS if k in present]


def _shortcuts(rng: np.random.Generator, lesions: list[Lesion], z: float,
               spec: PhantomSpec) -> tuple[str, float, dict]:
    """View, exposure and devices: correlated with the findings, never determined by them
    (docs/phantom.md, "Shortcuts"). ``spec.device_rate`` and ``spec.marker_rate`` scale the
    finding/view-linked part of each probability and ``spec.view_shortcut`` how much sickness raises
    P(AP view) (1.0: the rates of the ``shortcuts`` profile)."""
    by = {les.label: les for les in lesions}
    n_acute = sum(1 for les in lesions if les.label not in CHRONIC)
    r = spec.device_rate
    v = spec.view_shortcut
    ap = rng.random() < _sigmoid(-1.8 + v * 0.9 * n_acute + v * 0.5 * z)  # sicker → more often AP
    shift = spec.exposure_shortcut * (0.12 * ap + 0.03 * len(lesions))  # sicker / AP → lower exposure
    exposure = float(np.clip(rng.normal(1.0, 0.08) - shift, 0.6, 1.25))
    sc: dict[str, dict[str, float]] = {}

    def side_of(*labels: str) -> float:
        for lab in labels:
            if lab in by and by[lab].side in ("right", "left"):
                return 0.0 if by[lab].side == "right" else 1.0
        return float(rng.random() < 0.5)

    p_drain = 0.015  # the base rate of a device, then its finding/view-linked rate (× device_rate)
    if "Pneumothorax" in by:
        p_drain = max(p_drain, (0.75 if by["Pneumothorax"].severity == "severe" else 0.55) * r)
    elif "Effusion" in by and by["Effusion"].severity != "mild":
        p_drain = max(p_drain, 0.15 * r)
    if rng.random() < p_drain:
        sc["chest_drain"] = {"left": side_of("Pneumothorax", "Effusion"), "curve": rng.uniform(-1, 1)}
    p_pm = max(0.02, (0.45 if "Cardiomegaly" in by else 0.3 if "Edema" in by else 0.0) * r)
    if rng.random() < p_pm:
        sc["pacemaker"] = {"left": float(rng.random() < 0.85), "dy": rng.uniform(-0.02, 0.03)}
    if rng.random() < 0.05 + 0.25 * ap * r + 0.05 * n_acute * r:
        sc["central_line"] = {"left": float(rng.random() < 0.3), "depth": rng.uniform(0.0, 0.06)}
    if rng.random() < 0.10 + 0.5 * ap * r:
        sc["ecg_leads"] = {"n": float(rng.integers(2, 5)), "tex": float(rng.integers(0, 2**31 - 1))}
    if rng.random() < (0.75 * spec.marker_rate if ap else 0.03):
        sc["text_marker"] = {"corner": float(rng.integers(0, 2)), "word": float(rng.integers(0, 3))}
    if ap:
        sc["ap_view"] = {}
    if exposure < 0.85:
        sc["low_exposure"] = {"exposure": exposure}
    return ("AP" if ap else "PA"), exposure, sc


def plan_cohort(spec: PhantomSpec, seed: int) -> list[ImagePlan]:
    """Plan ``spec.n`` images: patients with follow-ups, findings, shortcuts, noisy labels and the split."""
    plans: list[ImagePlan] = []
    patient = 0
    p_more = 1.0 - 1.0 / spec.mean_followups
    while len(plans) < spec.n:
        patient += 1
        rng = stream(seed, STREAM_PATIENT, patient)
        sex = "M" if rng.random() < 0.56 else "F"
        age = int(np.clip(rng.normal(50, 17), 2, 90))
        k = 1
        while k < spec.max_followups and rng.random() < p_more:
            k += 1
        healthy = rng.random() < spec.healthy_patient_fraction
        z = float(rng.normal())
        anatomy = _patient_anatomy(rng, sex)
        if spec.heart_spread:  # own stream: the other decisions do not move
            f = float(np.exp(stream(seed, STREAM_HEART, patient).normal(0.0, spec.heart_spread)))
            anatomy["heart_w"] *= f
            anatomy["heart_h"] *= f
        chronic: dict[str, Lesion] = {}
        if not healthy:
            for label in CHRONIC:
                logit = BASE_LOGIT[label] + spec.sickness_weight * z
                logit += sum(b for s, t, b in COOCCURRENCE if t == label and s in chronic)
                if rng.random() < _sigmoid(logit):
                    chronic[label] = _lesion(rng, label)
        for fu in range(min(k, spec.n - len(plans))):
            lesions = [] if healthy else _findings(rng, z + rng.normal(0, 0.3), spec, chronic)
            view, exposure, sc = _shortcuts(rng, lesions, z, spec)
            plans.append(
                ImagePlan(len(plans), patient, fu, min(age + fu // 2, 95), sex, view, exposure,
                          _pose(rng, anatomy) | {"tex": float(patient)}, lesions, sc)
            )
    _assign_split(plans, spec, seed)
    for plan in plans:
        _noisy_labels(plan, spec, seed)
    return plans


def _assign_split(plans: list[ImagePlan], spec: PhantomSpec, seed: int) -> None:
    """Patient-level split: whole patients go to test until ``test_fraction`` of the images is reached."""
    patients = sorted({p.patient for p in plans})
    counts = {pid: 0 for pid in patients}
    for p in plans:
        counts[p.patient] += 1
    order = stream(seed, STREAM_SPLIT).permutation(len(patients))
    target, n_test, test = spec.test_fraction * len(plans), 0, set()
    for i in order:
        pid = patients[i]
        if n_test + counts[pid] / 2 > target:
            continue
        test.add(pid)
        n_test += counts[pid]
    for p in plans:
        p.split = "test" if p.patient in test else "train"


def _noisy_labels(plan: ImagePlan, spec: PhantomSpec, seed: int) -> None:
    """NLP-like label noise: drop a true label now and then, add a spurious one to a few images."""
    rng = stream(seed, STREAM_NOISE, plan.index)
    truth = plan.true_labels
    keep = [lab for lab in truth if rng.random() >= spec.label_miss_rate]
    plan.missed = [lab for lab in truth if lab not in keep]
    if rng.random() < spec.label_extra_rate:
        absent = [lab for lab in LABELS if lab not in truth]
        weights = np.array([_sigmoid(BASE_LOGIT[lab]) for lab in absent])
        plan.extra = [absent[rng.choice(len(absent), p=weights / weights.sum())]]
    plan.labels = sorted(set(keep) | set(plan.extra), key=LABEL_INDEX.__getitem__)
