"""Free-text radiology reports for phantom images, with the mentions they state (the miner's ground truth).

Reports vary in layout (FINDINGS + IMPRESSION, impression only, one paragraph), phrasing (several
templates per finding, ChestX-ray14 terms or obvious synonyms) and sentence order. Positive mentions carry
a severity word from the AGCL groups (§1: [minimal, tiny, small, mild], [middle-size, moderate],
[remarkable, large, severe]) in about ``spec.severity_word_rate`` of cases, always the lesion's true
severity and attached to its finding. Negations ("No pneumothorax.", lists), uncertain mentions
("Possible ...", "cannot be excluded") and distractor sentences whose severity words are about something
else ("Mild degenerative changes of the spine.") are mixed in. Every mention is returned as
``(label, status, severity)``; distractors, devices and indications mention no finding.
"""

from __future__ import annotations

import numpy as np

from agcl.data.phantom.cohort import ImagePlan, Lesion

#: Severity words used in positive mentions, by (kind, severity). "size" findings take size adjectives.
SEVERITY_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "size": {"mild": ("small", "tiny", "minimal"), "moderate": ("moderate", "middle-size"),
             "severe": ("large",)},
    "degree": {"mild": ("mild", "minimal"), "moderate": ("moderate",), "severe": ("severe", "remarkable")},
    "adverb": {"mild": ("mildly",), "moderate": ("moderately",), "severe": ("severely",)},
}
SIZE_KIND = {"Effusion", "Pneumothorax", "Nodule", "Mass", "Hernia"}

#: Positive templates: {s} = severity word + space (or ""), {side}, {zone}. Cardiomegaly's second
#: template uses an adverb ({adv}).
POSITIVE: dict[str, tuple[str, ...]] = {
    "Atelectasis": ("{s}{side} basilar atelectasis.", "There is {s}atelectasis at the {side} lung base.",
                    "{s}platelike atelectasis in the {side} lower lobe."),
    "Cardiomegaly": ("{s}cardiomegaly.", "The heart is {adv}enlarged.", "{s}enlargement of the cardiac silhouette."),
    "Effusion": ("{s}{side} pleural effusion.", "There is a {s}{side} pleural effusion.",
                 "Blunting of the {side} costophrenic angle due to a {s}pleural effusion."),
    "Infiltration": ("{s}patchy infiltrate in the {side} {zone} lung.", "There is a {s}{side} {zone} lung infiltrate."),
    "Mass": ("There is a {s}mass in the {side} {zone} lung.", "{s}{side} lung mass."),
    "Nodule": ("{s}pulmonary nodule in the {side} {zone} lung.",
               "There is a {s}nodule projecting over the {side} {zone} lung."),
    "Pneumonia": ("{s}{side} lower lobe pneumonia.", "Findings are consistent with {s}pneumonia in the {side} lung."),
    "Pneumothorax": ("{s}{side} pneumothorax.", "There is a {s}{side} apical pneumothorax."),
    "Consolidation": ("{s}consolidation in the {side} {zone} lung.", "There is {s}airspace consolidation in the {side} {zone} lung."),
    "Edema": ("{s}pulmonary edema.", "{s}interstitial pulmonary edema.", "{s}pulmonary vascular congestion."),
    "Emphysema": ("{s}emphysema.", "The lungs are hyperinflated, consistent with {s}emphysema."),
    "Fibrosis": ("{s}pulmonary fibrosis in both upper lobes.", "{s}bilateral upper lobe fibrosis."),
    "Pleural_Thickening": ("{s}{side} pleural thickening.", "{s}{side} apical pleural thickening."),
    "Hernia": ("{s}hiatal hernia.", "There is a {s}hiatal hernia.",
               "Retrocardiac air-fluid level consistent with a {s}hiatal hernia."),
}
#: Noun phrases for negations, uncertain mentions and the impression.
NOUN: dict[str, str] = {
    "Atelectasis": "atelectasis", "Cardiomegaly": "cardiomegaly", "Effusion": "pleural effusion",
    "Infiltration": "focal infiltrate", "Mass": "lung mass", "Nodule": "pulmonary nodule",
    "Pneumonia": "pneumonia", "Pneumothorax": "pneumothorax", "Consolidation": "focal consolidation",
    "Edema": "pulmonary edema", "Emphysema": "emphysema", "Fibrosis": "pulmonary fibrosis",
    "Pleural_Thickening": "pleural thickening", "Hernia": "hiatal hernia",
}
NEGATABLE = ("Pneumothorax", "Effusion", "Consolidation", "Edema", "Pneumonia", "Cardiomegaly", "Nodule",
             "Mass", "Infiltration")
UNCERTAIN = ("Possible {n}.", "{N} cannot be excluded.", "Cannot exclude {n}.", "Findings may represent {n}.")
DISTRACTORS = ("Mild degenerative changes of the thoracic spine.", "Minimal dextroscoliosis of the thoracic spine.",
               "Severe degenerative changes of both shoulders.", "Small surgical clips in the upper abdomen.",
               "Moderate degenerative changes of the acromioclavicular joints.")
INDICATIONS = ("Cough.", "Shortness of breath.", "Fever.", "Chest pain.", "Preoperative evaluation.", "Weakness.")
DEVICES = {
    "chest_drain": "{Side} chest tube in place.",
    "pacemaker": "Left-sided pacemaker with leads in the right atrium and right ventricle.",
    "central_line": "Central venous catheter with tip in the superior vena cava.",
    "ecg_leads": "Overlying ECG leads.",
}


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _zone(a: float) -> str:
    return "upper" if a < 0.4 else "mid" if a < 0.65 else "lower"


