"""TokenView: sentence bounds by the sentencizer's rule, span texts and offsets from token arrays."""

from __future__ import annotations

import pytest
import spacy

from agcl.reports.matchers import SENTENCE_PUNCT, TokenView, build_nlp
from agcl.reports.mining import normalize_text

TEXTS = [
    "",
    "No effusion",
    "No effusion. Small pneumothorax!  Is there edema? Yes.",
    'Heart is "normal." Lungs clear... XXXX-filled loops.\n\nIMPRESSION 1. No acute disease.',
    "FINDINGS no pneumothorax\n\nsmall effusion. . ?",
    "No evidence of effusion.. Mild opacities are atelectatic or scar.",
    "Mild cardiomegaly (stable). Left base atelectasis/scarring; no edema.",
]


@pytest.mark.parametrize("raw", TEXTS)
def test_sentence_bounds_match_spacy_sentencizer(raw: str) -> None:
    text = normalize_text(raw)
    reference = spacy.blank("en")
    reference.add_pipe("sentencizer", config={"punct_chars": sorted(SENTENCE_PUNCT)})
    ref_doc = reference(text)
    view = TokenView(build_nlp()(text), text)
    expected_lo = [sent.start for sent in ref_doc.sents for _ in sent]
    expected_hi = [sent.end for sent in ref_doc.sents for _ in sent]
    assert (view.sent_lo, view.sent_hi) == (expected_lo, expected_hi)


def test_span_text_and_offsets_match_spacy_spans() -> None:
    text = normalize_text(TEXTS[3])
    doc = build_nlp()(text)
    for view in (TokenView(doc, text), TokenView(doc)):  # with and without the known text
        for start, end in [(0, 1), (2, 5), (0, len(doc)), (len(doc) - 2, len(doc))]:
            span = doc[start:end]
            assert view.text(start, end) == span.text
            assert view.chars(start, end) == (span.start_char, span.end_char)
