"""``RUN/eval/report.html``: tables, ROC and training curves, seed counts and a Fig. 3-style gallery.

The report is one self-contained HTML file: every figure is embedded as a base64 PNG (so the file can
be mailed or attached on its own), and the same PNGs are also written to ``RUN/eval/figures/`` for
reuse in slides and papers. Every string that reaches the page is HTML-escaped.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from agcl.io import write_text_atomic, write_with_atomic
from agcl.labels import LABELS
from agcl.paths import real_folder, remove_own
from agcl.viz import html as H
from agcl.viz.evaluation_sections import anchors_section, maxboxacc_section
from agcl.viz.figures import figure_png, roc_figure, seed_counts_figure, training_figure
from agcl.viz.forest import forest_section
from agcl.viz.gallery import KINDS, score_images, select_gallery
from agcl.viz.overlays import overlay, png_bytes
from agcl.viz.rundata import RunData
from agcl.viz.sources import RunSources, open_sources, severity_note
from agcl.viz.tables import AUC_METRICS, LOC_METRICS, settings_caption, table1, table2_counts, table2_rates

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportOptions:
    """Knobs of :func:`build_report`.

    Attributes:
        seed: seed of the gallery's random picks (``numpy.random.default_rng([seed, class])``).
        n_random: random images per class in the gallery (besides the best and the worst).
        tile: longest side of each gallery overlay, in pixels.
        max_stages_in_gallery: heatmap stages shown side by side (first and last are always kept).
        max_boxes: predicted boxes drawn per tile (the highest-scoring ones, each with its score).
        progress: show a rich progress bar (on stderr) over the report's sections.
    """

    seed: int = 0
    n_random: int = 1
    tile: int = 256
    max_stages_in_gallery: int = 2
    max_boxes: int = 3
    progress: bool = True


class _Figures:
    """Collects PNGs: written to ``eval/figures/`` and embedded in the page."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def add(self, name: str, png: bytes, caption: str, width: int | None = None) -> str:
        write_with_atomic(self.folder / name, lambda tmp: tmp.write_bytes(png))
        return H.figure(png, caption, width=width)


