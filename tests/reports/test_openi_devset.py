"""Accuracy on real OpenI reports against hand-annotated gold (docs/mining.md explains the protocol).

The gold files hold only report ids and labels (the report text is CC BY-NC-ND and stays in
../shared/data). ``openi_dev_gold.csv`` (100 reports) was used while writing the rules;
``openi_heldout_gold.csv`` (50 reports) was annotated before its first evaluation (some later fixes
followed its errors); ``openi_heldout2_gold.csv`` (40 reports) was annotated after the rules were frozen;
``openi_heldout3_gold.csv`` (64 hedge-rich reports) was drawn and annotated before the rules for
alternatives and hedges were written and scored once after they were frozen;
``openi_heldout4_gold.csv`` (64 reports with heart-size, pneumothorax-size and ``XXXX`` phrasings) was
drawn and annotated before the rules for those phrasings were written, scored once on the rules before
them, and then used for failure analysis. All five follow the conventions of docs/mining.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agcl.reports.aggregate import aggregate
from agcl.reports.devset import load_gold, score
from agcl.reports.mining import ReportMiner
from agcl.reports.readers import read_openi

DATA = Path(__file__).parent / "data"
GOLD_FILES = ("openi_dev_gold.csv", "openi_heldout_gold.csv", "openi_heldout2_gold.csv", "openi_heldout3_gold.csv",
              "openi_heldout4_gold.csv")
#: Held-out 4 misses the status targets through dictation errors that its gold reads as meant
#: ("Marrow pneumothorax, ..." for "No pneumothorax, ..."; docs/mining.md): its floors are lower.
FLOORS = {"openi_heldout4_gold.csv": {"status_macro_f1": 0.94, "f1_uncertain": 0.88, "f1_negative": 0.97}}


@pytest.fixture(scope="module")
def openi_table(openi_reports: Path, miner: ReportMiner):
    gold_ids = set()
    for name in GOLD_FILES:
        gold_ids |= set(load_gold(DATA / name)["report_id"])
    reports = read_openi(openi_reports, stems={i.removeprefix("CXR") for i in gold_ids}).reports
    assert {r[0] for r in reports} == gold_ids
    assert len(gold_ids) == 318
    return aggregate(miner.mine(reports))


@pytest.mark.realdata
@pytest.mark.parametrize("name", GOLD_FILES)
def test_openi_gold_targets(openi_table, name: str) -> None:
    s = score(openi_table, load_gold(DATA / name))
    floor = {"status_macro_f1": 0.95, "f1_uncertain": 0.90, "f1_negative": 0.98, **FLOORS.get(name, {})}
    assert s["f1"] >= 0.95, s
    assert s["pair_f1"] >= 0.98, s
    assert all(s[key] >= value for key, value in floor.items()), (floor, s)
    assert s["severity_accuracy"] >= 0.97, s
