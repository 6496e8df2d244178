"""Mention-level report mining: the pure core of ``agcl mine`` (AGCL §2.2).

:func:`mine_reports` turns ``(report id, text)`` pairs into one row per finding mention with its
status (positive / negative / uncertain), severity (mild / moderate / severe / none) and evidence
sentence. :func:`agcl.reports.aggregate.aggregate` folds mentions into one row per report and label.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

import pandas as pd

from agcl.reports.alternatives import AlternativeReader
from agcl.reports.context import POSITIVE, UNCERTAIN, ClauseMap, mention_status, resolve_cues
from agcl.reports.lexicon import Lexicon, load_lexicon
from agcl.reports.matchers import Cue, RuleMatchers, TokenView, build_nlp
from agcl.reports.severity import SeverityReader

log = logging.getLogger(__name__)

MENTION_COLUMNS = ["id", "label", "status", "severity", "evidence", "term", "cue", "severity_word",
                   "start_char", "end_char"]

_BLANK_LINES = re.compile(r"[ \t\r\f\v]*\n\s*\n\s*")
_SPACES = re.compile(r"[ \t\r\f\v\n]+")


def normalize_text(text: str) -> str:
    """Blank lines become section breaks ("\\n\\n", a sentence end); other whitespace runs one space.

    Wrapped lines (MIMIC-CXR style) therefore never split a sentence, while sections without a final
    period ("FINDINGS ... \\n\\nIMPRESSION ...") still do.
    """
    parts = _BLANK_LINES.split(text.strip())
    return "\n\n".join(_SPACES.sub(" ", p).strip() for p in parts if p.strip())


class ReportMiner:
    """A reusable miner: the spaCy pipeline and matchers are built once per lexicon."""

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon or load_lexicon()
        self.nlp = build_nlp()
        self.rules = RuleMatchers(self.nlp, self.lexicon)
        self.severity = SeverityReader(self.lexicon)
        self.alternatives = AlternativeReader(self.lexicon)

    def mine(
        self,
        texts: Iterable[tuple[str, str]],
        *,
        batch_size: int = 256,
        on_report: Callable[[], None] | None = None,
    ) -> pd.DataFrame:
        """Mention table for ``(id, text)`` pairs (see :data:`MENTION_COLUMNS`); ids are kept as str."""
        rows: list[tuple] = []
        limited = self._within_limit(((normalize_text(t), str(rid)) for rid, t in texts), on_report)
        pairs = ((norm, (rid, norm)) for norm, rid in limited)
        for doc, (rid, norm) in self.nlp.pipe(pairs, as_tuples=True, batch_size=batch_size):
            rows.extend(self._mine_doc(rid, doc, norm))
            if on_report is not None:
                on_report()
        return pd.DataFrame(rows, columns=MENTION_COLUMNS)

    def _within_limit(self, pairs: Iterable[tuple[str, str]],
                      on_report: Callable[[], None] | None) -> Iterable[tuple[str, str]]:
        """Skip (with a warning naming it) a report longer than the spaCy pipeline accepts."""
        for text, rid in pairs:
            if len(text) > self.nlp.max_length:
                log.warning("report %s: %d characters exceed the miner's limit of %d; report skipped",
                            rid, len(text), self.nlp.max_length)
                if on_report is not None:
                    on_report()
                continue
            yield text, rid

    def _mine_doc(self, rid: str, doc, text: str) -> list[tuple]:
        view = TokenView(doc, text)
        mentions = self.rules.mentions(view)
        if not mentions:
            return []
        cues, pseudo = self.rules.cues_of(view)
        item_words = self.lexicon.list_item_words
        items = None if item_words is None else {m.start: m.end for m in mentions if m.anchor == m.start}
        clauses = ClauseMap(view, self.rules.boundary_tokens(doc), self.lexicon.list_conjunctions,
                            items, item_words or frozenset())
        if self.lexicon.negated_evidence:
            texts = [" ".join(view.lower[c.start:c.end]) for c in cues]
            cues = resolve_cues(cues, texts, clauses, self.lexicon.negated_evidence)
        # cues reach only mentions of their own sentence: group them, so that long reports stay linear
        cues_in = _by_sentence(cues, view.sent_lo)
        pseudo_in = _by_sentence(pseudo, view.sent_lo)
        covered: dict[str, set[int]] = {}
        for m in mentions:
            if m.kind == "finding":
                covered.setdefault(m.label, set()).update(range(m.start, m.end))
        out = []
        sentences: dict[int, str] = {}
        for m in mentions:
            lo = view.sent_lo[m.start]
            status, cue = mention_status(m, cues_in.get(lo, []), clauses)
            if status == POSITIVE:
                alt = self.alternatives.cue(view, m, clauses, pseudo_in.get(lo, []), covered.get(m.label, set()))
                if alt is not None:
                    status, cue = UNCERTAIN, alt
            level, sev_i = ("none", None)
            if status == POSITIVE:
                level, sev_i = self.severity.severity(view, m)
            if lo not in sentences:
                sentences[lo] = view.text(lo, view.sent_hi[m.start]).strip()
            start_char, end_char = view.chars(m.start, m.end)
            out.append((
                rid, m.label, status, level, sentences[lo], view.text(m.start, m.end),
                view.text(cue.start, cue.end) if cue else "",
                view.text(sev_i, sev_i + 1) if sev_i is not None else "",
                start_char, end_char,
            ))
        return out


def _by_sentence(cues: list[Cue], sent_lo: list[int]) -> dict[int, list[Cue]]:
    """Cues grouped by the first token of their sentence."""
    out: dict[int, list[Cue]] = {}
    for c in cues:
        out.setdefault(sent_lo[c.start], []).append(c)
    return out


def mine_reports(texts: Iterable[tuple[str, str]], *, lexicon: Lexicon | None = None) -> pd.DataFrame:
    """Mine ``(report id, text)`` pairs into a mention-level DataFrame (pure: no I/O).

    Columns: ``id, label, status, severity, evidence, term, cue, severity_word, start_char, end_char``
    (offsets refer to :func:`normalize_text` of the report). Only positive mentions carry a severity.
    """
    return ReportMiner(lexicon).mine(texts)
