"""Content changes reach the cache (file size and mtime per image; ``agcl prepare --rebuild``), and every
stage that read the index or the cache records both, so a re-run never reuses outputs of old inputs."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .clirun import agcl, clean_error
from .conftest import CACHE


def _copy(phantom: Path, indexed: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A writable phantom + its index (re-rooted) + cache."""
    src = tmp_path / "src"
    shutil.copytree(phantom, src)
    ix = tmp_path / "ix"
    assert agcl("index", src, "--out", ix).exit_code == 0
    assert agcl("prepare", ix, "--size", CACHE, "--workers", 1).exit_code == 0
    return src, ix


def _replace_image(src: Path, ix: Path) -> tuple[str, Path]:
    images = pd.read_csv(ix / "images.csv", dtype=str, keep_default_na=False)
    boxed = set(pd.read_csv(ix / "boxes.csv", dtype=str)["image_id"])
    row = images[images["image_id"].isin(boxed)].iloc[0]  # a box image: evaluation uses its size
    path = src / row["path"]
    Image.fromarray(np.full((48, 48), 255, np.uint8)).save(path)  # same name, new pixels and size
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    return row["image_id"], path


def test_replaced_image_is_refused_then_recached_alone(phantom: Path, indexed: Path, tmp_path: Path, caplog) -> None:
    from agcl.data.cache import ImageCache
    from agcl.data.index import load_index

    src, ix = _copy(phantom, indexed, tmp_path)
    cache = ix / f"cache_{CACHE}"
    before = np.fromfile(cache / "images.u8", np.uint8).reshape(-1, CACHE, CACHE).copy()
    image_id, _ = _replace_image(src, ix)
    clean_error(agcl("evaluate", ix, "--control", "centre", "--out", tmp_path / "eval"), "1 image file(s) changed",
                image_id, "agcl prepare")
    clean_error(agcl("train", "--run-dir", tmp_path / "run", "--set", f"data.index_dir={ix}",
                     "--set", f"data.image_size={CACHE}", "--set", "model.backbone=tiny"), "changed", image_id)
    with caplog.at_level(logging.INFO, logger="agcl"):
        assert agcl("prepare", ix, "--size", CACHE, "--workers", 1).exit_code == 0
    assert "1 image file(s) changed" in caplog.text
    opened = ImageCache.open(cache, expect_index=load_index(ix))
    after = np.asarray(opened.data)
    row = opened.row_of(image_id)
    assert (after[row] == 255).all() and opened.source_size(image_id) == (48, 48)
    others = np.arange(len(after)) != row
    assert np.array_equal(after[others], before[others])  # only the changed row was decoded again
    assert agcl("evaluate", ix, "--control", "centre", "--out", tmp_path / "eval").exit_code == 0


def test_prepare_rebuild_decodes_every_image(phantom: Path, indexed: Path, tmp_path: Path, caplog) -> None:
    _, ix = _copy(phantom, indexed, tmp_path)
    with caplog.at_level(logging.INFO, logger="agcl"):
        assert agcl("prepare", ix, "--size", CACHE, "--workers", 1).exit_code == 0
        assert "nothing to do" in caplog.text
        caplog.clear()
        assert agcl("prepare", ix, "--size", CACHE, "--workers", 1, "--rebuild").exit_code == 0
    assert "rebuilding cache" in caplog.text


def test_cache_of_an_older_agcl_without_file_stats_is_accepted(phantom: Path, indexed: Path, tmp_path: Path,
                                                              caplog) -> None:
    _, ix = _copy(phantom, indexed, tmp_path)
    manifest = ix / f"cache_{CACHE}" / "manifest.csv"
    pd.read_csv(manifest).drop(columns=["file_size", "file_mtime_ns"]).to_csv(manifest, index=False)
    assert agcl("evaluate", ix, "--control", "centre", "--out", tmp_path / "eval").exit_code == 0
    with caplog.at_level(logging.WARNING, logger="agcl"):
        assert agcl("prepare", ix, "--size", CACHE, "--workers", 1).exit_code == 0
    assert "records no file sizes" in caplog.text
    assert {"file_size", "file_mtime_ns"} <= set(pd.read_csv(manifest).columns)


def _done(stage: Path, **record) -> None:
    stage.mkdir(parents=True, exist_ok=True)
    (stage / "DONE").write_text(json.dumps(record))


def test_run_refuses_curriculum_seed_and_eval_stages_of_another_index(indexed: Path, tmp_path: Path) -> None:
    for nested in ("stage_curriculum_r1/Mass", "stage_seeds_r1", "eval"):
        run = tmp_path / nested.replace("/", "_")
        _done(run / nested, index_fingerprint="0" * 40)
        res = agcl("run", "--run-dir", run, "--set", f"data.index_dir={indexed}", "--set", f"data.image_size={CACHE}",
                   "--set", "model.backbone=tiny", "--set", "model.pretrained=none")
        clean_error(res, nested.split("/")[-1], "another version of the index")
        assert not (run / "config.yaml").exists()


def test_run_refuses_stages_computed_from_another_cache_content(indexed: Path, tmp_path: Path) -> None:
    from agcl.fingerprints import index_fingerprint

    run = tmp_path / "run"
    _done(run / "stage_bsl", index_fingerprint=index_fingerprint(indexed), cache_fingerprint="f" * 40)
    res = agcl("run", "--run-dir", run, "--set", f"data.index_dir={indexed}", "--set", f"data.image_size={CACHE}",
               "--set", "model.backbone=tiny", "--set", "model.pretrained=none")
    clean_error(res, "stage_bsl", "image cache", "--fresh")


def test_damaged_stage_marker_is_one_line(indexed: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "stage_bsl").mkdir(parents=True)
    (run / "stage_bsl" / "DONE").write_bytes(b"{\"index_fing")
    res = agcl("run", "--run-dir", run, "--set", f"data.index_dir={indexed}", "--set", f"data.image_size={CACHE}",
               "--set", "model.backbone=tiny", "--set", "model.pretrained=none")
    clean_error(res, "DONE", "stage marker")


def test_report_refuses_a_run_whose_outputs_came_from_another_index(indexed: Path, tmp_path: Path) -> None:
    import yaml

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"data": {"index_dir": str(indexed), "image_size": CACHE}}))
    _done(run / "stage_bsl", index_fingerprint="0" * 40)
    clean_error(agcl("report", run), "stage_bsl", "another version of the index")
    assert not (run / "eval" / "report.html").exists()


def test_every_stage_of_a_run_records_index_and_cache(tmp_path: Path) -> None:
    """The DONE of each stage (and of each disease of a curriculum stage) names the index and cache it read."""
    from agcl.pipeline.driver import load_pipeline_config, run_pipeline
    from pipeline import synthetic

    paths = synthetic.build(tmp_path / "data", n=60)
    sets = synthetic.tiny_config(paths, rounds=1, extra=("curriculum.labels=[Mass]",))
    run_pipeline(load_pipeline_config(None, sets), tmp_path / "run")
    dones = sorted((tmp_path / "run").glob("stage_*/DONE")) + sorted((tmp_path / "run").glob("stage_*/*/DONE"))
    dones.append(tmp_path / "run" / "eval" / "DONE")
    assert len(dones) >= 7
    for done in dones:
        record = json.loads(done.read_text())
        assert record["index_fingerprint"] and record["cache_fingerprint"], done
