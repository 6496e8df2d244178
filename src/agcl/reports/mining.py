"""Mention-level report mining: the pure core of ``agcl mine`` (AGCL §2.2).

:func:`mine_reports` turns ``(report id, text)`` pairs into one row per finding mention with its
status (positive / negative / uncertain), severity (mild / moderate / severe / none) and evidence
sentence. :func:`agcl.reports.aggregate.aggregate` folds mentions into one row per report and label.

A report longer than :data:`CHUNK_CHARS` characters is mined in chunks of at most that size, cut at
section breaks or sentence ends where possible (:func:`split_text`); every rule works within a
sentence, so the mentions are those of the whole report and their offsets refer to the whole report.
Only one chunk's spaCy document exists at a time, which caps the miner's working memory
(docs/mining.md, "Long reports").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from functools import partial

import pandas as pd

from agcl.reports.alternatives import AlternativeReader
from agcl.reports.context import POSITIVE, UNCERTAIN, ClauseMap, mention_status, resolve_cues
from agcl.reports.lexicon import Lexicon, load_lexicon
from agcl.reports.matchers import Cue, RuleMatchers, TokenView, build_nlp
from agcl.reports.severity import SeverityReader

log = logging.getLogger(__name__)

MENTION_COLUMNS = ["id", "label", "status", "severity", "evidence", "term", "cue", "severity_word",
                   "start_char", "end_char"]

#: The longest text given to spaCy at once; longer reports are mined in chunks (docs/mining.md).
CHUNK_CHARS = 100_000

_BLANK_LINES = re.compile(r"[ \t\r\f\v]*\n\s*\n\s*")
#: A sentence end inside a chunk window: ". ", "! ", "? " (the cut falls after the punctuation).
_SENTENCE_END = re.compile(r"[.!?](?=\s)")
_SPACES = re.compile(r"[ \t\r\f\v\n]+")


def normalize_text(text: str) -> str:
    """Blank lines become section breaks ("\\n\\n", a sentence end); other whitespace runs one space.

    Wrapped lines (MIMIC-CXR style) therefore never split a sentence, while sections without a final
    period ("FINDINGS ... \\n\\nIMPRESSION ...") still do.
    """
    parts = _BLANK_LINES.split(text.strip())
    return "\n\n".join(_SPACES.sub(" ", p).strip() for p in parts if p.strip())


def split_text(text: str, limit: int) -> list[tuple[int, str]]:
    """``(offset, chunk)`` pieces of at most ``limit`` characters that cover ``text`` in order.

    Each cut falls, by preference, at the last section break ("\\n\\n") of the window, else after its
    last sentence end (". "), else at its last space, else at ``limit``. Whitespace at a cut is dropped.
    """
    if limit < 1:
        raise ValueError(f"chunk limit must be positive, got {limit}")
    pieces: list[tuple[int, str]] = []
    pos, n = 0, len(text)
    while n - pos > limit:
        window = text[pos:pos + limit + 1]  # a break right after the limit still counts
        cut = window.rfind("\n\n", 1)
        if cut < 1:
            ends = [m.end() for m in _SENTENCE_END.finditer(window, 1) if m.end() <= limit]
            cut = ends[-1] if ends else window.rfind(" ", 1, limit + 1)
        if cut < 1:
            cut = limit
        pieces.append((pos, text[pos:pos + cut]))
        pos += cut
        while pos < n and text[pos].isspace():
            pos += 1
    if pos < n:
        pieces.append((pos, text[pos:]))
    return pieces


class ReportMiner:
    """A reusable miner: the spaCy pipeline and matchers are built once per lexicon.

    ``chunk_chars``: the longest text mined as one spaCy document (:data:`CHUNK_CHARS`).
    """

    def __init__(self, lexicon: Lexicon | None = None, *, chunk_chars: int = CHUNK_CHARS) -> None:
        self.lexicon = lexicon or load_lexicon()
        self.nlp = build_nlp()
        self.rules = RuleMatchers(self.nlp, self.lexicon)
        self.severity = SeverityReader(self.lexicon)
        self.alternatives = AlternativeReader(self.lexicon)
        self.chunk_chars = min(chunk_chars, self.nlp.max_length)

    def mine(
        self,
        texts: Iterable[tuple[str, str]],
        *,
        batch_size: int = 256,
        on_report: Callable[[], None] | None = None,
    ) -> pd.DataFrame:
        """Mention table for ``(id, text)`` pairs (see :data:`MENTION_COLUMNS`); ids are kept as str."""
        rows: list[tuple] = []
        pieces = self._chunks((str(rid), normalize_text(t)) for rid, t in texts)
        for doc, (rid, chunk, offset, last) in self.nlp.pipe(pieces, as_tuples=True, batch_size=batch_size):
            rows.extend(self._mine_doc(rid, doc, chunk, offset))
            if last and on_report is not None:
                on_report()
        return pd.DataFrame(rows, columns=MENTION_COLUMNS)

    def _chunks(self, pairs: Iterable[tuple[str, str]]) -> Iterator[tuple[str, tuple[str, str, int, bool]]]:
        """``(chunk, (id, chunk, offset, is_last))`` per chunk; a report within the limit is one chunk."""
        for rid, text in pairs:
            if len(text) <= self.chunk_chars:
                yield text, (rid, text, 0, True)
                continue
            pieces = split_text(text, self.chunk_chars)
            log.info("report %s: %d characters, mined in %d chunks of at most %d", rid, len(text),
                     len(pieces), self.chunk_chars)
            for k, (offset, chunk) in enumerate(pieces):
                yield chunk, (rid, chunk, offset, k == len(pieces) - 1)

    def _mine_doc(self, rid: str, doc, text: str, offset: int = 0) -> list[tuple]:
        view = TokenView(doc, text)
        mentions = self.rules.mentions(view)
        if not mentions:
            return []
        cues, pseudo = self.rules.cues_of(view)
        item_words = self.lexicon.list_item_words
        clauses = ClauseMap(view, self.rules.boundary_tokens(doc), self.lexicon.list_conjunctions,
                            None if item_words is None else mentions, item_words or frozenset())
        if self.lexicon.negated_evidence:
            texts = [" ".join(view.lower[c.start:c.end]) for c in cues]
            cues = resolve_cues(cues, texts, clauses, self.lexicon.negated_evidence)
        # cues reach only mentions of their own sentence: group them, so that long reports stay linear
        cues_in, pseudo_in = _by_sentence(cues, view.sent_lo), _by_sentence(pseudo, view.sent_lo)
        covered: dict[str, set[int]] = {}  # tokens of each label's finding mentions, built on first use

        def same_label(label: str) -> set[int]:
            if not covered:
                for o in mentions:
                    if o.kind == "finding":
                        covered.setdefault(o.label, set()).update(range(o.start, o.end))
            return covered.get(label, set())

        out = []
        sentences: dict[int, str] = {}
        for m in mentions:
            lo = view.sent_lo[m.start]
            status, cue = mention_status(m, cues if cues_in is None else cues_in.get(lo, []), clauses)
            if status == POSITIVE:
                alt = self.alternatives.cue(view, m, clauses, pseudo if pseudo_in is None else pseudo_in.get(lo, []),
                                            partial(same_label, m.label))
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
                start_char + offset, end_char + offset,
            ))
        return out


def _by_sentence(cues: list[Cue], sent_lo: list[int]) -> dict[int, list[Cue]] | None:
    """Cues grouped by the first token of their sentence; ``None`` (use them all) when there are few."""
    if len(cues) <= 16:
        return None
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
