"""Benchmark mining one over-long report in chunks: CPU time and peak memory per chunk size.

Prints one JSON object. Usage::

    python benchmarks/bench_long_report.py [--sentences 32000] [--chunks 10000,100000,1000000]

The report is synthetic (seeded sentences of the kind OpenI reports hold, about 30 characters
each). Each chunk size runs in a fresh subprocess, so that its peak RSS (``ru_maxrss``) is its own;
``rss_mib`` is the peak above the built miner after a warm-up call. A chunk of 1,000,000 characters
(spaCy's limit) is the report as one document. docs/mining.md ("Long reports") records the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys

SENTENCES = [
    "The lungs are clear.", "No pneumothorax, pleural effusion.", "Small left pleural effusion.",
    "Heart size XXXX large.", "There is no XXXX focal consolidation.", "Mild cardiomegaly.",
    "Possible right lower lobe pneumonia.", "Stable 1 cm right apical pneumothorax.",
    "Left basilar atelectasis/scarring.",
]


def _one(sentences: int, chunk: int) -> dict:
    import resource
    import time

    from agcl.reports.mining import ReportMiner

    rng = random.Random(0)
    text = " ".join(rng.choice(SENTENCES) for _ in range(sentences))
    miner = ReportMiner(chunk_chars=chunk)
    miner.mine([("warm", "Small effusion.")])
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.process_time()
    mentions = miner.mine([("long", text)])
    cpu = time.process_time() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"chars": len(text), "chunk_chars": miner.chunk_chars, "mentions": len(mentions),
            "cpu_s": round(cpu, 3), "rss_mib": round((peak - base) / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=32000)
    parser.add_argument("--chunks", default="10000,100000,1000000")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(_one(args.sentences, args.one)))
        return
    runs = []
    for chunk in (int(c) for c in args.chunks.split(",")):
        out = subprocess.run([sys.executable, __file__, "--sentences", str(args.sentences), "--one", str(chunk)],
                             check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    print(json.dumps({"machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "runs": runs},
                     indent=2))


if __name__ == "__main__":
    main()