def _positive(les: Lesion, rng: np.random.Generator, rate: float) -> tuple[str, str]:
    """One positive sentence and the severity it states (``none`` without a severity word)."""
    with_sev = rng.random() < rate
    tmpl = POSITIVE[les.label][rng.integers(len(POSITIVE[les.label]))]
    kind = "size" if les.label in SIZE_KIND else "degree"
    words = SEVERITY_WORDS[kind][les.severity]
    word = words[rng.integers(len(words))]
    adv = SEVERITY_WORDS["adverb"][les.severity][0]
    side = {"right": "right", "left": "left"}.get(les.side, "bilateral")
    text = tmpl.format(s=f"{word} " if with_sev else "", adv=f"{adv} " if with_sev else "", side=side,
                       zone=_zone(les.params.get("a", 0.5)))
    return _cap(text.replace("  ", " ")), (les.severity if with_sev else "none")


def _negations(labels: list[str], rng: np.random.Generator) -> list[str]:
    """Negated findings as single sentences or one list sentence ("No A, B or large pleural effusion.")."""
    nouns = [("large pleural effusion" if lab == "Effusion" and rng.random() < 0.4 else NOUN[lab]) for lab in labels]
    if len(nouns) >= 2 and rng.random() < 0.6:
        return [f"No {', '.join(nouns[:-1])} or {nouns[-1]}."]
    forms = ("No {n}.", "There is no {n}.", "No evidence of {n}.")
    return [forms[rng.integers(3)].format(n=n) for n in nouns]


def write_report(plan: ImagePlan, rng: np.random.Generator, *, severity_word_rate: float,
                 uncertain_rate: float) -> tuple[str, list[tuple[str, str, str]]]:
    """Write the report of one image and list its mentions ``(label, status, severity)``."""
    mentions: dict[str, tuple[str, str]] = {}
    positives: list[str] = []
    for les in plan.lesions:
        if les.severity != "severe" and rng.random() < uncertain_rate:
            tmpl = UNCERTAIN[rng.integers(len(UNCERTAIN))]
            positives.append(tmpl.format(n=NOUN[les.label], N=_cap(NOUN[les.label])))
            mentions[les.label] = ("uncertain", "none")
        else:
            sentence, sev = _positive(les, rng, severity_word_rate)
            positives.append(sentence)
            mentions[les.label] = ("positive", sev)
    present = {les.label for les in plan.lesions}
    absent = [lab for lab in NEGATABLE if lab not in present]
    k = int(rng.integers(1, 4)) if absent else 0
    negated = [absent[i] for i in sorted(rng.choice(len(absent), size=min(k, len(absent)), replace=False))]
    negatives = _negations(negated, rng)
    mentions |= {lab: ("negative", "none") for lab in negated}
    rest = [lab for lab in absent if lab not in negated and lab in ("Pneumonia", "Pneumothorax", "Nodule")]
    if rest and plan.lesions and rng.random() < 0.08:
        lab = rest[rng.integers(len(rest))]
        positives.append(UNCERTAIN[rng.integers(len(UNCERTAIN))].format(n=NOUN[lab], N=_cap(NOUN[lab])))
        mentions[lab] = ("uncertain", "none")
    order = rng.permutation(len(positives))
    findings = [positives[i] for i in order]
    devices = [DEVICES[name].format(Side="Left" if plan.shortcuts[name].get("left") else "Right")
               for name in DEVICES if name in plan.shortcuts]
    if not plan.lesions:
        findings.insert(0, ("The lungs are clear.", "Lungs are clear bilaterally.")[rng.integers(2)])
        findings.append("The cardiomediastinal silhouette is within normal limits.")
        # A normal-heart statement is a negative Cardiomegaly mention (report-mining spec).
        mentions["Cardiomegaly"] = ("negative", "none")
    if rng.random() < 0.3:
        findings.append(DISTRACTORS[rng.integers(len(DISTRACTORS))])
    body = devices + findings + negatives
    sure = [les for les in plan.lesions if mentions[les.label][0] == "positive"]
    if sure:
        nouns = [(f"{les.side} " if les.side in ("right", "left") else "") + NOUN[les.label].replace("focal ", "")
                 for les in sure]
        impression = _cap(nouns[0] if len(nouns) == 1 else ", ".join(nouns[:-1]) + " and " + nouns[-1]) + "."
    elif plan.lesions:
        impression = "No other acute cardiopulmonary abnormality."
    else:
        impression = ("No acute cardiopulmonary abnormality.", "No acute cardiopulmonary process.")[rng.integers(2)]
    header = "EXAMINATION: Chest, portable AP view." if plan.view == "AP" else "EXAMINATION: Chest, PA view."
    header += f" INDICATION: {INDICATIONS[rng.integers(len(INDICATIONS))]}"
    style = rng.integers(3)
    if style == 0:
        text = f"{header} FINDINGS: {' '.join(body)} IMPRESSION: {impression}"
    elif style == 1:
        text = f"FINDINGS: {' '.join(body)} IMPRESSION: {impression}"
    else:
        text = " ".join(body) if sure else " ".join(body + [impression])
    rows = [(lab, status, sev) for lab, (status, sev) in mentions.items()]
    return text, rows
