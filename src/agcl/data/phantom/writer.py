"""``synthesize``: plan, render (optionally in parallel) and write a phantom in the exact NIH layout.

Everything is generated into a hidden sibling ``.<name>.partial/`` and renamed onto ``OUT`` at the end,
so ``OUT`` is either a complete phantom or absent. A non-empty ``OUT`` is only accepted when it already
is a phantom with the same spec and seed (then nothing is done). A killed run leaves the partial folder;
the next run with the same spec and seed resumes it chunk by chunk (each finished chunk of images has a
``.chunks/<k>.json`` record of its truth boxes), any other spec discards it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from agcl.data.phantom.cohort import STREAM_REPORT, ImagePlan, plan_cohort, stream
from agcl.data.phantom.profiles import DEFAULT_PROFILE, phantom_spec
from agcl.data.phantom.render import Box, render_image
from agcl.data.phantom.reports import SEVERITY_WORDS, write_report
from agcl.data.phantom.spec import PhantomSpec
from agcl.errors import InputError
from agcl.io import write_json_atomic, write_text_atomic
from agcl.labels import BOX_LABELS, LABEL_INDEX, NO_FINDING
from agcl.workers import spawn_pool

log = logging.getLogger(__name__)

DATA_ENTRY_HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
                     "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]")
BBOX_HEADER = "Image Index,Finding Label,Bbox [x,y,w,h],,,"
PARTIAL_MARKER = ".agcl-phantom-partial"
CHUNK = 25
#: Below this many pixels to render, worker processes cost more than they save.
POOL_MIN_PIXELS = 4_000_000
Progress = Callable[[int, int], None]


def _render_chunk(args: tuple[list[ImagePlan], PhantomSpec, int, str, str]) -> list[tuple[int, dict[str, Box]]]:
    """Worker: render and write a chunk of images, then record their truth boxes (the chunk is done)."""
    plans, spec, seed, image_dir, record = args
    out = []
    for plan in plans:
        img, boxes = render_image(plan, spec, seed)
        buf = io.BytesIO()
        Image.fromarray(img, mode="L").save(buf, format="PNG", compress_level=4)
        path = Path(image_dir) / plan.image_id
        tmp = path.with_name(f".{plan.image_id}.tmp")
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)
        out.append((plan.index, boxes))
    write_text_atomic(record, json.dumps([[i, {k: list(v) for k, v in b.items()}] for i, b in out]))
    return out


def _csv(rows: list[list[object]], header: list[str] | None = None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _check_out(out: Path, spec: PhantomSpec, seed: int) -> bool:
    """True when ``out`` already holds this exact phantom; raise when it holds anything else."""
    if not out.exists():
        return False
    if not out.is_dir():
        raise InputError(f"{out} exists and is not a directory")
    if not any(out.iterdir()):
        return False
    spec_file = out / "truth" / "spec.json"
    if spec_file.is_file():
        try:
            old = json.loads(spec_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{spec_file}: unreadable phantom spec ({exc})") from None
        if old == json.loads(json.dumps(spec.to_dict(seed))):
            return True
        raise InputError(f"{out} holds a phantom with a different spec or seed; choose another OUT or delete it")
    raise InputError(f"{out} is not empty and is not a phantom; refusing to overwrite it")


def synthesize(out_dir: str | os.PathLike[str], n: int = 3000, size: int = 256, seed: int = 0, *,
               profile: str = DEFAULT_PROFILE, spec: PhantomSpec | None = None, workers: int | None = None,
               progress: Progress | None = None) -> Path:
    """Write a phantom chest X-ray dataset in NIH ChestX-ray14 layout (see docs/phantom.md).

    Args:
        out_dir: target directory (absent, empty, or a previous phantom with the same spec and seed).
        n, size, seed: number of images, PNG side in pixels, seed. Ignored ``n``/``size`` when ``spec``
            is given (the spec's are used).
        profile: named preset (``calibrated`` or ``shortcuts``, :mod:`agcl.data.phantom.profiles`);
            ignored when ``spec`` is given.
        spec: full specification; default ``phantom_spec(profile, n=n, size=size)``.
        workers: rendering processes (default ``min(2, cpu_count)``; 1 renders in this process). The
            output does not depend on it.
        progress: ``callback(done, total)`` after each rendered chunk.

    Returns:
        The output directory.
    """
    spec = spec or phantom_spec(profile, n=n, size=size)
    out = Path(out_dir).absolute()
    if _check_out(out, spec, seed):
        log.info("%s already holds this phantom (same spec and seed); nothing to do", out)
        return out
    tmp = out.parent / f".{out.name}.partial"
    digest = spec.digest(seed)
    if tmp.exists():
        marker = tmp / PARTIAL_MARKER
        if not marker.is_file():
            raise InputError(f"{tmp} exists and was not made by agcl synth; remove it first")
        if marker.read_text(encoding="utf-8").strip() != digest:
            shutil.rmtree(tmp)  # a partial phantom of another spec: start over
        else:
            log.info("resuming the partial phantom in %s", tmp)
    for sub in ("images", "truth", ".chunks"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    write_text_atomic(tmp / PARTIAL_MARKER, digest + "\n")
    plans = plan_cohort(spec, seed)
    boxes = _render_all(plans, spec, seed, tmp, workers, progress)
    _write_tables(tmp, plans, boxes, spec, seed)
    shutil.rmtree(tmp / ".chunks")
    (tmp / PARTIAL_MARKER).unlink()
    if out.exists():
        out.rmdir()  # empty (checked above)
    os.replace(tmp, out)
    log.info("wrote phantom of %d images (%d px, seed %d) to %s", spec.n, spec.size, seed, out)
    return out


def _render_all(plans: list[ImagePlan], spec: PhantomSpec, seed: int, tmp: Path, workers: int | None,
                progress: Progress | None) -> dict[int, dict[str, Box]]:
    """Render every chunk that has no ``.chunks/<k>.json`` record yet; return all truth boxes."""
    workers = workers or min(2, os.cpu_count() or 1)
    boxes: dict[int, dict[str, Box]] = {}
    jobs = []
    for k, start in enumerate(range(0, len(plans), CHUNK)):
        record = tmp / ".chunks" / f"{k}.json"
        if record.is_file():
            boxes.update({i: {lab: tuple(b) for lab, b in bx.items()} for i, bx in json.loads(record.read_text())})
        else:
            jobs.append((plans[start:start + CHUNK], spec, seed, str(tmp / "images"), str(record)))
    done = len(boxes)
    if progress and done:
        progress(done, len(plans))
    n_pixels = sum(len(job[0]) for job in jobs) * spec.size**2
    if workers <= 1 or len(jobs) <= 1 or n_pixels < POOL_MIN_PIXELS:  # a pool costs ~1 s to start
        results = map(_render_chunk, jobs)
        pool = None
    else:
        pool = spawn_pool(workers)
        results = pool.map(_render_chunk, jobs)
    try:
        for res in results:
            boxes.update(dict(res))
            done += len(res)
            if progress:
                progress(done, len(plans))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return boxes


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def _write_tables(root: Path, plans: list[ImagePlan], boxes: dict[int, dict[str, Box]], spec: PhantomSpec,
                  seed: int) -> None:
    """Metadata, boxes, split lists, reports and the truth folder (spec.json last)."""
    plans = sorted(plans, key=lambda p: p.image_id)
    spacing = f"{0.143 * 1024 / spec.size:.6g}"
    entry, bbox, reports, lesions, mentions, shortcuts, noise, images = [], [], [], [], [], [], [], []
    for p in plans:
        iid = p.image_id
        labels = "|".join(p.labels) if p.labels else NO_FINDING
        entry.append([iid, labels, p.follow_up, p.patient, p.age, p.sex, p.view, spec.size, spec.size,
                      spacing, spacing])
        for lab in p.labels:
            if lab in BOX_LABELS and lab in boxes[p.index] and (p.split == "test" or not spec.bbox_test_only):
                x0, y0, x1, y1 = boxes[p.index][lab]
                name = "Infiltrate" if lab == "Infiltration" else lab
                bbox.append([iid, name, _fmt(x0), _fmt(y0), _fmt(x1 - x0), _fmt(y1 - y0)])
        text, mention_rows = write_report(p, stream(seed, STREAM_REPORT, p.index),
                                          severity_word_rate=spec.severity_word_rate,
                                          uncertain_rate=spec.uncertain_rate)
        reports.append([iid, text])
        mentions += [[iid, lab, st, sev] for lab, st, sev in sorted(mention_rows, key=lambda r: LABEL_INDEX[r[0]])]
        for les in p.lesions:
            b = boxes[p.index].get(les.label)
            if b is not None:
                lesions.append([iid, les.label, les.severity, *(_fmt(v) for v in b)])
        shortcuts += [[iid, name] for name in sorted(p.shortcuts)]
        noise += [[iid, lab, "missed"] for lab in p.missed] + [[iid, lab, "extra"] for lab in p.extra]
        images.append([iid, p.patient, p.split, p.view, f"{p.exposure:.3f}", "|".join(p.true_labels) or NO_FINDING])
    write_text_atomic(root / "Data_Entry_2017_v2020.csv", DATA_ENTRY_HEADER + "\n" + _csv(entry))
    write_text_atomic(root / "BBox_List_2017.csv", BBOX_HEADER + "\n" + _csv(bbox))
    for name, split in (("train_val_list.txt", "train"), ("test_list.txt", "test")):
        write_text_atomic(root / name, "\n".join(p.image_id for p in plans if p.split == split))
    write_text_atomic(root / "reports.csv", _csv(reports, ["image_id", "report"]))
    t = root / "truth"
    write_text_atomic(t / "lesions.csv", _csv(lesions, ["image_id", "label", "severity", "x0", "y0", "x1", "y1"]))
    write_text_atomic(t / "mentions.csv", _csv(mentions, ["image_id", "label", "status", "severity"]))
    write_text_atomic(t / "shortcuts.csv", _csv(shortcuts, ["image_id", "shortcut"]))
    write_text_atomic(t / "label_noise.csv", _csv(noise, ["image_id", "label", "kind"]))
    write_text_atomic(t / "images.csv", _csv(images, ["image_id", "patient_id", "split", "view", "exposure",
                                                      "true_labels"]))
    write_json_atomic(t / "lexicon.json", {"severity_words": SEVERITY_WORDS})
    write_json_atomic(t / "spec.json", spec.to_dict(seed))
