"""The ChestX-ray14 label vocabulary: 14 disease labels in canonical order, aliases, box classes.

Canonical order is the one used by Wang et al. (2017) and by AGCL Table 1; every label matrix in agcl
(index, predictions, CAM stacks) uses it, so column ``k`` always means ``LABELS[k]``.
"""

from __future__ import annotations

LABELS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)
NO_FINDING = "No Finding"
NUM_LABELS = len(LABELS)
LABEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(LABELS)}

#: The 8 classes that carry expert boxes in BBox_List_2017.csv (canonical spelling).
BOX_LABELS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
)

#: Spellings seen in the wild mapped to canonical names. BBox_List_2017.csv writes "Infiltrate".
ALIASES: dict[str, str] = {
    "Infiltrate": "Infiltration",
    "Pleural Thickening": "Pleural_Thickening",
    "Pleural_thickening": "Pleural_Thickening",
    "No_Finding": NO_FINDING,
}


class UnknownLabelError(ValueError):
    """A label token that is neither canonical, an alias, nor "No Finding"."""


def canonical_label(token: str, *, allow_no_finding: bool = False, where: str = "") -> str:
    """Map one label token to its canonical spelling.

    Matching is exact after stripping surrounding whitespace (ChestX-ray14 tokens are case-sensitive),
    then through :data:`ALIASES`. Unknown tokens raise :class:`UnknownLabelError` with a suggestion.
    """
    name = token.strip()
    name = ALIASES.get(name, name)
    if name in LABEL_INDEX or (allow_no_finding and name == NO_FINDING):
        return name
    choices = list(LABELS) + list(ALIASES) + ([NO_FINDING] if allow_no_finding else [])
    from agcl.errors import did_you_mean

    at = f" ({where})" if where else ""
    raise UnknownLabelError(f"unknown label {token!r}{at}{did_you_mean(name, choices)}")


def parse_finding_labels(field: str, *, where: str = "", sep: str = "|") -> tuple[list[str], bool]:
    """Split a ``Finding Labels`` field into canonical disease labels and a No Finding flag.

    Returns ``(labels, no_finding)``. "No Finding" together with a disease label is an error, since it
    contradicts itself.
    """
    tokens = [t for t in str(field).split(sep) if t.strip()]
    if not tokens:
        raise UnknownLabelError(f"empty label field{f' ({where})' if where else ''}")
    names = [canonical_label(t, allow_no_finding=True, where=where) for t in tokens]
    no_finding = NO_FINDING in names
    diseases = sorted({n for n in names if n != NO_FINDING}, key=LABEL_INDEX.__getitem__)
    if no_finding and diseases:
        raise UnknownLabelError(f"'No Finding' together with {diseases}{f' ({where})' if where else ''}")
    return diseases, no_finding