def build_report(run_dir: str | Path, options: ReportOptions | None = None) -> Path:
    """Write ``RUN/eval/report.html`` (and ``RUN/eval/figures/*.png``) and return the HTML path; for a
    folder of several training seeds, ``RUN/compare/report.html`` (:mod:`agcl.viz.seeds_report`)."""
    from agcl.pipeline.multiseed import is_multiseed

    if is_multiseed(Path(run_dir)):
        from agcl.viz.seeds_report import build_seeds_report

        return build_seeds_report(run_dir)
    opts = options or ReportOptions()
    run = RunData.open(run_dir)
    src = open_sources(run)
    figs = _Figures(run.eval_dir / "figures")
    real_folder(run.eval_dir, "report folder")
    remove_own(figs.folder, pattern=r"gallery_.+\.png")  # a previous report's picks; ours are rewritten below
    note = severity_note(run)
    banner = f'<div class="warn" id="degraded">{H.esc(note)}</div>' if note else ""
    builders = [
        ("summary", "Run", lambda: _summary(run, src)),
        ("table1", "Table 1 — classification AUC", lambda: _table_section(run, "auc.csv", table1, AUC_METRICS, 3)),
        ("table2", "Table 2 — localization", lambda: _table_section(
            run, "localization.csv", table2_rates, LOC_METRICS, 2)
         + _table_section(run, "localization.csv", table2_counts, LOC_METRICS, 2, note=False)),
        ("maxboxacc", "Threshold-free localization — MaxBoxAcc", lambda: maxboxacc_section(run, figs.add)),
        ("paired", "Paired differences vs BSL and BSL+", lambda: forest_section(
            run.table("paired.csv"), figs.add, "eval/paired.csv", one_seed=True)),
        ("anchors", "Published anchors (official NIH split)", lambda: anchors_section(run, src.index_dir)),
        ("roc", "ROC curves", lambda: _roc_section(run, src, figs)),
        ("training", "Training curves", lambda: _training_section(run, figs)),
        ("seeds", "Seeds per class and round", lambda: _seed_section(run, figs)),
        ("gallery", "Gallery", lambda: _gallery_section(run, src, figs, opts)),
    ]
    sections = []
    with Progress(TextColumn("report: {task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=Console(stderr=True), transient=True, disable=not opts.progress) as bar:
        task = bar.add_task("", total=len(builders))
        for anchor, heading, build in builders:
            bar.update(task, description=heading)
            sections.append((anchor, heading, build()))
            bar.advance(task)
    title = f"agcl report — {run.root.resolve().name}"
    out = run.eval_dir / "report.html"
    write_text_atomic(out, H.page(title, sections, banner=banner))
    log.info("report written to %s", out)
    return out


def _summary(run: RunData, src: RunSources) -> str:
    items = [
        f"run directory: {run.root.resolve()}",
        f"stages found: {', '.join(run.stages()) or 'none'}",
        f"stages with test predictions: {', '.join(run.prediction_stages()) or 'none'}",
        f"backbone: {run.config_value('model.backbone', 'unknown')}, "
        f"image size: {run.config_value('data.image_size', 'unknown')}",
        f"index: {src.index_dir if src.index_dir else 'not found'}",
    ]
    return H.bullet_list(items) + "".join(H.para(n, "note") for n in src.notes)


def _table_section(run: RunData, name: str, layout, metrics: tuple[str, ...], digits: int, note: bool = True) -> str:
    """A paper-layout table from a long eval CSV; the raw CSV when its columns are unexpected."""
    df = run.table(name)
    if df is None:
        return H.para(f"eval/{name} not found: run `agcl evaluate` (or finish `agcl run`) first.", "note") if note else ""
    try:
        wide = layout(df)
    except (KeyError, ValueError) as exc:
        log.warning("eval/%s has an unexpected layout (%s); shown as is", name, exc)
        return H.table(df, digits=digits) + H.para(f"eval/{name} (unexpected layout, shown as is)", "note")
    caption = H.para(f"eval/{name}; settings: {settings_caption(df, metrics)}", "note") if note else ""
    return H.table(wide, digits=digits) + caption


def _roc_section(run: RunData, src: RunSources, figs: _Figures) -> str:
    stages = run.prediction_stages()
    if not stages:
        return H.para("No stage wrote predictions.csv yet.", "note")
    if src.labels is None:
        return H.para("Test labels unavailable (index not found), so no ROC curves.", "note")
    probs, ids = {}, None
    for stage in stages:
        pred = src.predictions(stage)
        common = pred.index.intersection(src.labels.index)
        ids = common if ids is None else ids.intersection(common)
        probs[stage] = pred
    if ids is None or len(ids) == 0:
        return H.para("Predictions share no image with the index; no ROC curves.", "note")
    ids = ids.sort_values()
    y = src.labels.loc[ids, list(LABELS)].to_numpy()
    stacked = {s: p.loc[ids, list(LABELS)].to_numpy(dtype=float) for s, p in probs.items()}
    png = figure_png(roc_figure(y, stacked, LABELS))
    return figs.add("roc.png", png, f"ROC per class on {len(ids)} test images; legend: stage and AUC.")


def _training_section(run: RunData, figs: _Figures) -> str:
    fig = training_figure(run.metrics(), run.stages())
    if fig is None:
        return H.para("No per-epoch train/val entries in metrics.jsonl.", "note")
    return figs.add("training.png", figure_png(fig), "Per-epoch losses from metrics.jsonl: train solid, validation "
                    "dashed; per-disease curriculum networks averaged per round.")


def _seed_section(run: RunData, figs: _Figures) -> str:
    counts = run.seed_counts()
    fig = seed_counts_figure(counts)
    if fig is None:
        return H.para("No seeds.csv in this run.", "note")
    wide = counts.pivot_table(index="label", columns=["round", "rule"], values="count", fill_value=0, aggfunc="sum")
    wide.columns = [f"{r} {s}" for r, s in wide.columns]
    wide = wide.reset_index()
    return figs.add("seeds.png", figure_png(fig), "Seed images per class; S1 = severe|moderate, S2 = p > t.") + H.table(wide)


def _gallery_stages(run: RunData, opts: ReportOptions) -> list[str]:
    stages = run.heatmap_stages()
    if len(stages) <= opts.max_stages_in_gallery:
        return stages
    keep = opts.max_stages_in_gallery
    return [stages[0]] + stages[len(stages) - keep + 1:] if keep > 1 else [stages[-1]]


def _gallery_section(run: RunData, src: RunSources, figs: _Figures, opts: ReportOptions) -> str:
    stages = _gallery_stages(run, opts)
    if not stages:
        return H.para("No stage wrote heatmaps.npy yet.", "note")
    if src.boxes is None or src.boxes.empty or src.sizes is None:
        return H.para("No ground-truth boxes (or image sizes) available, so no gallery.", "note")
    final = stages[-1]
    cams, cam_ids = src.heatmaps(final)
    scores = score_images(cams, cam_ids, src.boxes, src.sizes, LABELS)
    chosen = select_gallery(scores, seed=opts.seed, n_random=opts.n_random)
    if chosen.empty:
        return H.para("No test image has both a heatmap and a ground-truth box.", "note")
    maps = {s: (cams, cam_ids) if s == final else src.heatmaps(s) for s in stages}
    maps = {s: (c, {str(i): r for r, i in enumerate(ids)}) for s, (c, ids) in maps.items()}  # id -> row
    sizes = src.sizes.set_index("image_id")
    pred_boxes = {s: src.stage_boxes(s) for s in stages}
    parts = [H.para(
        f"Per class: best and worst image by the share of the {final} heatmap inside the ground-truth boxes, "
        f"and {opts.n_random} random (seed {opts.seed}). Green: ground truth; magenta: predicted boxes; "
        f"red: strong response; the heatmap is transparent where weak (colour bar: the map's own range). "
        f"At most {opts.max_boxes} predicted boxes per tile, by score (the raw heatmap maximum in the box). "
        "Columns: " + ", ".join(stages) + ".", "note")]
    for label, group in chosen.groupby("label", sort=False):
        cells = []
        for row in group.sort_values("kind", key=lambda k: k.map(KINDS.index)).itertuples(index=False):
            cells.append(_gallery_pair(src, figs, maps, pred_boxes, sizes, row.image_id, label, row.kind, row.score,
                                       opts))
        parts.append(f"<h3>{H.esc(label)}</h3>" + "".join(cells))
    return "".join(parts)


def _gallery_pair(src: RunSources, figs: _Figures, maps: dict, pred_boxes: dict, sizes, image_id: str,
                  label: str, kind: str, score: float, opts: ReportOptions) -> str:
    """One gallery cell: the image's overlay for each heatmap stage, side by side, with a caption."""
    image = src.image(image_id)
    size = sizes.loc[image_id]
    frame = (float(size["width"]), float(size["height"]))
    gt = src.boxes[(src.boxes["image_id"] == image_id) & (src.boxes["label"] == label)]
    gt_xyxy = gt[["x0", "y0", "x1", "y1"]].to_numpy(dtype=float)
    k = LABELS.index(label)
    tiles = []
    for stage, (cams, row_of) in maps.items():
        row = row_of.get(str(image_id))
        cam = None if row is None else np.asarray(cams[row, k], dtype=np.float32)
        pb = pred_boxes[stage]
        mine = pb[(pb["image_id"] == image_id) & (pb["label"] == label)] if pb is not None else None
        pred = np.zeros((0, 4)) if mine is None else mine[["x0", "y0", "x1", "y1"]].to_numpy(dtype=float)
        scores = None if mine is None or "score" not in mine.columns else mine["score"].to_numpy(dtype=float)
        rgb = overlay(image, cam, gt_boxes=gt_xyxy, pred_boxes=pred, pred_scores=scores, max_pred=opts.max_boxes,
                      box_frame=frame, size=opts.tile)
        name = f"gallery_{_safe(label)}_{kind}_{_safe(image_id)}_{_safe(stage)}.png"
        shown = min(len(pred), opts.max_boxes) if scores is not None else len(pred)
        tiles.append(figs.add(name, png_bytes(rgb), f"{stage}: top {shown} of {len(pred)} predicted box(es)",
                              width=opts.tile))
    caption = f"{label} — {kind} — {image_id} — heatmap share inside GT {score:.2f}"
    return f'<div class="pair">{"".join(tiles)}<div class="note">{H.esc(caption)}</div></div>'


def _safe(text: str) -> str:
    """A file-name-safe, collision-free version of a label/id (figures/ names only; the page shows the
    real text): sanitised prefix + a short hash of the original."""
    clean = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(text))[:48]
    return clean if clean == str(text) else f"{clean}-{hashlib.sha1(str(text).encode()).hexdigest()[:8]}"

