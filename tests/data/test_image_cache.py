"""``prepare_cache`` / ``ImageCache``: contents, manifest, resume after failure, skip-bad, workers."""

from __future__ import annotations

import json
import logging
import pickle

import numpy as np
import pytest
from PIL import Image

from agcl.data.cache import ImageCache, default_cache_dir, prepare_cache
from agcl.data.images import read_image_resized
from agcl.data.index import save_index
from agcl.data.table import TableOptions, build_csv_index
from agcl.errors import InputError

SIZES = [(40, 30), (32, 32), (20, 50), (64, 48), (33, 17), (50, 50)]


def make_index(tmp_path, n=6):
    root = tmp_path / "imgs"
    root.mkdir()
    rows = ["path,labels,patient_id"]
    rng = np.random.default_rng(0)
    for i in range(n):
        w, h = SIZES[i % len(SIZES)]
        Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(root / f"im{i}.png")
        rows.append(f"im{i}.png,{'Mass' if i % 2 else 'No Finding'},p{i}")
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    images, boxes, info = build_csv_index(tmp_path / "list.csv", root, TableOptions(split_col=None, seed=1))
    return save_index(tmp_path / "ix", images, boxes, info), root


def test_cache_contents_and_manifest(tmp_path):
    ix, root = make_index(tmp_path)
    out = prepare_cache(ix, size=16, workers=1, progress=False)
    assert out == default_cache_dir(ix, 16)
    cache = ImageCache.open(out)
    assert cache.size == 16 and len(cache) == 6 and cache.data.shape == (6, 16, 16)
    for i in range(6):
        row = cache.row_of(f"im{i}.png")
        expected, size = read_image_resized(root / f"im{i}.png", 16)
        np.testing.assert_array_equal(cache.get(row), expected)
        assert cache.source_size(f"im{i}.png") == size == SIZES[i]
    assert not (out / "progress.npz").exists()
    info = json.loads((out / "cache.json").read_text())
    assert info["complete"] is True and "LANCZOS" in info["filter"]
    state = pickle.loads(pickle.dumps(cache))
    assert state._data is None and np.array_equal(state.get(0), cache.get(0))
    with pytest.raises(InputError, match="not in the cache"):
        cache.row_of("nope.png")
    assert ImageCache.open(out, expect_size=16).size == 16
    with pytest.raises(InputError, match="has size 16 but data.image_size=32"):
        ImageCache.open(out, expect_size=32)


def test_bad_image_stops_then_resumes(tmp_path, caplog):
    ix, root = make_index(tmp_path)
    good = (root / "im3.png").read_bytes()
    (root / "im3.png").write_bytes(good[:40])  # truncated
    with pytest.raises(InputError, match=r"cannot decode image .*im3.png.*resumes on re-run"):
        prepare_cache(ix, size=16, workers=1, progress=False)
    out = default_cache_dir(ix, 16)
    assert json.loads((out / "cache.json").read_text())["complete"] is False
    with pytest.raises(InputError, match="incomplete"):
        ImageCache.open(out)
    with np.load(out / "progress.npz") as z:
        done_before = int((z["state"] == 1).sum())
    assert done_before == 3  # rows im0..im2 were decoded before im3 failed
    (root / "im3.png").write_bytes(good)
    with caplog.at_level(logging.INFO):
        prepare_cache(ix, size=16, workers=1, progress=False)
    assert "3/6 images already done" in caplog.text
    cache = ImageCache.open(out)
    np.testing.assert_array_equal(cache.get(cache.row_of("im3.png")), read_image_resized(root / "im3.png", 16)[0])


def test_skip_bad_and_parallel_workers_match(tmp_path):
    ix, root = make_index(tmp_path)
    (root / "im1.png").write_bytes(b"junk")
    out = prepare_cache(ix, size=16, workers=2, skip_bad=True, progress=False, out=tmp_path / "c2")
    cache = ImageCache.open(out)
    assert cache.bad_ids == ["im1.png"] and not cache.get(cache.row_of("im1.png")).any()
    ref = ImageCache.open(prepare_cache(ix, size=16, workers=1, skip_bad=True, progress=False, out=tmp_path / "c1"))
    np.testing.assert_array_equal(np.asarray(cache.data), np.asarray(ref.data))


def test_refuses_foreign_folder_and_rebuilds_for_other_index(tmp_path, caplog):
    ix, _ = make_index(tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("mine")
    with pytest.raises(InputError, match="not an agcl image cache"):
        prepare_cache(ix, size=16, out=tmp_path / "other", workers=1, progress=False)
    out = prepare_cache(ix, size=16, workers=1, progress=False, out=tmp_path / "c")
    info = json.loads((out / "cache.json").read_text())
    info["index_fingerprint"] = "stale"
    (out / "cache.json").write_text(json.dumps(info))
    with caplog.at_level(logging.WARNING):
        prepare_cache(ix, size=16, workers=1, progress=False, out=out)
    assert "rebuilding" in caplog.text and ImageCache.open(out).info["index_fingerprint"] != "stale"
