"""The shell of ``agcl evaluate``: validate options, read inputs, score each model, write and print."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agcl.errors import ConfigError, InputError
from agcl.evaluation.calibration import read_calibration_file, split_box_images
from agcl.evaluation.controls import CONTROLS, control_outputs
from agcl.evaluation.core import ModelResult, evaluate_model
from agcl.evaluation.inputs import load_stage, load_test_set
from agcl.evaluation.recomputed import checkpoint_heatmaps
from agcl.evaluation.settings import EvalSettings, check_choice, check_range
from agcl.evaluation.tables import (
    EVAL_OUTPUTS,
    auc_wide,
    boxes_file_name,
    paired_auc,
    paired_wide,
    write_calibration,
    write_tables,
)
from agcl.labels import LABELS
from agcl.paths import check_apart, resolved
from agcl.runlock import folder_lock

log = logging.getLogger(__name__)


def _print(df: pd.DataFrame, title: str, digits: int) -> None:
    table = Table(title=escape(title))  # model names are user text: never rich markup
    for c in df.columns:
        table.add_column(escape(str(c)), justify="left" if c in ("Model", "Disease") else "right")
    for row in df.itertuples(index=False):
        table.add_row(*[f"{v:.{digits}f}" if isinstance(v, float) else escape(str(v)) for v in row])
    Console().print(table)


def run_evaluation(*, index_dir: Path, stages: list[Path], names: list[str], controls: list[str], out: Path | None,
                   cache: Path | None, settings: EvalSettings, control_size: int = 0,
                   device: str = "auto") -> list[ModelResult]:
    """Evaluate every stage and control on the test split and write the tables (see docs/evaluation.md).

    ``settings`` comes from :func:`agcl.evaluation.settings.eval_settings` (the CLI and the API build it
    once); ``upsample_size == 0`` is resolved here to the cache side S (else 512).
    """
    for c in controls:
        check_choice("control", c, CONTROLS)
    check_range("control-size", control_size)
    if not stages and not controls:
        raise ConfigError("nothing to evaluate: give --stage DIR and/or --control uniform|centre")
    if names and len(names) != len(stages):
        raise ConfigError(f"--name given {len(names)} time(s) for {len(stages)} --stage folder(s)")
    if settings.heatmap != "cam" and controls:
        raise ConfigError(f"--heatmap {settings.heatmap} needs a checkpoint; controls have none (drop --control)")
    if out is None:
        if not stages:
            raise ConfigError("--out is required when only controls are evaluated")
        out = resolved(stages[0], "--stage").parent / "eval"
    names = names or [resolved(s, "--stage").name.removeprefix("stage_") for s in stages]
    all_names = [*names, *controls]
    if len(set(all_names)) != len(all_names) or len({boxes_file_name(n) for n in all_names}) != len(all_names):
        raise ConfigError(f"model names are not unique (as file names): {all_names}; use --name")

    _check_outputs_apart(out, index_dir, cache, stages, all_names, settings)
    with folder_lock(out):
        test = load_test_set(index_dir, cache)
        if test.gt.empty:
            raise InputError(f"{index_dir / 'boxes.csv'}: no GT box on a test image; nothing to localize")
        size = settings.boxes.upsample_size or test.cache_size or 512
        settings = replace(settings, boxes=replace(settings.boxes, upsample_size=size))
        split = _calibration_split(test, settings)
        parts = split.set_index("image_id")["part"] if split is not None else None
        inputs = []
        for stage_dir, nm in zip(stages, names, strict=True):
            preds, ids, maps = load_stage(stage_dir, test, test.gt, need_heatmaps=settings.heatmap == "cam")
            if settings.heatmap != "cam":
                ids, maps = checkpoint_heatmaps(stage_dir, test, settings.heatmap, device)
            inputs.append((nm, str(stage_dir), preds, ids, maps))
        hw = tuple(inputs[0][4].shape[2:]) if inputs else None
        for c in controls:
            side = (control_size, control_size) if control_size else (hw or (16, 16))
            ids = test.images["image_id"].tolist()
            probs, maps = control_outputs(c, len(ids), len(LABELS), side, settings.seed)
            preds = pd.DataFrame(probs, columns=list(LABELS))
            preds.insert(0, "image_id", ids)
            inputs.append((c, f"control:{c}", preds, ids, maps))

        results = []
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            for nm, source, preds, ids, maps in inputs:
                task = progress.add_task(f"boxes {nm}", total=None)
                res = evaluate_model(nm, test.images, preds, ids, maps, test.gt, test.sizes, settings, parts=parts,
                                     progress=lambda done, total, task=task: progress.update(task, completed=done, total=total))
                res.info["source"] = source
                results.append(res)
        context = {"split": "test", "split_source": test.split_source, "n_test_images": len(test.images),
                   "n_box_images": int(test.gt["image_id"].nunique()), "sizes": test.source, "index_fingerprint": test.index_fingerprint,
                   "models": {r.name: r.info["source"] for r in results}}
        written = write_tables(out, results, settings.describe(), context)
        if split is not None:
            written += write_calibration(out, results, split, settings.calibration(), settings.describe())
        auc = auc_wide(results).set_index("Model").T.reset_index().rename(columns={"index": "Disease"})
        _print(auc, f"Table 1 — AUC (test, n={len(test.images)})", 4)
        paired = paired_auc(results)
        if not paired.empty:
            _print(paired_wide(paired), f"AUC − AUC({paired['reference'].iloc[0]}): paired bootstrap, "
                   f"{settings.bootstrap} resamples, 95 % CI", 4)
        for r in results:  # one compact Table 2 per model; summary.md has them side by side
            loc = r.localization[["label", "gt", "detected", "tp", "gt_hit", "recall", "precision"]]
            loc = loc.set_axis(["Disease", "GT", "Det", "TP", "GT hit", "Recall", "Prec"], axis=1)
            _print(loc, f"Table 2 [{r.name}] — T({settings.criterion})={settings.t}, {settings.boxes.generator}, "
                        f"scope {settings.scope}, heatmap {settings.heatmap}", 2)
        log.info("wrote %d files to %s", len(written), out)
        return results


def _check_outputs_apart(out: Path, index_dir: Path, cache: Path | None, stages: list[Path], names: list[str],
                         settings: EvalSettings) -> None:
    """No table written into ``out`` may replace a file evaluation reads (index, cache, stage outputs,
    calibration file)."""
    written = [*EVAL_OUTPUTS, *(boxes_file_name(n) for n in names)]
    inputs = [("index", index_dir / n) for n in ("images.csv", "boxes.csv", "index.json")]
    if cache is not None:
        inputs += [("--cache", cache / n) for n in ("manifest.csv", "cache.json")]
    for sdir in stages:
        inputs += [("--stage", sdir / n) for n in ("predictions.csv", "heatmaps.npy", "heatmaps_ids.csv",
                                                   "checkpoint.pt")]
    inputs.append(("--calibration-file", settings.calibration_file))
    check_apart([(f"--out ({n})", out / n) for n in written], inputs)


def _calibration_split(test, settings: EvalSettings) -> pd.DataFrame | None:
    """The calibration / box-test parts of the test box images (None when calibration is off or impossible)."""
    box_ids = test.gt["image_id"].unique()
    images = test.images.set_index("image_id")
    patients = images["patient_id"].astype(str) if "patient_id" in images.columns else images.index.to_series()
    box_images = pd.DataFrame({"image_id": box_ids, "patient_id": patients.reindex(box_ids).to_numpy()})
    if settings.calibration_file:
        split = read_calibration_file(Path(settings.calibration_file), box_images)
    elif settings.calibration_fraction > 0:
        split = split_box_images(box_images, settings.calibration_fraction, settings.seed)
    else:
        return None
    counts = split["part"].value_counts()
    if len(counts) < 2:
        log.warning("calibration skipped: the split of %d box image(s) leaves a part empty", len(split))
        return None
    return split
