"""``agcl compare RUN…``: finished runs that differ only in their training seed, side by side.

Table 1 and Table 2 become mean ± sd over seeds; the uniform and centre controls, the pointing game and
MaxBoxAcc sit beside them; and every model gets a paired bootstrap CI of its difference to BSL and to the
matched control BSL+ (:mod:`agcl.evaluation.paired`: one set of test-image resamples for every model
and seed). Everything is read from the runs' own outputs (``eval/*.csv``, ``eval/image_counts.csv``,
``stage_*/predictions.csv``); nothing is re-evaluated. Writes ``OUT/`` (docs/pipeline.md, "Several
training seeds"): auc.csv, localization.csv, overview.csv, per_seed.csv, paired.csv, summary.md/json.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agcl.errors import ConfigError, InputError
from agcl.evaluation.paired import COUNTS, mean_sd
from agcl.io import write_json_atomic, write_text_atomic, write_with_atomic
from agcl.labels import LABELS

log = logging.getLogger(__name__)

#: Whole-test-set metrics of each model (Total rows), in display order. ``afp``: Wang et al.'s average
#: false-positive boxes per image, beside recall because a map with many small boxes (the uniform
#: control) buys recall with false boxes.
OVERVIEW = ("auc", "recall", "precision", "afp", "pointing", "maxboxacc", "maxboxacc_v2")
#: Evaluation settings that may differ between compared runs (they do not change a table's numbers
#: except the control's noise draw and the single-run CIs).
_FREE_SETTINGS = ("seed", "bootstrap")


@dataclass(frozen=True)
class FinishedRun:
    """One finished run directory: its training seed, flattened config, eval folder and model sources."""

    path: Path
    seed: int
    config: dict
    models: dict[str, str]  # display name -> stage folder name or ``control:<kind>``

    @property
    def eval_dir(self) -> Path:
        return self.path / "eval"

    def controls(self) -> list[str]:
        return [m for m, s in self.models.items() if s.startswith("control:")]

    def trained(self) -> list[str]:
        return [m for m, s in self.models.items() if not s.startswith("control:")]


def open_run(path: Path) -> FinishedRun:
    """Read a finished run (``eval/DONE`` present); InputError naming what is missing otherwise."""
    from agcl.pipeline.driver import flatten

    path = Path(path)
    if not (path / "config.yaml").is_file():
        raise InputError(f"{path} is not an agcl run directory (no config.yaml)")
    if not (path / "eval" / "DONE").is_file():
        raise InputError(f"{path} has not finished (no eval/DONE); finish it with the same `agcl run` command")
    from agcl.config.loader import read_yaml

    raw = read_yaml(path / "config.yaml", "run config")  # one line naming the file, line and column
    config = flatten(raw if isinstance(raw, dict) else {})
    auc = _read(path / "eval" / "auc.csv", ("model",))
    sources = auc.drop_duplicates("model").set_index("model")["source"] if "source" in auc else pd.Series(dtype=str)
    models = {str(m): str(sources.get(m, _stage_of(str(m)))) for m in dict.fromkeys(auc["model"])}
    return FinishedRun(path, int(config.get("runtime.seed", 0)), config, models)


def _stage_of(name: str) -> str:
    """Stage folder of a display name, for runs written before ``source`` was recorded."""
    fixed = {"BSL": "stage_bsl", "BSL+": "stage_bsl_plus", "AGL": "stage_agl"}
    if name in fixed:
        return fixed[name]
    if name.startswith("AGCL-"):
        return f"stage_agcl_{name.removeprefix('AGCL-')}"
    return f"control:{name}" if name in ("uniform", "centre") else f"stage_{name}"


def _read(path: Path, required=()) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"not found: {path}")
    try:
        df = pd.read_csv(path, dtype={"image_id": str, "model": str, "label": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: unreadable CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}")
    return df


def overview(eval_dir: Path) -> pd.DataFrame:
    """Per model of one evaluation: mean AUC and the Total rows of Table 2 (recall, precision, AFP), the
    pointing game and MaxBoxAcc (NaN where not computed). Columns: model, then :data:`OVERVIEW`."""
    auc = _read(eval_dir / "auc.csv", ("model", "label", "auc"))
    out = auc[auc["label"] == "Mean"].set_index("model")[["auc"]]
    for name, cols in (("localization.csv", {"recall": "recall", "precision": "precision", "afp": "afp"}),
                       ("pointing.csv", {"accuracy": "pointing"}),
                       ("maxboxacc.csv", {"maxboxacc": "maxboxacc", "maxboxacc_v2": "maxboxacc_v2"})):
        if (eval_dir / name).is_file():
            t = _read(eval_dir / name, ("model", "label", *cols))
            out = out.join(t[t["label"] == "Total"].set_index("model")[list(cols)].rename(columns=cols))
    return out.reindex(columns=list(OVERVIEW)).rename_axis("model").reset_index()


def check_comparable(runs: list[FinishedRun]) -> None:
    """Refuse runs that differ in anything but their training seed (config keys that change numbers)."""
    from agcl.pipeline.driver import config_differences

    seeds = [r.seed for r in runs]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"runs share a training seed (runtime.seed {seeds}); compare runs of different seeds")
    base = runs[0]
    for r in runs[1:]:
        diff = config_differences(base.config, r.config, ignore=("runtime.seed",))
        if diff:
            shown = ", ".join(f"{k}: {base.config.get(k)!r} vs {r.config.get(k)!r}" for k in diff[:4])
            raise ConfigError(f"{r.path} differs from {base.path} in more than its training seed ({shown}); "
                              "compare runs of one recipe")


def _mean_sd_table(frames: list[pd.DataFrame], keys: list[str], values: list[str]) -> pd.DataFrame:
    """Mean and sd over seeds of ``values`` per ``keys`` (first-seen order); adds ``n_seeds``."""
    long = pd.concat(frames, ignore_index=True)
    rows = []
    for key, g in long.groupby(keys, sort=False):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        for v in values:
            row[f"{v}_mean"], row[f"{v}_sd"] = mean_sd(g[v])
        row["n_seeds"] = int(g["seed"].nunique())
        rows.append(row)
    return pd.DataFrame(rows)


def compare_runs(paths: list[Path], out: Path, *, n_boot: int = 1000, boot_seed: int = 0,
                 progress: bool = True) -> dict:
    """Aggregate finished runs of one recipe over their training seeds and write ``out/`` (see the module doc).

    Returns the settings recorded in ``out/summary.json``.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agcl.evaluation.artifacts import read_predictions
    from agcl.evaluation.inputs import load_test_set
    from agcl.evaluation.readings import paired_table
    from agcl.pipeline.compare import comparisons
    from agcl.pipeline.driver import load_pipeline_config, make_context

    if not paths:
        raise ConfigError("nothing to compare: give finished run directories")
    runs = sorted((open_run(p) for p in paths), key=lambda r: r.seed)
    check_comparable(runs)
    ctx = make_context(load_pipeline_config(runs[0].path / "config.yaml"), runs[0].path)
    test = load_test_set(ctx.index_dir, ctx.cache_dir)
    trained = [m for m in runs[0].trained() if all(m in r.models for r in runs)]
    dropped = sorted({m for r in runs for m in r.trained()} - set(trained))
    if dropped:
        log.warning("models missing from some runs are left out: %s", ", ".join(dropped))
    seeds = [r.seed for r in runs]
    y = test.images[list(LABELS)].to_numpy()
    ids = test.images["image_id"]
    scores = np.zeros((len(trained), len(runs), len(y), len(LABELS)))
    counts = np.zeros((len(trained), len(runs), len(y), len(COUNTS)))
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True, disable=not progress) as bar:
        task = bar.add_task("compare: reading runs", total=len(runs) + 1)
        per_seed, auc_frames, loc_frames = [], [], []
        for j, r in enumerate(runs):
            per_seed.append(overview(r.eval_dir).assign(seed=r.seed))
            auc_frames.append(_read(r.eval_dir / "auc.csv", ("model", "label", "auc")).assign(seed=r.seed))
            if (r.eval_dir / "localization.csv").is_file():
                loc_frames.append(_read(r.eval_dir / "localization.csv").assign(seed=r.seed))
            image_counts = _image_counts(r, ids, bool(loc_frames))
            for i, m in enumerate(trained):
                preds = read_predictions(r.path / r.models[m]).set_index("image_id").reindex(ids)
                if preds[list(LABELS)].isna().any().any():
                    raise InputError(f"{r.path / r.models[m] / 'predictions.csv'} does not cover the test split of "
                                     f"{ctx.index_dir}")
                scores[i, j] = preds[list(LABELS)].to_numpy()
                counts[i, j] = image_counts.get(m, 0)
            bar.advance(task)
        bar.update(task, description=f"compare: paired bootstrap ({n_boot} resamples)")
        eval_settings = _settings(runs)
        pairs = comparisons(trained)
        paired = (paired_table(y, scores, counts, trained, seeds, pairs, n_boot, boot_seed, eval_settings)
                  if pairs and n_boot > 0 else pd.DataFrame())
        bar.advance(task)
    order = [*trained, *[c for c in runs[0].controls()]]
    info = {"runs": [str(r.path.resolve()) for r in runs], "training_seeds": seeds, "resamples": n_boot,
            "bootstrap_seed": boot_seed, "alpha": 0.05, "n_test_images": int(len(y)),
            "n_box_images": int(test.gt["image_id"].nunique()) if len(test.gt) else 0,
            "index_fingerprint": test.index_fingerprint, "models": order, **eval_settings}
    _write(out, info, per_seed, auc_frames, loc_frames, paired, order)
    return info


