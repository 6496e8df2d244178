"""spaCy rule machinery for report mining: the blank pipeline, finding matchers and context cues.

Everything here is rule-based (AGCL §2.2 mined severity with a per-sentence dependency graph; we use
token rules instead so that no parser model is needed): ``spacy.blank("en")`` tokenizer, sentence
bounds by the rule of spaCy's ``sentencizer`` (:func:`sentence_starts`) and ``Matcher``/``PhraseMatcher``
built from the versioned lexicon.
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import spacy
from spacy.attrs import IDX, IS_PUNCT, LENGTH, LOWER
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc

from agcl.reports.lexicon import Lexicon

#: Sentence-ending characters; "\n\n" is the blank line that separates report sections.
SENTENCE_PUNCT = frozenset([".", "..", "!", "?", "\n\n"])


@dataclass(frozen=True)
class Mention:
    """One finding mention: token span ``[start, end)`` in the doc.

    ``kind`` is ``finding`` (a disease term or an enlarged-heart statement), ``hedged`` (a term that names
    the finding only as a possibility, such as "infection" for Pneumonia: at most uncertain), ``normal`` (a
    normal-heart statement: a negative Cardiomegaly mention) or ``borderline`` (borderline/prominent heart:
    uncertain).
    ``anchor`` is the token whose position decides which context cues reach the mention.
    """

    label: str
    start: int
    end: int
    kind: str
    anchor: int


@dataclass(frozen=True)
class Cue:
    """A context trigger: ``kind`` is ``negation`` or ``uncertainty``; scope direction flags.

    ``lists`` marks a cue that opens a list of alternatives ("differential diagnosis includes"): its
    forward scope runs through commas.
    """

    start: int
    end: int
    kind: str
    forward: bool
    backward: bool
    text: str = ""
    lists: bool = False


def build_nlp() -> Language:
    """The minimal pipeline: the blank English tokenizer (no parser, no model).

    Sentences are split by :class:`TokenView` with the sentencizer's rule on token arrays, which costs
    far less than the ``sentencizer`` component's per-token loop.
    """
    return spacy.blank("en")


def sentence_starts(texts: list[str], is_punct: list[bool]) -> list[int]:
    """Token indices that start a sentence, by the rule of spaCy's ``sentencizer``.

    After a token in :data:`SENTENCE_PUNCT`, the next token that is neither punctuation nor a sentence
    end starts a new sentence (so the closing quote of ``."`` stays with its sentence).
    """
    if not texts:
        return []
    starts = [0]
    seen_end = False
    for i, (text, punct) in enumerate(zip(texts, is_punct, strict=True)):
        is_end = text in SENTENCE_PUNCT
        if seen_end and not punct and not is_end:
            starts.append(i)
            seen_end = False
        elif is_end:
            seen_end = True
    return starts


def _expand(pattern: list[dict[str, Any]], lexicon: Lexicon) -> list[dict[str, Any]]:
    """Replace the ``$LOC`` macro of a lexicon pattern by the location word list."""
    out = copy.deepcopy(pattern)
    for tok in out:
        if tok.get("LOWER") == "$LOC":
            tok["LOWER"] = {"IN": list(lexicon.location_words)}
    return out


class TokenView:
    """Lower-case token texts and sentence bounds of one doc, computed once (``doc[i]`` is slow)."""

    __slots__ = ("doc", "lower", "sent_lo", "sent_hi", "_begin", "_end", "_text")

    def __init__(self, doc: Doc, text: str | None = None) -> None:
        """``text``: the string the doc was made from, when known (``doc.text`` rebuilds it token by token)."""
        self.doc = doc
        strings = doc.vocab.strings
        arr = doc.to_array([LOWER, IDX, LENGTH, IS_PUNCT]).tolist()
        self.lower: list[str] = [strings[h] for h, _, _, _ in arr]
        self._begin: list[int] = [b for _, b, _, _ in arr]
        self._end: list[int] = [b + n for _, b, n, _ in arr]
        self._text = text
        n = len(self.lower)
        starts = sentence_starts(self.lower, [bool(p) for _, _, _, p in arr])
        self.sent_lo: list[int] = [0] * n
        self.sent_hi: list[int] = [n] * n
        for lo, hi in zip(starts, [*starts[1:], n][: len(starts)], strict=True):
            self.sent_lo[lo:hi] = [lo] * (hi - lo)
            self.sent_hi[lo:hi] = [hi] * (hi - lo)

    def chars(self, start: int, end: int) -> tuple[int, int]:
        """Character offsets of the token span ``[start, end)`` (like ``doc[start:end].start_char/end_char``)."""
        return self._begin[start], self._end[end - 1]

    def text(self, start: int, end: int) -> str:
        """Text of the token span ``[start, end)``, as ``doc[start:end].text`` but without building a Span."""
        if self._text is None:
            self._text = self.doc.text
        return self._text[self._begin[start]:self._end[end - 1]]


class RuleMatchers:
    """All matchers of one lexicon, built once and applied to many docs."""

    def __init__(self, nlp: Language, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        vocab = nlp.vocab
        self.terms = PhraseMatcher(vocab, attr="LOWER")  # keys: "Label" or "Label|hedged"
        self.patterns = Matcher(vocab)
        self.exclude = Matcher(vocab)
        for label, spec in lexicon.labels.items():
            if spec.get("terms"):
                self.terms.add(label, [nlp.make_doc(t) for t in spec["terms"]])
            if spec.get("hedged"):
                self.terms.add(f"{label}|hedged", [nlp.make_doc(t) for t in spec["hedged"]])
            if spec.get("patterns"):
                self.patterns.add(label, [_expand(p, lexicon) for p in spec["patterns"]])
            if spec.get("exclude"):
                self.exclude.add(label, [_expand(p, lexicon) for p in spec["exclude"]])
        self.pattern_gate = _gate([p for spec in lexicon.labels.values() for p in spec.get("patterns", [])], lexicon)
        self.exclude_gate = _gate([p for spec in lexicon.labels.values() for p in spec.get("exclude", [])], lexicon)
        self._add_heart_patterns(nlp, lexicon)
        self.cues = PhraseMatcher(vocab, attr="LOWER")
        groups = {
            "negation:pre": lexicon.negation_pre,
            "negation:post": lexicon.negation_post,
            "uncertainty:pre": lexicon.uncertainty_pre,
            "uncertainty:post": lexicon.uncertainty_post,
            "pseudo:none": lexicon.pseudo,
        }
        for key, phrases in groups.items():
            self.cues.add(key, [nlp.make_doc(p) for p in phrases])
        self.boundaries = PhraseMatcher(vocab, attr="LOWER")
        self.boundaries.add("boundary", [nlp.make_doc(p) for p in lexicon.boundaries])
        self._strings = vocab.strings

    def _add_heart_patterns(self, nlp: Language, lexicon: Lexicon) -> None:
        heart = lexicon.heart
        self.heart_subjects = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.heart_subjects.add("heart", [nlp.make_doc(s) for s in heart["subjects"]])
        self.heart_gap = int(heart.get("max_gap", 6))
        self.heart_normal = frozenset(w.lower() for w in heart["normal"])
        self.heart_enlarged = frozenset(w.lower() for w in heart["enlarged"])
        self.heart_borderline = frozenset(w.lower() for w in heart["borderline"])
        self.heart_list_gap = int(heart.get("list_gap", self.heart_gap))
        self.heart_pre = frozenset(w.lower() for w in heart.get("pre_words", _HEART_PRE))
        self.heart_pre_gap = int(heart.get("pre_gap", 3))
        self.degree = frozenset(lexicon.severity)
        self.heart_loose = frozenset(w.lower() for w in heart.get("loose_subjects", []))
        self.heart_copulas = frozenset(w.lower() for w in heart.get("copulas", []))
        # only hard clause ends stop a heart statement; adverbs such as "otherwise" do not
        self.heart_stop = frozenset([".", ";", ":", "\n\n", "but", "however", "although", "though",
                                     "whereas", "while", "except", "which"])
        self.heart_any = (self.heart_enlarged | self.heart_borderline | self.heart_normal | self.heart_stop
                          | _PLURAL_COPULA)  # the words the scan after a heart subject stops at

    def _heart_mentions(self, view: TokenView, found: dict[tuple[str, str], list[tuple[int, int, int]]]) -> None:
        """Statements about the heart: enlarged (positive), normal (negative), borderline (uncertain).

        ``HEART ... enlarged|large`` (gap <= 4; "not enlarged" up to the normal gap), ``enlarged|large|
        enlargement|increase (in size of the) HEART``, ``HEART ... normal|unremarkable`` (gap <= max_gap,
        or list_gap when the subject heads a list of subjects closed by a plural copula), ``normal (size
        and configuration of the) HEART``, ``HEART ... borderline|prominent``, ``borderline|prominent (of
        the) HEART``, and ``HEART ... normal or (mildly) enlarged`` (borderline). No gap crosses a clause
        boundary; the normal gap also stops at an enlarged word and vice versa.
        """
        low = view.lower
        for s_start, s_end in longest((s, e) for _, s, e in self.heart_subjects(view.doc)):
            sent_start, sent_end = view.sent_lo[s_start], view.sent_hi[s_start]
            hits = self._heart_after(low, s_end, sent_end)
            for kind, j in hits.items():
                # the predicate word anchors the mention: cues must reach "enlarged", not "heart"
                found.setdefault(("Cardiomegaly", "finding" if kind == "enlarged" else kind), []).append(
                    (s_start, j + 1, j))
            k = s_start - 1
            while k >= sent_start and low[k] in self.heart_pre and s_start - k <= self.heart_pre_gap:
                k -= 1
            if k < sent_start:
                continue
            word = low[k]
            enlarged = word in self.heart_enlarged or (word == "increase" and (k == 0 or low[k - 1] not in _NEGATED))
            kind = ("finding" if enlarged else "normal" if word in self.heart_normal
                    else "borderline" if word in self.heart_borderline else "")
            if kind:
                found.setdefault(("Cardiomegaly", kind), []).append((k, s_end, k))

    def _loose_heart(self, view: TokenView, found: dict[tuple[str, str], list[tuple[int, int, int]]]) -> None:
        """``cardiac <word> is (now) (mildly) enlarged``: a loose subject with any one word (a mask, a typo)."""
        low = view.lower
        for i, word in enumerate(low):
            if word not in self.heart_loose or i + 3 >= len(low) or low[i + 2] not in self.heart_copulas:
                continue
            if not low[i + 1].isalpha():
                continue
            j = i + 3
            if low[j] in _HEART_ADVERBS:
                j += 1
            if j < len(low) and low[j] in self.degree and low[j] not in self.heart_enlarged:
                j += 1  # "mildly" (but "large" is the enlarged word itself)
            if j < len(low) and low[j] in self.heart_enlarged and view.sent_lo[j] == view.sent_lo[i]:
                found.setdefault(("Cardiomegaly", "finding"), []).append((i, j + 1, j))

    def _heart_after(self, low: list[str], s_end: int, sent_end: int) -> dict[str, int]:
        """``{kind: token}`` of the predicate words after a heart subject ending at ``s_end``."""
        hits: dict[str, int] = {}
        k = s_end
        while k < sent_end and low[k] == "xxxx":
            k += 1
        listed = k < sent_end and low[k] in (",", "and")  # "Heart XXXX, mediastinum, ... are unremarkable"
        limit = self.heart_list_gap if listed else self.heart_gap
        copula = False
        for j in range(s_end, min(sent_end, s_end + limit + 1)):
            word = low[j]
            if word not in self.heart_any:
                continue
            if word in self.heart_stop:
                break
            if word in _PLURAL_COPULA:
                copula = True
                continue
            gap = j - s_end
            if word in self.heart_enlarged and "normal" in hits and gap <= self.heart_gap:
                if self._or_before(low, j, hits["normal"]):
                    del hits["normal"]  # "upper limits normal or mildly enlarged"
                    hits.setdefault("borderline", j)
            elif word in self.heart_enlarged and (gap <= 4 or (low[j - 1] == "not" and gap <= self.heart_gap)):
                hits.setdefault("enlarged", j)
            elif word in self.heart_borderline and gap <= 4:
                hits.setdefault("borderline", j)
            elif word in self.heart_normal and "enlarged" not in hits and (gap <= self.heart_gap or copula):
                hits.setdefault("normal", j)
        return hits

    def _or_before(self, low: list[str], j: int, lo: int) -> bool:
        """True when an alternative or range connector stands before token ``j`` (degree words skipped)."""
        i = j - 1
        while i > lo and low[i] in self.degree:
            i -= 1
        return i > lo and low[i] in ("or", "to", "/")

    # ------------------------------------------------------------------ mentions
    def mentions(self, view: TokenView) -> list[Mention]:
        """Finding mentions of a doc after exclusions, longest match per label and kind."""
        doc = view.doc
        by_key: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
        words = set(view.lower)
        matches = list(self.terms(doc))
        if _open(self.pattern_gate, words):
            matches += self.patterns(doc)
        for match_id, start, end in matches:
            label, _, kind = self._strings[match_id].partition("|")
            by_key.setdefault((label, kind or "finding"), []).append((start, end, start))
        self._heart_mentions(view, by_key)
        if not words.isdisjoint(self.heart_loose) and not words.isdisjoint(self.heart_enlarged):
            self._loose_heart(view, by_key)
        excluded: dict[str, list[tuple[int, int]]] = {}
        exclusions = self.exclude(doc) if _open(self.exclude_gate, words) else []
        for match_id, start, end in exclusions:
            if _negated_prefix(view.lower, start):
                continue  # "non-calcified nodule" is a nodule
            excluded.setdefault(self._strings[match_id], []).append((start, end))
        out: list[Mention] = []
        for (label, kind), spans in by_key.items():
            blocked = excluded.get(label, [])
            anchors = {(s, e): a for s, e, a in spans}
            for start, end in longest(anchors):
                if any(s < end and start < e for s, e in blocked):
                    continue
                out.append(Mention(label, start, end, kind, anchors[(start, end)]))
        out.sort(key=lambda m: (m.start, m.label))
        return out

    # ------------------------------------------------------------------ cues
    def cues_of(self, view: TokenView) -> tuple[list[Cue], list[Cue]]:
        """``(triggers, pseudo-triggers)``: negation/uncertainty cues after the longest phrase won.

        Pseudo-triggers ("no change in") fire nothing; they are returned so that later rules can see
        that a list follows one ("No change in pneumothorax or pleural fluid" offers no alternatives).
        """
        dirs: dict[tuple[int, int], dict[str, set[str]]] = {}
        for match_id, start, end in self.cues(view.doc):
            kind, direction = self._strings[match_id].split(":")
            dirs.setdefault((start, end), {}).setdefault(kind, set()).add(direction)
        out: list[Cue] = []
        pseudo: list[Cue] = []
        for start, end in longest(dirs):
            kinds = dirs[(start, end)]
            if "pseudo" in kinds:
                pseudo.append(Cue(start, end, "pseudo", True, False))
                continue
            kind = "uncertainty" if "uncertainty" in kinds else "negation"
            d = kinds[kind]
            text = view.text(start, end).lower()
            out.append(Cue(start, end, kind, "pre" in d, "post" in d, text,
                           " ".join(view.lower[start:end]) in self.lexicon.list_cues))
        return out, pseudo

    def boundary_tokens(self, doc: Doc) -> set[int]:
        """Token indices that end a clause (and so every trigger's scope)."""
        out: set[int] = set()
        for _, start, end in self.boundaries(doc):
            out.update(range(start, end))
        return out


_HEART_PRE = frozenset({"size", "sized", "-", "in", "of", "the", "right", "left"})
_NEGATED = frozenset({"no", "not", "without"})
_HEART_ADVERBS = frozenset({"now", "again", "still", "xxxx"})
#: A heart subject heading a list reaches its normal word only through one of these.
_PLURAL_COPULA = frozenset({"are", "appear", "remain"})


Gate = list[tuple[frozenset[str], frozenset[str]]] | None


def _gate(patterns: list[list[dict[str, Any]]], lexicon: Lexicon) -> Gate:
    """Per pattern, the words one of which must open it and one of which must close it.

    The Matcher costs far more per doc than the PhraseMatcher, so it only runs on docs that hold a
    possible first and a possible last word of at least one pattern (``None``: always run).
    """
    gates = []
    for pattern in patterns:
        expanded = _expand(pattern, lexicon)
        ends = []
        for tok in (expanded[0], expanded[-1]):
            lower = tok.get("LOWER")
            if tok.get("OP") or lower is None:
                return None
            if isinstance(lower, str):
                ends.append(frozenset([lower.lower()]))
            elif isinstance(lower, dict) and "IN" in lower:
                ends.append(frozenset(w.lower() for w in lower["IN"]))
            else:
                return None
        gates.append((ends[0], ends[1]))
    return gates


def _open(gate: Gate, words: set[str]) -> bool:
    if gate is None:
        return True
    return any(not words.isdisjoint(first) and not words.isdisjoint(last) for first, last in gate)


def longest(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Non-overlapping ``(start, end)`` ranges, longest first then leftmost (like spaCy's filter_spans).

    The ranges taken so far are kept sorted by start, so each candidate is checked against its two
    neighbours only (O(n log n): long reports have thousands of mentions).
    """
    ordered = sorted(set(ranges), key=lambda r: (r[0] - r[1], r[0]))
    if len(ordered) <= 16:  # a typical report: a plain scan is cheaper than bisecting
        taken: list[tuple[int, int]] = []
        for start, end in ordered:
            if all(end <= s or e <= start for s, e in taken):
                taken.append((start, end))
        return sorted(taken)
    starts: list[int] = []
    ends: list[int] = []
    for start, end in ordered:
        k = bisect.bisect_right(starts, start)
        if (k > 0 and ends[k - 1] > start) or (k < len(starts) and starts[k] < end):
            continue
        starts.insert(k, start)
        ends.insert(k, end)
    return list(zip(starts, ends, strict=True))


def _negated_prefix(lower: list[str], start: int) -> bool:
    """True for "non-calcified" / "non calcified" (the exclusion must not fire)."""
    prev = lower[start - 1] if start >= 1 else ""
    prev2 = lower[start - 2] if start >= 2 else ""
    return prev == "non" or (prev == "-" and prev2 == "non")
