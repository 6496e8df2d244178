"""Benchmark ``agcl mine`` on the 3,955 OpenI reports: speed, and accuracy on the annotated gold sets.

Prints one JSON object. Usage::

    python benchmarks/bench_mining.py [--reports ../shared/data/reports/NLMCXR_reports.tgz] [--repeat 3]

Speed: wall and CPU seconds of mining (the spaCy pipeline is built once, outside the timing) and of
reading the archive; reports/s uses the best wall time of ``--repeat`` runs, reports/CPU-s the best
CPU time. The goal is at least 2,000 reports per CPU second after start-up (``goal_met``).
Accuracy: pair F1, (report, label, status) precision/recall/F1, per-status F1 and status macro-F1,
and severity accuracy on shared positives, for the dev and the four held-out gold files of
tests/reports/data (docs/mining.md describes how they were annotated).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_REPORTS_PER_CPU_S = 2000.0
GOLD_SETS = ("dev", "heldout", "heldout2", "heldout3", "heldout4")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=ROOT.parent / "shared/data/reports/NLMCXR_reports.tgz")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gold", default=",".join(GOLD_SETS), help="gold sets to score (comma-separated)")
    args = parser.parse_args()

    from agcl.reports.aggregate import aggregate
    from agcl.reports.devset import load_gold, score
    from agcl.reports.mining import ReportMiner
    from agcl.reports.readers import read_openi

    t0, c0 = time.perf_counter(), time.process_time()
    reports = read_openi(args.reports)
    read_wall, read_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    miner = ReportMiner()
    build_s = time.perf_counter() - t0
    runs = []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        mentions = miner.mine(reports.reports)
        table = aggregate(mentions)
        runs.append((time.perf_counter() - t0, time.process_time() - c0))
    best_wall = min(r[0] for r in runs)
    n = len(reports.reports)
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "reports": n, "skipped_empty": len(reports.skipped_empty), "mentions": len(mentions), "rows": len(table),
        "lexicon": miner.lexicon.version,
        "read_wall_s": round(read_wall, 3), "read_cpu_s": round(read_cpu, 3), "build_s": round(build_s, 3),
        "mine_wall_s": [round(r[0], 3) for r in runs], "mine_cpu_s": [round(r[1], 3) for r in runs],
        "reports_per_s": round(n / best_wall, 1),
        "reports_per_cpu_s": round(n / min(r[1] for r in runs), 1),
        "goal_reports_per_cpu_s": GOAL_REPORTS_PER_CPU_S,
        "goal_met": n / min(r[1] for r in runs) >= GOAL_REPORTS_PER_CPU_S,
        "read_plus_mine_wall_s": round(read_wall + best_wall, 3),
    }
    for name in filter(None, args.gold.split(",")):
        gold_path = ROOT / "tests/reports/data" / f"openi_{name}_gold.csv"
        if gold_path.is_file():
            s = score(table, load_gold(gold_path))
            result[name] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
