"""Draw the phrasing-rich OpenI held-out set (``openi_heldout4_gold.csv``): prints the chosen report ids.

Usage::

    python tests/reports/data/select_heldout4.py ../shared/data/reports/NLMCXR_reports.tgz

The draw was made once, before the rules for heart-size degrees, pneumothorax sizes and the ``XXXX``
mask were written (docs/mining.md). Reports already in the four older gold files are excluded. Three
keyword strata, drawn in this order from one seeded generator, each from the reports the strata
before it did not take:

* **pneumothorax** (all of them, at most 24): a sentence names a pneumothorax with no negation word
  before it ("small right apical pneumothorax", "pneumothorax measuring 1.8 cm");
* **heart size** (20): a sentence states the heart's size as large / enlarged / increased and holds
  a degree word or the mask ("heart size remains slightly large", "heart size XXXX mildly enlarged");
* **mask** (20): the mask stands inside the phrase that carries a finding or its negation
  ("no XXXX infiltrates", "XXXX left pleural effusion", "heart size is XXXX within normal limits").
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

from agcl.reports.readers import read_openi

HERE = Path(__file__).parent
OLDER = ("openi_dev_gold.csv", "openi_heldout_gold.csv", "openi_heldout2_gold.csv", "openi_heldout3_gold.csv")
SEED = 20261203
#: A period inside a number ("2.0 cm") does not end the sentence.
SENTENCE = re.compile(r"(?:[^.]|\.(?=\d))+")
PNEUMOTHORAX = re.compile(r"\w*pneumothora\w*")
NEGATION = re.compile(r"\b(?:no|not|without|negative|free|clear|resolved|resolution|nor|absence|exclude\w*)\b")
HEART = (r"\b(?:heart|cardiac|cardiomediastinal)\b[^.]{0,50}\b(?:large|larger|enlarged|enlargement|increased|big)\b"
         r"|\b(?:enlarged|large)\b[^.]{0,20}\b(?:heart|cardiac)\b")
DEGREE = (r"\b(?:mild\w*|slight\w*|minimal\w*|moderate\w*|marked\w*|severe\w*|massive\w*|borderline|upper|top|"
          r"very|xxxx)\b")
FINDING = (r"atelecta\w*|cardiomegaly|effusions?|infiltrat\w*|mass\w*|nodul\w*|pneumon\w*|pneumothora\w*|"
           r"consolidat\w*|edema|congestion|emphysema\w*|fibro\w*|thickening|hernia")
MASK = (r"\b(?:no|not|without|negative for)\s+xxxx\b|\bxxxx\s+(?:[\w-]+\s+){0,2}(?:" + FINDING + r")\b"
        r"|\b(?:heart|cardiac|cardiomediastinal)\s+(?:[\w-]+\s+){0,2}xxxx\b")


def pneumothorax(sent: str) -> bool:
    m = PNEUMOTHORAX.search(sent)
    return bool(m) and not NEGATION.search(sent[:m.start()])


def heart(sent: str) -> bool:
    return bool(re.search(HEART, sent) and re.search(DEGREE, sent))


def mask(sent: str) -> bool:
    return bool(re.search(MASK, sent))


def stratum(reports: dict[str, str], test) -> list[str]:
    return sorted((rid for rid, text in reports.items() if any(test(s) for s in SENTENCE.findall(text.lower()))),
                  key=lambda r: int(r.removeprefix("CXR")))


def main() -> None:
    taken: set[str] = set()
    for name in OLDER:
        taken |= {line.split(",")[0] for line in (HERE / name).read_text().splitlines()[1:]}
    reports = {rid: text for rid, text in read_openi(sys.argv[1]).reports if rid not in taken}
    rng = random.Random(SEED)
    chosen: list[str] = []
    for name, test, size in (("pneumothorax", pneumothorax, 24), ("heart size", heart, 20), ("mask", mask, 20)):
        pool = [r for r in stratum(reports, test) if r not in chosen]
        draw = pool if len(pool) <= size else rng.sample(pool, size)
        print(f"# {name}: pool {len(pool)}, drawn {len(draw)}", file=sys.stderr)
        chosen += draw
    print("\n".join(chosen))


if __name__ == "__main__":
    main()
