"""Attach severity words to the finding they modify (AGCL §2.2: mild / moderate / severe clusters).

Without a dependency parser the attachment is positional and conservative. A severity word counts
for a mention only when it is

* inside an enlarged-heart statement ("heart size is mildly enlarged"),
* its modifier: before the finding with only modifier words between ("small left pleural effusion",
  "moderate-sized hiatal hernia"), or
* its predicate: after the finding with only copula-like words between and nothing noun-like after
  ("the effusion is large", "effusions are small to moderate in size").

A severity word followed by a change word grades the change ("slightly increased"), not the finding.
A range ("mild to moderate", "moderate-to-large") takes its most severe end.

Inside a heart statement the enlarged word ("large", "enlarged") states the finding and is no degree:
"heart size remains slightly large" is mild, "the heart is large" has no severity.

A label with size bounds in the lexicon (Pneumothorax) is also graded by a measurement that modifies it
("8 mm pneumothorax", "stable 1 cm right apical pneumothorax") or is its predicate ("pneumothorax
measuring approximately 1.8 cm", "this pneumothorax measures up to 3.5 cm", "pneumothorax with 10 mm in
maximal thickness"): below the first bound mild, below the second moderate, otherwise severe. A degree
word beats a measurement ("moderate pneumothorax measuring 3.3 cm" is moderate).
"""

from __future__ import annotations

import re

from agcl.reports.lexicon import SEVERITY_RANK, Lexicon
from agcl.reports.matchers import Mention, TokenView

MAX_MODIFIER_GAP = 6
MAX_PREDICATE_GAP = 4
#: Tokens allowed right after a predicate severity word ("is small in size", "is large, ...").
PREDICATE_FOLLOW = frozenset({".", ",", ";", ":", "in", "to", "and", "but", "with", "-", "/", "or", "on",
                              "at", "compared", "since", "when", "xxxx", "\n\n", "?", "!", ")"})
#: Coordinations a modifier walk never crosses to a severity word: that word grades the finding before.
COORDINATION = frozenset({"and", "or", "and/or", "/"})
#: A measurement token ("5", "1.5cm") may stand between a severity word and its finding.
NUMBER = re.compile(r"^\d[\d.,]*(mm|cm)?$")
#: A number with its unit in one token ("8mm") or alone ("8", its unit in the next token).
QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(mm|cm|%)?$")
UNIT_CM = {"mm": 0.1, "cm": 1.0}
#: Words between a finding and its measurement ("pneumothorax noted measuring approximately 1.8 cm").
MEASURE_GAP = frozenset({"noted", "measuring", "measures", "measured", "measure", "which", "that", "now", "is",
                         "approximately", "approx", "about", "roughly", "nearly", "near", "up", "to", "with",
                         "of", "xxxx", "(", ","})
MAX_MEASURE_GAP = 5


