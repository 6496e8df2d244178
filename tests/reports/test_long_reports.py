"""Over-long reports are mined in chunks (docs/mining.md, "Long reports"), with the same result as whole."""

from __future__ import annotations

import logging
import random

import pandas as pd
import pytest

from agcl.reports.aggregate import aggregate
from agcl.reports.mining import CHUNK_CHARS, ReportMiner, normalize_text, split_text

SENTENCES = [
    "The lungs are clear.", "No pneumothorax, pleural effusion.", "Small left pleural effusion.",
    "Heart size XXXX large.", "There is no XXXX focal consolidation.", "Mild cardiomegaly.",
    "Possible right lower lobe pneumonia.", "Stable 1 cm right apical pneumothorax.",
    "Left basilar atelectasis/scarring.", "IMPRESSION\n\nNo acute disease", "Heart size is normal?",
    "Differential diagnosis includes atelectasis, infiltrate, pulmonary edema.",
]


def _long_report(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(SENTENCES) for _ in range(n))


@pytest.mark.parametrize("limit", [1, 3, 7, 40, 1000])
def test_split_text_covers_the_text_within_the_limit(limit: int) -> None:
    text = "Aa bb. Cc dd.\n\nEe ff gg. Hh ii jj kk.  Ll"
    pieces = split_text(text, limit)
    assert all(0 < len(chunk) <= limit for _, chunk in pieces)
    assert all(text[off:off + len(chunk)] == chunk for off, chunk in pieces)
    assert [off for off, _ in pieces] == sorted(off for off, _ in pieces)
    # only whitespace is dropped at the cuts
    assert "".join(chunk for _, chunk in pieces).replace(" ", "").replace("\n", "") == \
        text.replace(" ", "").replace("\n", "")


def test_split_text_prefers_section_breaks_then_sentence_ends() -> None:
    assert split_text("Aa bb. Cc dd.\n\nEe ff.", 16) == [(0, "Aa bb. Cc dd."), (15, "Ee ff.")]
    assert split_text("Aa bb. Cc dd ee ff.", 14) == [(0, "Aa bb."), (7, "Cc dd ee ff.")]
    assert split_text("abcdefgh", 3) == [(0, "abc"), (3, "def"), (6, "gh")]
    with pytest.raises(ValueError, match="positive"):
        split_text("abc", 0)


@pytest.mark.parametrize("chunk_chars", [300, 1024, 5000])
def test_chunked_mentions_equal_whole_report_mentions(chunk_chars: int) -> None:
    text = _long_report(600)
    whole = ReportMiner(chunk_chars=10 ** 6).mine([("r", text)])
    chunked = ReportMiner(chunk_chars=chunk_chars).mine([("r", text)])
    assert len(whole) > 500
    pd.testing.assert_frame_equal(whole, chunked)  # statuses, severities, evidence and offsets


def test_offsets_refer_to_the_whole_report_and_reports_stay_apart(caplog) -> None:
    text = _long_report(400, seed=1)
    miner = ReportMiner(chunk_chars=500)
    calls: list[int] = []
    with caplog.at_level(logging.INFO):
        mentions = miner.mine([("long", text), ("short", "Large right pneumothorax.")],
                              on_report=lambda: calls.append(1))
    assert len(calls) == 2  # one progress tick per report, not per chunk
    assert "report long:" in caplog.text and "chunks of at most 500" in caplog.text
    long = mentions[mentions["id"] == "long"]
    norm = normalize_text(text)
    assert all(norm[r.start_char:r.end_char] == r.term for r in long.itertuples())
    assert long["start_char"].max() > 10 * 500
    table = aggregate(mentions)
    assert table[table["id"] == "short"][["label", "status", "severity"]].values.tolist() == [
        ["Pneumothorax", "positive", "severe"]]


def test_default_chunk_is_below_the_spacy_limit() -> None:
    miner = ReportMiner()
    assert miner.chunk_chars == CHUNK_CHARS < miner.nlp.max_length
    assert ReportMiner(chunk_chars=10 ** 9).chunk_chars == miner.nlp.max_length
