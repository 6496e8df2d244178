"""The shell of ``agcl evaluate``: validate options, read inputs, score each model, write and print."""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agcl.boxes.generators import METHODS, NORMALIZATIONS, UPSAMPLE, BoxSettings
from agcl.errors import ConfigError, InputError
from agcl.evaluation.controls import CONTROLS, control_outputs
from agcl.evaluation.core import EvalSettings, ModelResult, evaluate_model
from agcl.evaluation.inputs import load_stage, load_test_set
from agcl.evaluation.localization import CRITERIA, SCOPES
from agcl.evaluation.tables import auc_wide, paired_auc, paired_wide, write_tables
from agcl.labels import LABELS

log = logging.getLogger(__name__)


def _check(option: str, value, allowed) -> None:
    if value not in allowed:
        hint = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
        raise ConfigError(f"--{option} {value!r} is not one of {list(allowed)}" + (f"; did you mean {hint[0]!r}?" if hint else ""))


def _print(df: pd.DataFrame, title: str, digits: int) -> None:
    table = Table(title=escape(title))  # model names are user text: never rich markup
    for c in df.columns:
        table.add_column(escape(str(c)), justify="left" if c in ("Model", "Disease") else "right")
    for row in df.itertuples(index=False):
        table.add_row(*[f"{v:.{digits}f}" if isinstance(v, float) else escape(str(v)) for v in row])
    Console().print(table)


def run_evaluation(*, index_dir: Path, stages: list[Path], names: list[str], controls: list[str], out: Path | None,
                   cache: Path | None, generator: str, t: float, criterion: str, scope: str, threshold: float,
                   upsample: str, upsample_size: int, connectivity: int, normalization: str, bootstrap: int,
                   seed: int, control_size: int) -> list[ModelResult]:
    """Evaluate every stage and control on the test split and write the tables (see docs/evaluation.md)."""
    for option, value, allowed in (("generator", generator, METHODS), ("criterion", criterion, CRITERIA),
                                   ("scope", scope, SCOPES), ("upsample", upsample, UPSAMPLE),
                                   ("normalization", normalization, NORMALIZATIONS),
                                   ("connectivity", connectivity, (4, 8))):
        _check(option, value, allowed)
    for c in controls:
        _check("control", c, CONTROLS)
    if not stages and not controls:
        raise ConfigError("nothing to evaluate: give --stage DIR and/or --control uniform|centre")
    if names and len(names) != len(stages):
        raise ConfigError(f"--name given {len(names)} time(s) for {len(stages)} --stage folder(s)")
    if out is None:
        if not stages:
            raise ConfigError("--out is required when only controls are evaluated")
        out = stages[0].resolve().parent / "eval"
    names = names or [s.resolve().name.removeprefix("stage_") for s in stages]
    all_names = [*names, *controls]
    if len(set(all_names)) != len(all_names):
        raise ConfigError(f"model names are not unique: {all_names}; use --name")

    test = load_test_set(index_dir, cache)
    if test.gt.empty:
        raise InputError(f"{index_dir / 'boxes.csv'}: no GT box on a test image; nothing to localize")
    size = upsample_size or test.cache_size or 512
    settings = EvalSettings(boxes=BoxSettings(method=generator, upsample=upsample, upsample_size=size,
                                              connectivity=connectivity, normalization=normalization),
                            t=t, criterion=criterion, scope=scope, threshold=threshold, n_boot=bootstrap, seed=seed)
    inputs = []
    for stage_dir, nm in zip(stages, names, strict=True):
        preds, ids, maps = load_stage(stage_dir, test, test.gt)
        inputs.append((nm, str(stage_dir), preds, ids, maps))
    hw = tuple(inputs[0][4].shape[2:]) if inputs else None
    for c in controls:
        side = (control_size, control_size) if control_size else (hw or (16, 16))
        ids = test.images["image_id"].tolist()
        probs, maps = control_outputs(c, len(ids), len(LABELS), side, seed)
        preds = pd.DataFrame(probs, columns=list(LABELS))
        preds.insert(0, "image_id", ids)
        inputs.append((c, f"control:{c}", preds, ids, maps))

    results = []
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        for nm, source, preds, ids, maps in inputs:
            task = progress.add_task(f"boxes {nm}", total=None)
            res = evaluate_model(nm, test.images, preds, ids, maps, test.gt, test.sizes, settings,
                                 progress=lambda done, total, task=task: progress.update(task, completed=done, total=total))
            res.info["source"] = source
            results.append(res)
    context = {"split": "test", "n_test_images": len(test.images), "n_box_images": int(test.gt["image_id"].nunique()),
               "sizes": test.source, "models": {r.name: r.info["source"] for r in results}}
    written = write_tables(out, results, settings.describe(), context)
    auc = auc_wide(results).set_index("Model").T.reset_index().rename(columns={"index": "Disease"})
    _print(auc, f"Table 1 — AUC (test, n={len(test.images)})", 4)
    paired = paired_auc(results)
    if not paired.empty:
        _print(paired_wide(paired), f"AUC − AUC({paired['reference'].iloc[0]}): paired bootstrap, "
               f"{bootstrap} resamples, 95 % CI", 4)
    for r in results:  # one compact Table 2 per model; summary.md has them side by side
        loc = r.localization[["label", "gt", "detected", "tp", "gt_hit", "recall", "precision"]]
        loc = loc.set_axis(["Disease", "GT", "Det", "TP", "GT hit", "Recall", "Prec"], axis=1)
        _print(loc, f"Table 2 [{r.name}] — T({criterion})={t}, {generator}, scope {scope}", 2)
    log.info("wrote %d files to %s", len(written), out)
    return results
