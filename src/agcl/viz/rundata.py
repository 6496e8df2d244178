"""Read what a run directory holds, for the report: stages, tables, metrics, seeds, config.

Everything is optional: a report of a half-finished run shows what exists and says what is missing.
Malformed files raise :class:`agcl.errors.InputError` naming the file (and line).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from agcl.errors import InputError

log = logging.getLogger(__name__)

_ROUND = re.compile(r"^(curriculum_r|seeds_r|agcl_)(\d+)$")
_FIXED = {"index": (0, 0), "prepare": (0, 1), "bsl": (1, 0), "bsl_plus": (1, 1), "seeds_agl": (2, 0), "agl": (2, 1)}
_ROUND_STEP = {"curriculum_r": 0, "seeds_r": 1, "agcl_": 2}


def stage_sort_key(name: str) -> tuple[int, int, str]:
    """Pipeline order: index, prepare, bsl, bsl_plus, seeds_agl, agl, then per round k curriculum_rk, seeds_rk,
    agcl_k; unknown names last (alphabetical)."""
    if name in _FIXED:
        return (*_FIXED[name], name)
    m = _ROUND.match(name)
    if m:
        return (3, int(m.group(2)) * 3 + _ROUND_STEP[m.group(1)], name)
    return (9, 0, name)


@dataclass(frozen=True)
class RunData:
    """Paths and small tables of one run directory."""

    root: Path
    config: dict[str, Any]

    @classmethod
    def open(cls, run_dir: str | Path) -> RunData:
        root = Path(run_dir)
        if not root.is_dir():
            raise InputError(f"run directory not found: {root}")
        if not (root / "config.yaml").is_file() and not any(root.glob("stage_*")):
            raise InputError(f"{root} is not an agcl run directory (no config.yaml and no stage_* folders)")
        _warn_unreadable_json(root / "eval" / "summary.json")
        return cls(root=root, config=_read_yaml(root / "config.yaml"))

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval"

    def stages(self) -> list[str]:
        """Names of the ``stage_*`` folders, in pipeline order."""
        names = [p.name[len("stage_"):] for p in self.root.glob("stage_*") if p.is_dir()]
        return sorted(names, key=stage_sort_key)

    def stage_dir(self, name: str) -> Path:
        return self.root / f"stage_{name}"

    def prediction_stages(self) -> list[str]:
        """Stages that wrote test predictions (those compared in Table 1 and the ROC curves)."""
        return [s for s in self.stages() if (self.stage_dir(s) / "predictions.csv").is_file()]

    def heatmap_stages(self) -> list[str]:
        return [s for s in self.stages() if (self.stage_dir(s) / "heatmaps.npy").is_file()]

    def table(self, name: str) -> pd.DataFrame | None:
        """``eval/<name>`` as a DataFrame, or None when absent."""
        path = self.eval_dir / name
        return read_csv(path) if path.is_file() else None

    def metrics(self) -> pd.DataFrame:
        """``metrics.jsonl`` (run level, plus any per-stage file) as one DataFrame."""
        paths = [self.root / "metrics.jsonl"] + [self.stage_dir(s) / "metrics.jsonl" for s in self.stages()]
        frames = []
        for path in paths:
            if path.is_file():
                frame = read_jsonl(path)
                if "stage" not in frame.columns and path.parent != self.root:
                    frame["stage"] = path.parent.name[len("stage_"):]
                frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def seed_counts(self) -> pd.DataFrame:
        """Seeds per (round, label, rule) from every stage's ``seeds.csv``.

        ``round`` is the stage that wrote the file (e.g. ``seeds_r1``, ``agl``), so rounds appear in
        pipeline order.
        """
        rows = []
        for stage in self.stages():
            path = self.stage_dir(stage) / "seeds.csv"
            if not path.is_file():
                continue
            seeds = read_csv(path)
            missing = {"label", "rule"} - set(seeds.columns)
            if missing:
                raise InputError(f"{path}: missing column(s) {sorted(missing)}")
            for (label, rule), n in seeds.groupby(["label", "rule"]).size().items():
                rows.append((stage, str(label), str(rule), int(n)))
        return pd.DataFrame(rows, columns=["round", "label", "rule", "count"])

    def config_value(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.config
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node


def _warn_unreadable_json(path: Path) -> None:
    """Warn (naming it) about a JSON artifact that exists but does not parse; the report goes on."""
    if not path.is_file():
        return
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable JSON (%s); ignored - re-run `agcl evaluate` to rewrite it", path, exc)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return data if isinstance(data, dict) else {}


def read_csv(path: Path) -> pd.DataFrame:
    """Read a CSV artifact; a malformed file becomes one InputError line naming it."""
    from agcl.evaluation.artifacts import read_table

    return read_table(Path(path), "CSV")


def read_jsonl(path: Path) -> pd.DataFrame:
    """Read ``metrics.jsonl``: one JSON object per line; blank lines are skipped.

    A truncated last line (a run killed mid-write) is ignored; any other bad line is an error.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):
                log.warning("%s:%d: half-written last line (a killed run?) ignored", path, n)
                break
            raise InputError(f"{path}:{n}: not a JSON object") from None
        if not isinstance(obj, dict):
            raise InputError(f"{path}:{n}: not a JSON object")
        records.append(obj)
    return pd.json_normalize(records) if records else pd.DataFrame()
