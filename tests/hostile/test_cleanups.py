"""Clean-ups remove only what agcl wrote: never through a symbolic link, never a file it did not write."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from .clirun import agcl, clean_error

PREDICT = ("--device", "cpu", "--no-progress", "--box-threshold", "0")


def _user_pngs(folder: Path, n: int = 3) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(folder / f"holiday_{i}.png")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_predict_never_cleans_through_a_symlinked_overlays_folder(phantom: Path, checkpoint: Path,
                                                                   tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    before = _user_pngs(photos)
    out = tmp_path / "out"
    out.mkdir()
    (out / "overlays").symlink_to(photos)
    image = next((phantom / "images").glob("*.png"))
    for extra in ((), ("--overlays",)):
        clean_error(agcl("predict", image, "-c", checkpoint, "-o", out, *PREDICT, *extra), "overlays", "symbolic link")
        assert {p.name: p.read_bytes() for p in photos.iterdir()} == before


def test_predict_removes_only_its_own_overlays(phantom: Path, checkpoint: Path, tmp_path: Path) -> None:
    first, second = sorted((phantom / "images").glob("*.png"))[:2]
    out = tmp_path / "out"
    assert agcl("predict", first, "-c", checkpoint, "-o", out, *PREDICT, "--overlays").exit_code == 0
    mine = _user_pngs(out / "overlays", 2)  # the user keeps notes next to the overlays
    notes = {k: v for k, v in mine.items() if k.startswith("holiday")}
    assert agcl("predict", second, "-c", checkpoint, "-o", out, *PREDICT, "--overlays").exit_code == 0
    names = {p.name for p in (out / "overlays").iterdir()}
    assert not any(n.startswith(first.stem) for n in names) and any(n.startswith(second.stem) for n in names)
    assert {n: (out / "overlays" / n).read_bytes() for n in notes} == notes
    assert agcl("predict", second, "-c", checkpoint, "-o", out, *PREDICT).exit_code == 0
    assert sorted(p.name for p in (out / "overlays").iterdir()) == sorted(notes)  # folder kept: not empty


def test_predict_never_replaces_a_symlink_named_like_an_overlay(phantom: Path, checkpoint: Path,
                                                                tmp_path: Path) -> None:
    image = next((phantom / "images").glob("*.png"))
    out = tmp_path / "out"
    assert agcl("predict", image, "-c", checkpoint, "-o", out, *PREDICT, "--overlays").exit_code == 0
    target = tmp_path / "precious.png"
    target.write_bytes(b"keep me")
    (out / "overlays" / f"{image.stem}__Mass.png").unlink(missing_ok=True)
    (out / "overlays" / f"{image.stem}__Mass.png").symlink_to(target)
    clean_error(agcl("predict", image, "-c", checkpoint, "-o", out, *PREDICT, "--overlays"), "symbolic link")
    assert target.read_bytes() == b"keep me"


def test_predict_overlay_name_of_a_very_long_input_fits_the_filesystem(phantom: Path, checkpoint: Path,
                                                                       tmp_path: Path) -> None:
    long = tmp_path / ("x" * 240 + ".png")
    shutil.copy(next((phantom / "images").glob("*.png")), long)
    res = agcl("predict", long, "-c", checkpoint, "-o", tmp_path / "out", *PREDICT, "--overlays")
    assert res.exit_code == 0, res.output
    assert all(len(p.name.encode()) < 255 for p in (tmp_path / "out" / "overlays").iterdir())


def _fake_run(run: Path) -> None:
    for name in ("stage_bsl", "stage_seeds_r1", "eval", "tb"):
        (run / name).mkdir(parents=True)
        (run / name / "DONE").write_text(json.dumps({}))
    for name in ("config.yaml", "metrics.jsonl", "pipeline.log"):
        (run / name).write_text("old\n")


def test_run_fresh_removes_only_what_a_run_writes(tmp_path: Path) -> None:
    from agcl.paths import remove_own
    from agcl.pipeline.preflight import GENERATED, GENERATED_PATTERN

    run = tmp_path / "run"
    _fake_run(run)
    (run / "notes.txt").write_text("mine")
    (run / "stage_notes.md").write_text("also mine")  # not a stage folder name agcl generates
    removed = remove_own(run, GENERATED, GENERATED_PATTERN)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt", "stage_notes.md"]
    assert {p.name for p in removed} == {"stage_bsl", "stage_seeds_r1", "eval", "tb", "config.yaml",
                                         "metrics.jsonl", "pipeline.log"}


def test_run_fresh_refuses_a_symlinked_stage_folder(tmp_path: Path, indexed: Path) -> None:
    run = tmp_path / "run"
    _fake_run(run)
    elsewhere = tmp_path / "elsewhere"
    before = _user_pngs(elsewhere)
    (run / "stage_agl").symlink_to(elsewhere)
    res = agcl("run", "--run-dir", run, "--fresh", "--set", f"data.index_dir={indexed}",
               "--set", "data.image_size=32", "--set", "model.backbone=tiny", "--set", "model.pretrained=none")
    clean_error(res, "stage_agl", "symbolic link")
    assert {p.name: p.read_bytes() for p in elsewhere.iterdir()} == before
    assert (run / "config.yaml").read_text() == "old\n"  # nothing was removed: the link was found first


def test_report_cleans_only_gallery_figures_and_never_through_a_link(tmp_path: Path) -> None:
    from agcl.paths import remove_own

    figures = tmp_path / "figures"
    before = _user_pngs(figures)
    (figures / "gallery_Mass_best_x.png").write_bytes(b"old pick")
    assert [p.name for p in remove_own(figures, pattern=r"gallery_.+\.png")] == ["gallery_Mass_best_x.png"]
    assert {p.name: p.read_bytes() for p in figures.iterdir()} == before
    link = tmp_path / "eval_figures_link"
    link.symlink_to(figures)
    from agcl.errors import OutputError

    try:
        remove_own(link, pattern=r".+\.png")
    except OutputError as exc:
        assert "symbolic link" in str(exc)
    else:  # pragma: no cover - the guard failed
        raise AssertionError("remove_own followed a symbolic link")
    assert {p.name: p.read_bytes() for p in figures.iterdir()} == before
