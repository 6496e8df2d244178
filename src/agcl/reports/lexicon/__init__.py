"""Versioned vocabulary for report mining (AGCL §2.2): finding terms, heart statements, context triggers.

The data live in two YAML files next to this module (``findings.yaml`` and ``context.yaml``), each with
a ``version`` field; :func:`load_lexicon` validates them and returns one immutable :class:`Lexicon`.
Users can point ``agcl mine --lexicon DIR`` at a folder holding their own copies of both files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from agcl.errors import InputError
from agcl.labels import LABELS

SEVERITY_LEVELS: tuple[str, ...] = ("mild", "moderate", "severe")
SEVERITY_RANK: dict[str, int] = {"none": 0, "mild": 1, "moderate": 2, "severe": 3}


@dataclass(frozen=True)
class Lexicon:
    """The parsed vocabulary. Phrases are lower-case strings; patterns are spaCy Matcher patterns."""

    version: str
    labels: dict[str, dict[str, Any]]  # label -> {"terms", "hedged", "patterns", "exclude"}
    location_words: tuple[str, ...]
    heart: dict[str, Any]
    negation_pre: tuple[str, ...]
    negation_post: tuple[str, ...]
    uncertainty_pre: tuple[str, ...]
    uncertainty_post: tuple[str, ...]
    negated_evidence: frozenset[str]
    pseudo: tuple[str, ...]
    boundaries: tuple[str, ...]
    list_conjunctions: frozenset[str]
    severity: dict[str, str]  # phrase -> mild|moderate|severe
    range_connectors: frozenset[str]
    modifier_gap: frozenset[str]
    predicate_gap: frozenset[str]
    change_words: frozenset[str]
    list_cues: frozenset[str] = frozenset()
    alternatives: frozenset[str] = frozenset()
    alternative_qualifiers: frozenset[str] = frozenset()
    #: words allowed before an item of a list without conjunction; ``None``: such lists are off
    list_item_words: frozenset[str] | None = None
    #: label -> {word: level}: severity words of one label only ("tension" pneumothorax)
    size_words: dict[str, dict[str, str]] = field(default_factory=dict)
    #: label -> {unit: (mild below, moderate below)}; unit "cm" (mm converted) or "%"
    size_bounds: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)


def _read_yaml(path: Path) -> dict[str, Any]:
    from agcl.config.loader import read_yaml
    from agcl.errors import ConfigError

    if not os.path.lexists(path):
        raise InputError(f"lexicon file not found: {path}")
    try:
        data = read_yaml(path, "lexicon file")
    except ConfigError as exc:
        raise InputError(str(exc)) from None
    if not isinstance(data, dict) or not str(data.get("version", "")).strip():
        raise InputError(f"{path}: a lexicon file must be a mapping with a non-empty 'version' field")
    return data


def _words(data: dict[str, Any], key: str, path: Path) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{path}: '{key}' must be a list of strings")
    return tuple(v.lower() for v in value)


def _sizes(name: str, spec: dict[str, Any], path: Path) -> tuple[dict[str, str], dict[str, tuple[float, float]]]:
    """A label's ``size_words`` (level -> words) and ``size_cm`` / ``size_percent`` bounds (two ascending numbers)."""
    words: dict[str, str] = {}
    raw = spec.get("size_words") or {}
    if not isinstance(raw, dict) or any(level not in SEVERITY_LEVELS for level in raw):
        raise InputError(f"{path}: {name}.size_words must map mild/moderate/severe to lists of words")
    for level in raw:
        for word in _words(raw, level, path):
            words[word] = level
    bounds: dict[str, tuple[float, float]] = {}
    for key, unit in (("size_cm", "cm"), ("size_percent", "%")):
        if key not in spec:
            continue
        value = spec[key]
        if (not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, int | float) for v in value)
                or not 0 < value[0] < value[1]):
            raise InputError(f"{path}: {name}.{key} must be two ascending positive numbers (mild below, moderate below)")
        bounds[unit] = (float(value[0]), float(value[1]))
    return words, bounds


def load_lexicon(directory: str | Path | None = None) -> Lexicon:
    """Load and validate ``findings.yaml`` + ``context.yaml`` (the packaged ones by default).

    Raises:
        InputError: a file is missing or malformed, or names a label outside ``agcl.labels.LABELS``.
    """
    if directory is None:
        base = Path(str(resources.files("agcl.reports.lexicon")))
    else:
        base = Path(directory)
    fpath, cpath = base / "findings.yaml", base / "context.yaml"
    findings, context = _read_yaml(fpath), _read_yaml(cpath)
    labels = findings.get("labels") or {}
    for name in labels:
        if name not in LABELS:
            raise InputError(f"{fpath}: unknown label {name!r} (expected one of agcl.labels.LABELS)")
        for key in ("terms", "hedged"):
            _words(labels[name] or {}, key, fpath)
    sizes = {name: _sizes(name, spec or {}, fpath) for name, spec in labels.items()}
    severity: dict[str, str] = {}
    for level in SEVERITY_LEVELS:
        for word in _words(context.get("severity", {}), level, cpath):
            severity[word] = level
    heart = findings.get("heart") or {}
    for key in ("subjects", "enlarged", "normal", "borderline"):
        if not isinstance(heart.get(key), list):
            raise InputError(f"{fpath}: heart.{key} must be a list of phrases")
    return Lexicon(
        version=f"findings {findings['version']} / context {context['version']}",
        labels={name: dict(spec or {}) for name, spec in labels.items()},
        location_words=_words(findings, "location_words", fpath),
        heart=heart,
        negation_pre=_words(context.get("negation", {}), "pre", cpath),
        negation_post=_words(context.get("negation", {}), "post", cpath),
        uncertainty_pre=_words(context.get("uncertainty", {}), "pre", cpath),
        uncertainty_post=_words(context.get("uncertainty", {}), "post", cpath),
        negated_evidence=frozenset(_words(context, "negated_evidence", cpath)),
        pseudo=_words(context, "pseudo", cpath),
        boundaries=_words(context, "boundaries", cpath),
        list_conjunctions=frozenset(_words(context, "list_conjunctions", cpath)),
        severity=severity,
        range_connectors=frozenset(_words(context, "range_connectors", cpath)),
        modifier_gap=frozenset(_words(context, "modifier_gap", cpath)),
        predicate_gap=frozenset(_words(context, "predicate_gap", cpath)),
        change_words=frozenset(_words(context, "change_words", cpath)),
        list_cues=frozenset(_words(context, "list_cues", cpath)),
        alternatives=frozenset(_words(context, "alternatives", cpath)),
        alternative_qualifiers=frozenset(_words(context, "alternative_qualifiers", cpath)),
        list_item_words=(frozenset(_words(context, "list_item_words", cpath)) if "list_item_words" in context
                         else None),
        size_words={name: w for name, (w, _) in sizes.items() if w},
        size_bounds={name: b for name, (_, b) in sizes.items() if b},
    )
