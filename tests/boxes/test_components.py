"""Components of every level set in one pass (agcl.boxes.components) against labelling each level with
scipy.ndimage — the reference: every component, its box, size, first pixel, score and order."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import agcl.boxes.components as components
from agcl.boxes.components import level_components


def reference(q: np.ndarray, connectivity: int, values: np.ndarray) -> list[tuple]:
    """One ndimage.label per map and level: (map, level, first, x0, y0, x1, y1, size, score) in the
    order of level_components (map, level, raster order of the first pixel)."""
    structure = ndimage.generate_binary_structure(2, 2 if connectivity == 8 else 1)
    rows = []
    for m in range(len(q)):
        for level in range(1, int(q.max(initial=0)) + 1):
            labels, n = ndimage.label(q[m] >= level, structure=structure)
            for k, sl in enumerate(ndimage.find_objects(labels), start=1):
                inside = labels == k
                first = int(np.flatnonzero(inside)[0])
                rows.append((m, level, first, sl[1].start, sl[0].start, sl[1].stop, sl[0].stop, int(inside.sum()),
                             float(values[m][inside].max())))
    return rows


def found(c) -> list[tuple]:
    return [(int(m), int(lv), int(f), *map(int, b), int(s), float(v))
            for m, lv, f, b, s, v in zip(c.map_index, c.level, c.first, c.boxes, c.size, c.score, strict=True)]


@pytest.mark.parametrize("engine", ["per_level", "tree"])
@pytest.mark.parametrize("connectivity", [8, 4])
def test_matches_labelling_every_level(monkeypatch, engine, connectivity):
    monkeypatch.setattr(components, "FEW_LEVELS", 1000 if engine == "per_level" else 0)
    rng = np.random.default_rng(connectivity)
    for trial in range(30):
        m, h, w, n_levels = rng.integers(1, 4), rng.integers(1, 13), rng.integers(1, 13), rng.integers(1, 7)
        if trial % 5 == 0:  # many small maps: the zone links are found a few maps at a time
            m, h, w = rng.integers(9, 30), rng.integers(1, 5), rng.integers(1, 5)
        values = rng.random((m, h, w)).astype(np.float32)
        if trial % 3 == 0:
            values = np.round(values * 4) / 4  # plateaus and ties
        # q counts the thresholds each value reaches, so it grows with the values (the function's contract)
        q = np.searchsorted(np.sort(rng.random(n_levels)), values).astype(np.uint8)
        assert found(level_components(q, connectivity, values)) == reference(q, connectivity, values)


def test_diagonal_links_at_every_map_corner(monkeypatch):
    # each map: its top-left pixel touches the rest only diagonally (a saddle), in every position of the
    # stack, so links found block by block must not miss a block's first pixel
    monkeypatch.setattr(components, "FEW_LEVELS", 0)
    q = np.zeros((20, 3, 3), np.uint8)
    q[:, 0, 0] = 3
    q[:, 1, 1] = q[:, 2, 2] = 1
    c = level_components(q, 8, q.astype(np.float32))
    level1 = c.level == 1
    assert level1.sum() == 20 and (c.size[level1] == 3).all()
    assert c.boxes[level1].tolist() == [[0, 0, 3, 3]] * 20


def test_maps_never_touch_and_empty_input():
    q = np.zeros((2, 3, 3), np.uint8)
    q[0, 0, 2] = q[0, 1, 0] = 1  # end of a row and start of the next: neighbours only if rows wrapped
    q[0, 2, 2] = 1  # bottom row of map 0 ...
    q[1, 0, :] = 1  # ... above the top row of map 1 if the maps were stacked
    c = level_components(q)
    assert c.map_index.tolist() == [0, 0, 0, 1]
    assert c.boxes.tolist() == [[2, 0, 3, 1], [0, 1, 1, 2], [2, 2, 3, 3], [0, 0, 3, 1]]
    assert c.first.tolist() == [2, 3, 8, 0] and c.size.tolist() == [1, 1, 1, 3]
    empty = level_components(np.zeros((2, 4, 4), np.uint8), values=np.ones((2, 4, 4), np.float32))
    assert len(empty.level) == 0 and empty.boxes.shape == (0, 4) and empty.score.dtype == np.float32


def test_many_levels_on_a_smooth_map_agree_between_engines(monkeypatch):
    yy, xx = np.mgrid[0:40, 0:50]
    values = np.stack([np.exp(-((yy - 12) ** 2 + (xx - 30) ** 2) / 60.0) + 0.6 * np.exp(-((yy - 30) ** 2 + (xx - 10) ** 2) / 30.0),
                       np.sin(xx / 4.0) * np.cos(yy / 5.0)]).astype(np.float32)
    q = np.searchsorted(np.linspace(-1, 1, 100, dtype=np.float32), values)
    out = []
    for few in (1000, 0):
        monkeypatch.setattr(components, "FEW_LEVELS", few)
        out.append(level_components(q, 8, values))
    assert len(out[0].level) > 200
    for a, b in zip(*out, strict=True):
        assert np.array_equal(a, b)
