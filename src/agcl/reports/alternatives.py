"""Findings offered as one of alternatives are uncertain (the CheXpert labeler's convention).

"Atelectasis/scarring", "scarring or subsegmental atelectasis", "pneumonia and/or effusion" and
"compatible with atelectasis or infiltrate" name each finding as a possibility, not as a fact, so a
mention that no cue has decided (it would be positive) becomes uncertain. A negation still wins:
"No effusion or pneumothorax" is negative for both, because negated mentions never reach this rule.

Without a parser the test is positional (docs/mining.md, rule 7b):

* **right**: the token right after the mention is an alternative connector ("or", "/", "and/or")
  followed by a word ("atelectasis or scarring");
* **left**: walking left from the mention over modifier words ("subsegmental", "left basilar",
  "minimal", "XXXX") reaches a connector with a word before it ("scarring or subsegmental atelectasis").

The word on the other side of the connector (masks ``XXXX`` skipped: "atelectasis and/or XXXX
scarring") must not be a location word, a severity word, a number or a qualifier (context.yaml
``alternative_qualifiers``), so "left or right effusion", "small/moderate effusion", "1 or 2 nodules"
and "residual or recurrent pneumonia" are not alternatives. Nor may it name the same finding: "pleural
effusion/hemothorax" is one effusion. A list after a pseudo-trigger is a list, not alternatives: "No
change in pneumothorax or pleural fluid".
"""

from __future__ import annotations

from collections.abc import Callable, Container

from agcl.reports.context import ClauseMap
from agcl.reports.lexicon import Lexicon
from agcl.reports.matchers import Cue, Mention, TokenView
from agcl.reports.severity import NUMBER

#: Modifier words walked over on the left; the longest useful walk ("or minimal XXXX left basilar").
MAX_LEFT_WALK = 6


class AlternativeReader:
    """Finds the alternative connector that makes a mention uncertain, if any."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.connectors = lexicon.alternatives
        coordination = {"and", "or", "but", "nor", ",", "/", "and/or"}
        self.skip = (lexicon.modifier_gap | frozenset(lexicon.severity)) - coordination - self.connectors
        self.not_alternative = (frozenset(lexicon.location_words) | frozenset(lexicon.severity)
                                | lexicon.alternative_qualifiers | self.connectors
                                | {"-", "with", "without", "no", "not"})

    def _other_side(self, word: str) -> bool:
        """True when ``word`` can be the other alternative (a word, not a location/severity/number)."""
        return word[:1].isalnum() and word not in self.not_alternative and not NUMBER.match(word)

    def cue(self, view: TokenView, mention: Mention, clauses: ClauseMap, pseudo: list[Cue],
            same: Callable[[], Container[int]] = tuple) -> Cue | None:
        """The connector (as an uncertainty cue) that offers ``mention`` as an alternative, or ``None``.

        ``pseudo`` are the doc's pseudo-triggers: one that reaches the mention means a plain list.
        ``same()`` gives the tokens of the doc's finding mentions of the same label (called only when a
        connector is found).
        """
        if not self.connectors or mention.kind not in ("finding", "hedged"):
            return None
        if any(p.end <= mention.start and clauses.reachable(p.end - 1, mention.start) for p in pseudo):
            return None
        low = view.lower
        lo, hi = view.sent_lo[mention.start], view.sent_hi[mention.start]
        j = mention.end
        k = _unmasked(low, j + 1, hi, 1)
        if k < hi and low[j] in self.connectors and self._other_side(low[k]) and k not in same():
            return Cue(j, j + 1, "uncertainty", False, True, low[j])
        i, steps = mention.start - 1, 0
        while i >= lo and steps < MAX_LEFT_WALK and (low[i] in self.skip or NUMBER.match(low[i])):
            i, steps = i - 1, steps + 1
        k = _unmasked(low, i - 1, lo - 1, -1)
        if (k >= lo and low[i] in self.connectors and self._other_side(low[k]) and k not in same()
                and clauses.reachable(k, mention.start)):
            return Cue(i, i + 1, "uncertainty", True, False, low[i])
        return None


def _unmasked(low: list[str], i: int, stop: int, step: int) -> int:
    """The first token from ``i`` (towards ``stop``, exclusive) that is not the mask ``XXXX``."""
    while (i < stop if step > 0 else i > stop) and low[i] == "xxxx":
        i += step
    return i
