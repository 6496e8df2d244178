"""Draw the hedge-rich OpenI held-out set (``openi_heldout3_gold.csv``): prints the chosen report ids.

Usage::

    python tests/reports/data/select_heldout3.py ../shared/data/reports/NLMCXR_reports.tgz

The draw was made once, before the rules for differentials and hedges were written (docs/mining.md).
Reports already in the dev and held-out gold files are excluded. A report qualifies when one sentence
holds both a finding word and hedged or differential language: "X/Y", "differential", "compatible
with", "apparent", "represent...", "infecti...", "versus", or "X or Y" in a sentence without a negation
word. Seeded draw of 64.
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

from agcl.reports.readers import read_openi

HERE = Path(__file__).parent
FINDING = (r"atelecta\w*|cardiomegaly|effusion\w*|infiltrat\w*|mass\w*|nodul\w*|pneumon\w*|pneumothora\w*|"
           r"consolidat\w*|edema|congestion|emphysema\w*|fibro\w*|thickening|hernia|scar\w*|opacit\w*|"
           r"airspace|infection|infectious")
HEDGE = (rf"(?:\b(?:{FINDING})\s*/\s*[a-z])|(?:[a-z]\s*/\s*(?:{FINDING})\b)|"
         r"\bdifferential\b|\bcompatible with\b|\bapparent\b|\brepresent\w*\b|\binfecti\w*\b|\bversus\b|\bvs\b")
#: "X or Y" counts only in a sentence without a negation ("No effusion or pneumothorax" is not hedged).
ALTERNATIVE = rf"\b(?:{FINDING})\b[^.]{{0,40}}\bor\b|\bor\b[^.]{{0,40}}\b(?:{FINDING})\b"
NEGATION = re.compile(r"\b(?:no|not|without|negative|free)\b")
SENTENCE = re.compile(r"[^.]+")


def qualifies(text: str) -> bool:
    for sent in SENTENCE.findall(text.lower()):
        if not re.search(rf"\b(?:{FINDING})\b", sent):
            continue
        if re.search(HEDGE, sent) or (re.search(ALTERNATIVE, sent) and not NEGATION.search(sent)):
            return True
    return False


def main() -> None:
    taken: set[str] = set()
    for name in ("openi_dev_gold.csv", "openi_heldout_gold.csv", "openi_heldout2_gold.csv"):
        taken |= {line.split(",")[0] for line in (HERE / name).read_text().splitlines()[1:]}
    reports = read_openi(sys.argv[1]).reports
    pool = sorted(rid for rid, text in reports if rid not in taken and qualifies(text))
    chosen = random.Random(20261129).sample(pool, 64)
    print(f"# pool {len(pool)}", file=sys.stderr)
    print("\n".join(chosen))


if __name__ == "__main__":
    main()