def _image_counts(run: FinishedRun, ids: pd.Series, localized: bool) -> dict[str, np.ndarray]:
    """``eval/image_counts.csv`` of a run as {model: [N,6]} in test-image order (all zero without boxes)."""
    path = run.eval_dir / "image_counts.csv"
    if not path.is_file():
        if localized:
            raise InputError(f"{path} not found: this run was evaluated by an older agcl; delete {run.eval_dir} "
                             "and re-run the same `agcl run` command to re-evaluate it")
        return {}
    table = _read(path, ("model", "image_id", *COUNTS))
    return {m: g.set_index("image_id").reindex(ids)[list(COUNTS)].fillna(0).to_numpy()
            for m, g in table.groupby("model", sort=False)}


def _settings(runs: list[FinishedRun]) -> dict:
    """The evaluation settings the runs share (from ``eval/summary.json``); ConfigError when they differ."""
    import json

    found = []
    for r in runs:
        path = r.eval_dir / "summary.json"
        try:
            settings = json.loads(path.read_text(encoding="utf-8")).get("settings", {}) if path.is_file() else {}
        except (ValueError, UnicodeDecodeError, AttributeError) as exc:
            raise InputError(f"{path}: unreadable evaluation summary ({exc})") from None
        found.append({k: v for k, v in settings.items() if k not in _FREE_SETTINGS})
    for r, s in zip(runs[1:], found[1:], strict=True):
        if s != found[0]:
            diff = sorted(k for k in set(s) | set(found[0]) if s.get(k) != found[0].get(k))
            raise ConfigError(f"{r.path} was evaluated with other settings ({', '.join(diff)}) than {runs[0].path}")
    return found[0]