class SeverityReader:
    """Reads severity levels of mentions in one doc from the lexicon's word lists."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lex = lexicon
        self.heart_words = frozenset(w.lower() for w in lexicon.heart.get("enlarged", []))
        self._words = {label: {**lexicon.severity, **extra} for label, extra in lexicon.size_words.items()}
        #: severity words inside a heart statement: "large" there states the enlargement, it is no degree
        self._inside = {w: lv for w, lv in lexicon.severity.items() if w not in self.heart_words}

    def level_at(self, view: TokenView, i: int, *, finding_end: int = 0,
                 words: dict[str, str] | None = None) -> str | None:
        """Severity level of token ``i`` ("middle-size" spans three tokens: its first one counts).

        A change word right after the severity word vetoes it ("slightly increased"), unless the change
        word lies before ``finding_end``, i.e. is the finding's own predicate ("heart size is
        moderately increased"). ``words``: the severity words of the mention's label (default: the
        lexicon's).
        """
        low = view.lower
        word = low[i]
        if word == "middle" or word == "mid":
            j = i + 1
            if j < len(low) and low[j] == "-":
                j += 1
            if j < len(low) and low[j] in ("size", "sized"):
                return "moderate"
            return None
        level = (self.lex.severity if words is None else words).get(word)
        if level is None:
            return None
        nxt = i + 1
        while nxt < len(low) and low[nxt] == "-":
            nxt += 1
        if finding_end <= nxt < len(low) and low[nxt] in self.lex.change_words:
            return None  # "slightly increased", "mildly elevated": grades something else
        return level

    def _range(self, view: TokenView, i: int, lo: int, hi: int, finding_end: int = 0,
               words: dict[str, str] | None = None) -> str:
        """Most severe level of the range through token ``i`` ("mild to moderate"), within [lo, hi)."""
        low = view.lower
        best = self.level_at(view, i, finding_end=finding_end, words=words) or "none"
        for step in (-1, 1):
            j = i + step
            while lo <= j < hi:
                while lo <= j < hi and low[j] in self.lex.range_connectors:
                    j += step
                if not (lo <= j < hi):
                    break
                level = self.level_at(view, j, finding_end=finding_end, words=words)
                if level is None or j == i:
                    break
                if SEVERITY_RANK[level] > SEVERITY_RANK[best]:
                    best = level
                j += step
        return best

    def _range_end(self, view: TokenView, i: int, hi: int, words: dict[str, str] | None = None) -> int:
        """First token after the range that starts at severity word ``i`` ("small to moderate in size")."""
        low, j = view.lower, i + 1
        while j < hi:
            k = j
            while k < hi and low[k] in self.lex.range_connectors:
                k += 1
            if k >= hi or not self.level_at(view, k, words=words):
                return j
            j = k + 1
        return j

    def severity(self, view: TokenView, mention: Mention) -> tuple[str, int | None]:
        """``(level, token index of the deciding word)``; ``("none", None)`` when nothing attaches."""
        low = view.lower
        lo, hi = view.sent_lo[mention.start], view.sent_hi[mention.start]
        if mention.kind != "finding":
            return "none", None
        words = self._words.get(mention.label, self.lex.severity)
        bounds = self.lex.size_bounds.get(mention.label)
        # 1. inside the mention (enlarged-heart statements); the enlarged word itself is no degree
        found = [(self.level_at(view, i, finding_end=mention.end, words=self._inside), i)
                 for i in range(mention.start, mention.end)]
        found = [(lv, i) for lv, i in found if lv]
        if found:
            i = max(found, key=lambda f: SEVERITY_RANK[f[0]])[1]
            return self._range(view, i, lo, hi, mention.end, self._inside), i
        # 2. modifier: walk left over modifier words (a measurement among them is kept for step 4)
        measured: tuple[str, int] | None = None
        i, steps = mention.start - 1, 0
        while i >= lo and steps <= MAX_MODIFIER_GAP:
            level = self.level_at(view, i, words=words)
            if level:
                return self._range(view, i, lo, hi, words=words), i
            word = low[i]
            if bounds and measured is None:
                measured = _measurement(low, i, lo, bounds)
            if word in self.lex.change_words and i > lo and words.get(low[i - 1]):
                break  # "mildly increased ... opacity": the degree belongs to the change
            before = self.level_at(view, i - 1, words=words) if i > lo else None
            if word == "," and before:
                return self._range(view, i - 1, lo, hi, words=words), i - 1  # "mild, stable cardiomegaly"
            if word in COORDINATION and before:
                break  # "cardiomegaly is mild and effusion ...": the grade belongs to the first finding
            if not (word in self.lex.modifier_gap or NUMBER.match(word) or (bounds and word == "%")):
                break
            i, steps = i - 1, steps + 1
        # 3. predicate: walk right over copula-like words, then a severity word in predicate position
        i, steps = mention.end, 0
        while i < hi and steps <= MAX_PREDICATE_GAP:
            level = self.level_at(view, i, words=words)
            if level:
                j = self._range_end(view, i, hi, words)
                if j >= hi or low[j] in PREDICATE_FOLLOW or not low[j][:1].isalnum():
                    return self._range(view, i, lo, hi, words=words), i
                return "none", None
            if low[i] not in self.lex.predicate_gap:
                break
            i, steps = i + 1, steps + 1
        # 4. a measurement: the modifier one, else one in predicate position
        if bounds:
            if measured is None:
                i, steps = mention.end, 0
                while i < hi and steps <= MAX_MEASURE_GAP and measured is None:
                    measured = _measurement(low, i, hi, bounds, forward=True)
                    if measured is None and low[i] not in MEASURE_GAP:
                        break
                    i, steps = i + 1, steps + 1
            if measured is not None:
                return measured
        return "none", None


def _measurement(low: list[str], i: int, edge: int, bounds: dict[str, tuple[float, float]], *,
                 forward: bool = False) -> tuple[str, int] | None:
    """``(level, index of the number)`` of a quantity at token ``i`` ("8mm", or "8" beside "mm"/"%").

    Walking left, ``i`` is the unit and the number precedes it; walking right (``forward``), ``i`` is the
    number and the unit follows it. ``edge`` is the sentence bound in the walking direction.
    """
    m = QUANTITY.match(low[i])
    if m and m.group(2):
        number, unit, at = m.group(1), m.group(2), i
    elif forward and m and i + 1 < edge:
        number, unit, at = m.group(1), low[i + 1], i
    elif not forward and low[i] in (*UNIT_CM, "%") and i - 1 >= edge and QUANTITY.match(low[i - 1]):
        number, unit, at = QUANTITY.match(low[i - 1]).group(1), low[i], i - 1
    else:
        return None
    if unit in UNIT_CM and "cm" in bounds:
        value, (mild, moderate) = float(number) * UNIT_CM[unit], bounds["cm"]
    elif unit == "%" and "%" in bounds:
        value, (mild, moderate) = float(number), bounds["%"]
    else:
        return None
    return ("mild" if value < mild else "moderate" if value < moderate else "severe"), at
