"""Negation and uncertainty of finding mentions: trigger scopes bounded by clauses (AGCL §2.2).

Rules, in order (docs/mining.md has the conflict table):

1. A cue reaches a mention of the same sentence when no clause boundary lies between them. A comma
   is a boundary unless a list conjunction ("or", "nor", "and") follows it in the same clause, so
   "No consolidation, pneumothorax or large effusion" negates all three while
   "No pneumothorax, small effusion" negates only the pneumothorax. A list without a conjunction
   ("Negative for pneumothorax, pleural effusion") is a list too: a comma followed by a finding with
   only list-item words between (``list_item_words``: "focal", "acute", ...), where that finding ends
   its clause or meets the next comma, is no boundary.
2. Pre-cues ("no", "possible") reach forward, post-cues ("is not seen", "cannot be excluded")
   backward; a cue overlapping the mention ("heart is not enlarged") always reaches it. A post-cue
   right after "but" reaches back across it ("infiltrate is less likely but not excluded");
   "versus" reaches back over one noun phrase only (not across "and"/"with").
   A cue that opens a list of alternatives ("differential diagnosis includes") reaches forward
   through commas: "Differential diagnosis includes atelectasis, infiltrate, edema".
3. The nearest reaching cue decides; at equal distance uncertainty beats negation.
4. An evidence verb inside a negation's scope ("no opacity to suggest pneumonia") passes the
   negation on instead of making the finding uncertain.
5. Normal-heart statements are negative and borderline-heart statements uncertain, whatever the cues.
6. A hedged term ("infection" for Pneumonia) is at most uncertain: positive becomes uncertain.
7. A positive mention offered as one of alternatives is uncertain (:mod:`agcl.reports.alternatives`).
"""

from __future__ import annotations

from itertools import accumulate

from agcl.reports.matchers import SENTENCE_PUNCT, Cue, Mention, TokenView

POSITIVE, NEGATIVE, UNCERTAIN = "positive", "negative", "uncertain"
#: "X versus Y" reaches back over one noun phrase only: "cardiomegaly and effusion versus thickening".
ALTERNATIVES = frozenset({"versus", "vs", "vs."})
STOP_ALTERNATIVE = frozenset({"and", "with", "without"})


class ClauseMap:
    """Constant-time "is there a clause boundary between token i and token j" for one doc."""

    def __init__(self, view: TokenView, boundaries: set[int], conjunctions: frozenset[str],
                 mentions: list[Mention] | None = None, item_words: frozenset[str] = frozenset()) -> None:
        """``mentions``: the doc's mentions, items of lists without a conjunction (``None``: no such lists)."""
        low = view.lower
        n = len(low)
        blocked = [0] * n
        sent_id = view.sent_lo
        for i in boundaries:
            blocked[i] = 1
        self._hard = [0, *accumulate(blocked)]
        # a comma blocks unless a list conjunction follows it before the clause ends
        conj_ahead = False
        items: dict[int, int] | None = None  # start -> end of the term mentions, built at the first comma
        for i in range(n - 1, -1, -1):
            text = low[i]
            if blocked[i] or (i + 1 < n and sent_id[i + 1] != sent_id[i]):
                conj_ahead = False
            if text in conjunctions:
                conj_ahead = True
            if text == "," and not conj_ahead:
                if mentions is not None and items is None:
                    items = {m.start: m.end for m in mentions if m.anchor == m.start}  # not heart statements
                if not (items and _item_follows(low, i, items, item_words)):
                    blocked[i] = 1
        self.sent_id = sent_id
        self.lower = low
        self.but_tokens = {i for i in range(n) if low[i] == "but"}
        self._prefix = [0, *accumulate(blocked)]

    def has_word(self, lo: int, hi: int, words: frozenset[str]) -> bool:
        """True when a token in ``[lo, hi)`` is one of ``words``."""
        return any(w in words for w in self.lower[lo:hi])

    def reachable(self, i: int, j: int, *, through_commas: bool = False) -> bool:
        """True when tokens strictly between ``i`` and ``j`` hold no boundary and both share a sentence.

        ``through_commas``: commas do not count as boundaries (list cues, rule 2).
        """
        lo, hi = (i, j) if i <= j else (j, i)
        if self.sent_id[lo] != self.sent_id[hi]:
            return False
        prefix = self._hard if through_commas else self._prefix
        return prefix[hi] - prefix[lo + 1] == 0 if hi > lo + 1 else True


#: What may follow the last item of a list without conjunction.
_ITEM_END = SENTENCE_PUNCT | {",", ";"}


def _item_follows(low: list[str], comma: int, items: dict[int, int], item_words: frozenset[str]) -> bool:
    """True when a list item follows the comma: item words, then a finding that ends its clause."""
    j = comma + 1
    while j < len(low) and j not in items and low[j] in item_words:
        j += 1
    end = items.get(j)
    return end is not None and (end >= len(low) or low[end] in _ITEM_END)


def resolve_cues(cues: list[Cue], texts: list[str], clauses: ClauseMap, evidence: frozenset[str]) -> list[Cue]:
    """Turn evidence-verb cues reached by a negation pre-cue into negation cues (rule 4).

    ``texts`` are the lower-case cue phrases, aligned with ``cues``.
    """
    verbs = [k for k, (cue, text) in enumerate(zip(cues, texts, strict=True))
             if cue.kind == "uncertainty" and text in evidence]
    if not verbs:
        return cues
    out = list(cues)
    negations: dict[int, list[Cue]] = {}  # forward negations by sentence: only those can reach
    for c in cues:
        if c.kind == "negation" and c.forward:
            negations.setdefault(clauses.sent_id[c.start], []).append(c)
    for k in verbs:
        cue = cues[k]
        if any(c.end <= cue.start and clauses.reachable(c.end - 1, cue.start)
               for c in negations.get(clauses.sent_id[cue.start], [])):
            out[k] = Cue(cue.start, cue.end, "negation", True, False, cue.text)
    return out


def mention_status(mention: Mention, cues: list[Cue], clauses: ClauseMap) -> tuple[str, Cue | None]:
    """Status of one mention and the cue that decided it (``None`` when no cue applies)."""
    if mention.kind == "normal":
        return NEGATIVE, None
    if mention.kind == "borderline":
        return UNCERTAIN, None
    best: tuple[int, int, Cue] | None = None
    for cue in cues:
        if cue.start < mention.end and mention.start < cue.end:
            dist = 0  # the cue sits inside the mention ("heart is not enlarged")
        elif (cue.forward and cue.end <= mention.anchor
              and clauses.reachable(cue.end - 1, mention.anchor, through_commas=cue.lists)):
            dist = mention.anchor - cue.end + 1
        elif (cue.backward and cue.start >= mention.end
              and clauses.reachable(mention.end - 1, _skip_but(cue, clauses))
              and not (cue.text in ALTERNATIVES and clauses.has_word(mention.end, cue.start, STOP_ALTERNATIVE))):
            dist = cue.start - mention.end + 1
        else:
            continue
        rank = 0 if cue.kind == "uncertainty" else 1  # ties: uncertainty wins
        if best is None or (dist, rank) < (best[0], best[1]):
            best = (dist, rank, cue)
    if best is None:
        return (UNCERTAIN if mention.kind == "hedged" else POSITIVE), None
    cue = best[2]
    return (UNCERTAIN if cue.kind == "uncertainty" else NEGATIVE), cue


def _skip_but(cue: Cue, clauses: ClauseMap) -> int:
    """A post-cue right after "but" still reaches back ("X is less likely but not entirely excluded")."""
    return cue.start - 1 if cue.start - 1 in clauses.but_tokens else cue.start