def _write(out: Path, info: dict, per_seed: list[pd.DataFrame], auc_frames: list[pd.DataFrame],
           loc_frames: list[pd.DataFrame], paired: pd.DataFrame, order: list[str]) -> None:
    from agcl.pipeline.console import comparison_markdown

    seeds_table = pd.concat(per_seed, ignore_index=True)
    seeds_table = seeds_table[seeds_table["model"].isin(order)]
    over = _mean_sd_table([seeds_table], ["model"], list(OVERVIEW))
    auc = _mean_sd_table([f[f["model"].isin(order)] for f in auc_frames], ["model", "label"], ["auc"])
    tags = {k: info[k] for k in ("resamples", "bootstrap_seed", "generator", "t", "scope", "criterion") if k in info}
    tags["training_seeds"] = " ".join(map(str, info["training_seeds"]))
    tables = {"overview.csv": over, "per_seed.csv": seeds_table, "auc.csv": auc}
    if loc_frames:
        loc = _mean_sd_table([f[f["model"].isin(order)] for f in loc_frames], ["model", "label"],
                             ["recall", "precision"])
        gt = loc_frames[0][["model", "label", "gt"]].drop_duplicates(["model", "label"])
        loc = loc.merge(gt, on=["model", "label"], how="left")
        tables["localization.csv"] = loc
    if not paired.empty:
        tables["paired.csv"] = paired
    out.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df = df.assign(**{k: v for k, v in tags.items() if k not in df.columns})
        write_with_atomic(out / name, lambda p, df=df: df.to_csv(p, index=False, float_format="%.6g"))
    write_json_atomic(out / "summary.json", info)
    write_text_atomic(out / "summary.md", comparison_markdown(out))
