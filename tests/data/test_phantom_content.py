"""What the phantom draws and says: prevalences, co-occurrence, severity → size/contrast, shortcuts,
label noise and the report ↔ mention round trip."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from agcl.data.phantom.cohort import STREAM_REPORT, plan_cohort, stream
from agcl.data.phantom.render import footprint_box, render_image
from agcl.data.phantom.reports import SEVERITY_WORDS, write_report
from agcl.data.phantom.spec import TARGET_PREVALENCE, PhantomSpec
from agcl.labels import LABELS

TERMS = {
    "Atelectasis": ("atelectasis",), "Cardiomegaly": ("cardiomegaly", "heart is", "cardiac silhouette"),
    "Effusion": ("effusion",), "Infiltration": ("infiltrate",), "Mass": ("mass",), "Nodule": ("nodule",),
    "Pneumonia": ("pneumonia",), "Pneumothorax": ("pneumothorax",), "Consolidation": ("consolidation",),
    "Edema": ("edema", "vascular congestion"), "Emphysema": ("emphysema",), "Fibrosis": ("fibrosis",),
    "Pleural_Thickening": ("pleural thickening",), "Hernia": ("hiatal hernia",),
}


@pytest.fixture(scope="module")
def plans():
    """The plan of the default 3,000-image phantom (planning only; no pixels)."""
    return plan_cohort(PhantomSpec(n=3000), seed=0)


def _has(plans, label):
    return np.array([any(les.label == label for les in p.lesions) for p in plans])


def test_prevalence_shape_and_no_finding(plans) -> None:
    no_finding = np.mean([not p.lesions for p in plans])
    assert 0.38 <= no_finding <= 0.55
    for label in LABELS:
        prev = _has(plans, label).mean()
        assert 0.6 * TARGET_PREVALENCE[label] < prev < 1.5 * TARGET_PREVALENCE[label], (label, prev)
    # ChestX-ray14's ordering at the extremes
    assert _has(plans, "Infiltration").mean() > _has(plans, "Nodule").mean() > _has(plans, "Hernia").mean()


def test_every_class_has_enough_train_positives_at_3000(plans) -> None:
    for label in LABELS:
        n_train = sum(label in p.labels and p.split == "train" for p in plans)
        assert n_train >= 40, (label, n_train)


def test_cooccurrence(plans) -> None:
    cm, ed, eff = _has(plans, "Cardiomegaly"), _has(plans, "Edema"), _has(plans, "Effusion")
    pn, co = _has(plans, "Pneumonia"), _has(plans, "Consolidation")
    assert ed[cm].mean() > 2 * ed[~cm].mean()
    assert eff[ed].mean() > 2 * eff[~ed].mean()
    assert co[pn].mean() > 2 * co[~pn].mean()
    n_findings = np.array([len(p.lesions) for p in plans])
    assert (n_findings >= 2).mean() > 0.1  # overlapping findings are common


def test_followups_share_anatomy(plans) -> None:
    by_patient: dict[int, list] = {}
    for p in plans:
        by_patient.setdefault(p.patient, []).append(p)
    multi = [v for v in by_patient.values() if len(v) > 1]
    assert len(multi) > 300
    for v in multi[:50]:
        assert len({round(p.anatomy["lung_w"], 9) for p in v}) == 1  # same patient anatomy
        assert len({round(p.anatomy["rot"], 9) for p in v}) == len(v)  # different pose


def test_label_noise_rate(plans) -> None:
    spec = PhantomSpec()
    n_true = sum(len(p.lesions) for p in plans)
    missed = sum(len(p.missed) for p in plans) / n_true
    extra = sum(len(p.extra) for p in plans) / len(plans)
    assert 0.5 * spec.label_miss_rate < missed < 1.6 * spec.label_miss_rate
    assert 0.5 * spec.label_extra_rate < extra < 1.6 * spec.label_extra_rate
    assert all(set(p.labels) == (set(p.true_labels) - set(p.missed)) | set(p.extra) for p in plans)


def test_shortcuts_correlated_not_perfect(plans) -> None:
    drain = np.array(["chest_drain" in p.shortcuts for p in plans])
    ptx = _has(plans, "Pneumothorax")
    assert 0.4 < drain[ptx].mean() < 0.9 and drain[~ptx].mean() < 0.1
    pm = np.array(["pacemaker" in p.shortcuts for p in plans])
    cm = _has(plans, "Cardiomegaly")
    assert 0.25 < pm[cm].mean() < 0.7 and pm[~cm].mean() < 0.1
    ap = np.array([p.view == "AP" for p in plans])
    sick = np.array([len(p.lesions) > 0 for p in plans])
    assert ap[sick].mean() > 1.5 * ap[~sick].mean() and ap[~sick].mean() > 0.05
    exposure = np.array([p.exposure for p in plans])
    assert exposure[sick].mean() < exposure[~sick].mean()


def _visibility(label: str, severity: str, bases) -> tuple[float, float, float]:
    """Mean |Δ grey| inside the truth box, box area and integrated |Δ| of one lesion, over base patients."""
    spec = PhantomSpec(n=1, size=64)
    contrast, area, energy = [], [], []
    for base, les in bases:
        plan = copy.deepcopy(base)
        lesion = copy.deepcopy(les)
        lesion.severity = severity
        lesion.params.update(size_jitter=1.0, contrast_jitter=1.0)
        plan.lesions, plan.shortcuts = [lesion], {}
        with_l, boxes = render_image(plan, spec, 0, with_devices=False)
        without, _ = render_image(plan, spec, 0, with_lesions=False, with_devices=False)
        diff = np.abs(with_l.astype(float) - without.astype(float))
        x0, y0, x1, y1 = (int(round(v)) for v in boxes[label])
        contrast.append(diff[y0:y1, x0:x1].mean())
        area.append((x1 - x0) * (y1 - y0))
        energy.append(diff.sum())
    return float(np.mean(contrast)), float(np.mean(area)), float(np.mean(energy))


@pytest.mark.parametrize("label", LABELS)
def test_severity_drives_size_and_contrast(label: str, plans) -> None:
    """Severe lesions are bigger and/or denser than mild ones (AGCL's premise), measured on the pixels."""
    with_label = [p for p in plans if any(les.label == label for les in p.lesions)][:3]
    bases = [(p, next(les for les in p.lesions if les.label == label)) for p in with_label]
    mild, moderate, severe = (_visibility(label, s, bases) for s in ("mild", "moderate", "severe"))
    assert mild[2] < moderate[2] < severe[2]  # integrated visibility strictly increases
    assert mild[0] < severe[0] or mild[1] < severe[1]  # denser or larger
    if label not in ("Cardiomegaly", "Emphysema", "Fibrosis", "Edema"):  # diffuse/geometric findings
        assert mild[0] < severe[0], (label, mild, severe)


def test_footprint_box_edges() -> None:
    foot = np.zeros((8, 8))
    foot[2:4, 5:7] = 1.0
    assert footprint_box(foot, 2.0) == (10.0, 4.0, 14.0, 8.0)
    assert footprint_box(np.zeros((4, 4)), 1.0) is None


def test_reports_state_mentions(plans) -> None:
    """Each true lesion is mentioned (positive or uncertain) with its true severity; negations only hit
    absent findings; severity words appear in about a quarter of positive mentions."""
    spec = PhantomSpec()
    n_pos = n_sev = 0
    for p in plans[:1200]:
        text, rows = write_report(p, stream(0, STREAM_REPORT, p.index), severity_word_rate=spec.severity_word_rate,
                                  uncertain_rate=spec.uncertain_rate)
        stated = {lab: (st, sev) for lab, st, sev in rows}
        assert len(stated) == len(rows)
        truth = {les.label: les.severity for les in p.lesions}
        for label, severity in truth.items():
            status, sev = stated[label]
            assert status in ("positive", "uncertain")
            if status == "positive":
                n_pos += 1
                if sev != "none":
                    n_sev += 1
                    assert sev == severity
                    words = [w for kind in SEVERITY_WORDS.values() for w in kind[sev]]
                    assert any(w in text.lower() for w in words), text
        sentences = [x.lower() for x in text.replace("IMPRESSION:", ". ").replace("FINDINGS:", ". ").split(". ")]
        for label, (status, _) in stated.items():
            if label == "Cardiomegaly" and status == "negative" and "silhouette is within normal limits" in text:
                continue  # a statement of normal heart size is the negative Cardiomegaly mention
            hits = [x for x in sentences if any(t in x for t in TERMS[label])]
            assert hits, (label, text)  # the finding is named in the text
            if status == "negative":
                assert label not in truth
                assert any(x.startswith(("no ", "there is no ")) for x in hits), (label, text)
            elif status == "uncertain":
                assert any(c in x for x in hits for c in ("possible", "cannot", "may represent")), (label, text)
        if not p.lesions:
            assert all(st != "positive" for st, _ in stated.values())
    assert 0.18 < n_sev / n_pos < 0.32


def test_exposure_shortcut_knob_decouples_exposure() -> None:
    """exposure_shortcut=0 keeps view/devices but makes exposure independent of the findings."""
    plans0 = plan_cohort(PhantomSpec(n=1500, exposure_shortcut=0.0), seed=0)
    n_lesions = np.array([len(p.lesions) for p in plans0])
    exposure = np.array([p.exposure for p in plans0])
    ap = np.array([p.view == "AP" for p in plans0])
    assert abs(np.corrcoef(n_lesions, exposure)[0, 1]) < 0.08
    assert abs(exposure[ap].mean() - exposure[~ap].mean()) < 0.015
    coupled = plan_cohort(PhantomSpec(n=1500), seed=0)
    exp1 = np.array([p.exposure for p in coupled])
    assert np.corrcoef(np.array([len(p.lesions) for p in coupled]), exp1)[0, 1] < -0.2
