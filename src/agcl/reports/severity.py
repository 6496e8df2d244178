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


class SeverityReader:
    """Reads severity levels of mentions in one doc from the lexicon's word lists."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lex = lexicon

    def level_at(self, view: TokenView, i: int, *, finding_end: int = 0) -> str | None:
        """Severity level of token ``i`` ("middle-size" spans three tokens: its first one counts).

        A change word right after the severity word vetoes it ("slightly increased"), unless the change
        word lies before ``finding_end``, i.e. is the finding's own predicate ("heart size is
        moderately increased").
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
        level = self.lex.severity.get(word)
        if level is None:
            return None
        nxt = i + 1
        while nxt < len(low) and low[nxt] == "-":
            nxt += 1
        if finding_end <= nxt < len(low) and low[nxt] in self.lex.change_words:
            return None  # "slightly increased", "mildly elevated": grades something else
        return level

    def _range(self, view: TokenView, i: int, lo: int, hi: int, finding_end: int = 0) -> str:
        """Most severe level of the range through token ``i`` ("mild to moderate"), within [lo, hi)."""
        low = view.lower
        best = self.level_at(view, i, finding_end=finding_end) or "none"
        for step in (-1, 1):
            j = i + step
            while lo <= j < hi:
                while lo <= j < hi and low[j] in self.lex.range_connectors:
                    j += step
                if not (lo <= j < hi):
                    break
                level = self.level_at(view, j, finding_end=finding_end)
                if level is None or j == i:
                    break
                if SEVERITY_RANK[level] > SEVERITY_RANK[best]:
                    best = level
                j += step
        return best

    def _range_end(self, view: TokenView, i: int, hi: int) -> int:
        """First token after the range that starts at severity word ``i`` ("small to moderate in size")."""
        low, j = view.lower, i + 1
        while j < hi:
            k = j
            while k < hi and low[k] in self.lex.range_connectors:
                k += 1
            if k >= hi or not self.level_at(view, k):
                return j
            j = k + 1
        return j

    def severity(self, view: TokenView, mention: Mention) -> tuple[str, int | None]:
        """``(level, token index of the deciding word)``; ``("none", None)`` when nothing attaches."""
        low = view.lower
        lo, hi = view.sent_lo[mention.start], view.sent_hi[mention.start]
        if mention.kind != "finding":
            return "none", None
        # 1. inside the mention (enlarged-heart statements)
        found = [(self.level_at(view, i, finding_end=mention.end), i) for i in range(mention.start, mention.end)]
        found = [(lv, i) for lv, i in found if lv]
        if found:
            i = max(found, key=lambda f: SEVERITY_RANK[f[0]])[1]
            return self._range(view, i, lo, hi, mention.end), i
        # 2. modifier: walk left over modifier words
        i, steps = mention.start - 1, 0
        while i >= lo and steps <= MAX_MODIFIER_GAP:
            level = self.level_at(view, i)
            if level:
                return self._range(view, i, lo, hi), i
            word = low[i]
            if word in self.lex.change_words and i > lo and self.lex.severity.get(low[i - 1]):
                break  # "mildly increased ... opacity": the degree belongs to the change
            before = self.level_at(view, i - 1) if i > lo else None
            if word == "," and before:
                return self._range(view, i - 1, lo, hi), i - 1  # "mild, stable cardiomegaly"
            if word in COORDINATION and before:
                break  # "cardiomegaly is mild and effusion ...": the grade belongs to the first finding
            if not (word in self.lex.modifier_gap or NUMBER.match(word)):
                break
            i, steps = i - 1, steps + 1
        # 3. predicate: walk right over copula-like words, then a severity word in predicate position
        i, steps = mention.end, 0
        while i < hi and steps <= MAX_PREDICATE_GAP:
            level = self.level_at(view, i)
            if level:
                j = self._range_end(view, i, hi)
                if j >= hi or low[j] in PREDICATE_FOLLOW or not low[j][:1].isalnum():
                    return self._range(view, i, lo, hi), i
                return "none", None
            if low[i] not in self.lex.predicate_gap:
                break
            i, steps = i + 1, steps + 1
        return "none", None
