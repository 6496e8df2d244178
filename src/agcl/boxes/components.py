"""Connected components of a stack of maps at every level of a threshold sweep, in one pass.

A box generator, its calibration grid and MaxBoxAcc threshold a map at several levels and need, at each
level, the connected components of the pixels at or above it: bounding box, size, first pixel in raster
order (the order in which ``scipy.ndimage.label`` numbers them) and the largest map value inside.
Labelling every level on its own visits every pixel once per level — 100 times for MaxBoxAcc's τ sweep.

Here the caller quantises each map to a level index ``q`` (a pixel belongs to the level-``L`` set iff
``q >= L``; ``q = 0`` is below every level) and the maps are labelled **once** into flat zones, the
connected regions of equal ``q`` (``skimage.measure.label``). The components at level ``L`` are the
connected groups of zones with ``q >= L``: they are built from the highest level down, each level's new
zones joined to the components above it through the zone adjacency graph
(``scipy.sparse.csgraph.connected_components``) — the component tree of the map (Salembier, Oliveras
and Garrido 1998, "Antiextensive connected operators"). Every pixel is visited a fixed number of times
whatever the number of levels; per level only zones and components are touched.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from skimage.measure import label as label_zones

_BIG = np.iinfo(np.int64).max
_BIG32 = np.iinfo(np.int32).max
#: Up to this many levels each level is labelled on its own; above, the component tree is cheaper.
FEW_LEVELS = 4
#: Maps whose zone pairs are made unique together.
_LINK_MAPS = 8


class LevelComponents(NamedTuple):
    """Components of the upper level sets ``q >= level`` of a stack of maps, sorted by map, level and
    first pixel (raster order, as ``scipy.ndimage.label`` numbers them).

    Shapes: level, map_index, size, first [C] int64; boxes [C,4] float64 xyxy grid pixel edges
    (``x0 = first column``, ``x1 = last column + 1``); score [C] max of ``values`` inside (empty
    when no values were given).
    """

    level: np.ndarray
    map_index: np.ndarray
    boxes: np.ndarray
    size: np.ndarray
    first: np.ndarray
    score: np.ndarray


def _zone_links(levels: np.ndarray, zones: np.ndarray, row: int, connectivity: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of different zones that touch, each pair once (either order).

    ``levels`` and ``zones`` are the flattened canvas (rows of ``row`` pixels, a zero column and a zero
    row after every map, so neighbours never wrap). Horizontal and vertical neighbours in different
    zones always link them; a diagonal link matters only where neither pixel of the other diagonal is
    in the level set that the link joins (a saddle) — elsewhere the two zones meet through that pixel.
    Pairs are made unique by hashing, ``block`` pixels (whole maps) at a time: pairs never cross maps,
    and small hash tables stay in the CPU cache.

    Shapes: levels, zones [n] -> (a [E], b [E]) zone numbers >= 1.
    """
    a_all, b_all = [], []
    span = int(zones.max(initial=0)) + 1
    for start in range(0, len(levels), block):
        lv, zs = levels[start:start + block], zones[start:start + block]
        n = len(lv)
        found = []
        for off in (1, row):
            qa, qb = lv[:n - off], lv[off:]
            p = np.flatnonzero((qa != qb) & (qa > 0) & (qb > 0))
            found.append((p, p + off))
        if connectivity == 8:
            # (p, p+row+1) against (p+1, p+row) for p in [0, n-row-1); (p, p+row-1) against (p-1, p+row) for
            # p in [1, n-row) (the last row is a map's zero row)
            p = np.flatnonzero(np.minimum(lv[:n - row - 1], lv[row + 1:]) > np.maximum(lv[1:n - row], lv[row:n - 1]))
            found.append((p, p + row + 1))
            p = np.flatnonzero(np.minimum(lv[1:n - row], lv[row:n - 1]) > np.maximum(lv[:n - row - 1], lv[row + 1:])) + 1
            found.append((p, p + row - 1))
        a = np.concatenate([zs[i] for i, _ in found]).astype(np.int64)
        b = np.concatenate([zs[j] for _, j in found])
        keys = pd.unique(a * span + b)  # hashing, not sorting, the pixel-many pairs
        a_all.append(keys // span)
        b_all.append(keys % span)
    return np.concatenate(a_all), np.concatenate(b_all)


def _reduce(kind, n: int, index: np.ndarray, values: np.ndarray, init) -> np.ndarray:
    out = np.full(n, init, dtype=values.dtype)
    kind.at(out, index, values)
    return out


def level_components(q: np.ndarray, connectivity: int = 8, values: np.ndarray | None = None) -> LevelComponents:
    """Components of ``{q >= L}`` in each map, for every level ``L = 1 … q.max()``.

    Up to :data:`FEW_LEVELS` levels are labelled one by one (OpenCV's ``connectedComponentsWithStats``,
    one pass over the pixels per level); more go through the component tree (one labelling into flat
    zones). Both give the same components. A component's score is found among the map's local maxima
    only: the largest value of an upper level set's component is a local maximum of the whole map (its
    neighbours are either in the component or below the level).

    Args:
        q: level index per pixel (small non-negative integers; 0 = below every level).
        connectivity: 8 or 4 (neighbourhood within a map; maps never touch each other).
        values: optional map values; ``score`` is their maximum over each component. ``q`` must not
            decrease as ``values`` grow within a map (``q`` counts the thresholds each value reaches).

    Shapes: q [M,H,W]; values [M,H,W] -> :class:`LevelComponents` with C components.
    """
    q = np.asarray(q)
    m, h, w = q.shape
    score_dtype = np.float64 if values is None else np.asarray(values).dtype
    n_levels = int(q.max(initial=0))
    if n_levels == 0:
        e = np.zeros(0, np.int64)
        return LevelComponents(e, e, np.zeros((0, 4)), e, e, np.zeros(0, score_dtype))
    # a zero column and a zero row after every map keep maps apart and neighbours from wrapping
    row = w + 1
    canvas = np.zeros((m, h + 1, row), dtype=np.uint8 if n_levels < 256 else np.uint16)
    canvas[:, :h, :w] = q
    canvas = canvas.reshape(m * (h + 1), row)
    peaks = None
    if values is not None:
        vals = np.full((m, h + 1, row), -np.inf, dtype=score_dtype)
        vals[:, :h, :w] = values
        vals = vals.reshape(canvas.shape)
        shape = cv2.MORPH_RECT if connectivity == 8 else cv2.MORPH_CROSS
        near = cv2.dilate(vals, cv2.getStructuringElement(shape, (3, 3)), borderType=cv2.BORDER_REPLICATE)
        at = np.flatnonzero(vals.ravel() >= near.ravel())
        peaks = (at, vals.ravel()[at])
    if n_levels <= FEW_LEVELS:
        out = _by_labelling(canvas, n_levels, connectivity, peaks, score_dtype)
    else:
        out = _by_zone_tree(canvas, n_levels, connectivity, peaks, score_dtype, map_rows=h + 1)

    level = np.concatenate([np.full(len(o[1]), o[0], np.int64) for o in out])
    size, first, r1, c0, c1, score = (np.concatenate([o[j] for o in out]) for j in range(1, 7))
    map_index = first // (row * (h + 1))
    r0 = first // row - map_index * (h + 1)
    r1 = r1 - map_index * (h + 1)
    local_first = r0 * w + first % row
    order = np.lexsort((local_first, level, map_index))
    boxes = np.stack([c0, r0, c1 + 1, r1 + 1], axis=1).astype(np.float64)
    return LevelComponents(level[order], map_index[order], boxes[order], size[order], local_first[order],
                           score[order] if values is not None else np.zeros(0, score_dtype))


def _scores(labels: np.ndarray, n: int, peaks, score_dtype) -> np.ndarray:
    """Largest value per label ``0..n-1`` (0: background), from the local maxima ``peaks``."""
    if peaks is None:
        return np.zeros(n, score_dtype)
    at, value = peaks
    return _reduce(np.maximum, n, labels[at], value, -np.inf)


def _by_labelling(canvas: np.ndarray, n_levels: int, connectivity: int, peaks, score_dtype) -> list[tuple]:
    """One labelling per level, with OpenCV's sizes and boxes (cheapest for a few levels).

    Per component: size, first pixel (flat canvas index), last row, first and last column, score."""
    out = []
    for level in range(1, n_levels + 1):
        n, labels, stats, _ = cv2.connectedComponentsWithStats((canvas >= level).view(np.uint8),
                                                               connectivity=connectivity, ltype=cv2.CV_32S)
        left, top, width, height, size = (stats[1:, j].astype(np.int64) for j in range(5))
        # the first pixel in raster order is the component's first one in its top row
        first_col = (labels[top] == np.arange(1, n)[:, None]).argmax(axis=1)
        score = _scores(labels.ravel(), n, peaks, score_dtype)[1:]
        out.append((level, size, top * canvas.shape[1] + first_col, top + height - 1, left, left + width - 1, score))
    return out


def _by_zone_tree(canvas: np.ndarray, n_levels: int, connectivity: int, peaks, score_dtype,
                  map_rows: int) -> list[tuple]:
    """Flat zones labelled once, joined level by level from the top (the component tree); ``map_rows``:
    canvas rows per map."""
    rows, row = canvas.shape
    levels = canvas.ravel()
    zones, n_zones = label_zones(canvas, background=0, connectivity=2 if connectivity == 8 else 1, return_num=True)
    zones = zones.ravel().astype(np.int32)
    # per zone (slot 0, the pixels below every level, is dropped): size, first pixel, last row, columns, score
    n = n_zones + 1
    z_size = np.bincount(zones, minlength=n)[1:].astype(np.int64)
    z_first = _reduce(np.minimum, n, zones, np.arange(len(zones), dtype=np.int64), _BIG)[1:]
    z_r1 = _reduce(np.maximum, n, zones, np.repeat(np.arange(rows, dtype=np.int32), row), -1)[1:].astype(np.int64)
    column = np.tile(np.arange(row, dtype=np.int32), rows)
    z_c0 = _reduce(np.minimum, n, zones, column, _BIG32)[1:].astype(np.int64)
    z_c1 = _reduce(np.maximum, n, zones, column, -1)[1:].astype(np.int64)
    z_score = _scores(zones, n, peaks, score_dtype)[1:]
    z_level = levels[z_first].astype(np.int64)
    ea, eb = _zone_links(levels, zones, row, connectivity, block=_LINK_MAPS * map_rows * row)
    ea, eb = ea - 1, eb - 1
    # zones from the highest level down; a link joins its zones once both are in the level set
    z_order = np.argsort((n_levels - z_level).astype(canvas.dtype), kind="stable")
    z_pos = np.empty(n_zones, np.int64)
    z_pos[z_order] = np.arange(n_zones)
    z_end = np.cumsum(np.bincount(n_levels - z_level, minlength=n_levels))
    z_level = z_level[z_order]
    ea, eb = z_pos[ea], z_pos[eb]
    act = np.minimum(z_level[ea], z_level[eb])
    e_order = np.argsort((n_levels - act).astype(canvas.dtype), kind="stable")
    ea, eb, act = ea[e_order], eb[e_order], act[e_order]
    e_end = np.cumsum(np.bincount(n_levels - act, minlength=n_levels))
    # below this level a zone has no link left to join: it leaves the working set
    done = z_level.copy()
    np.minimum.at(done, ea, act)
    np.minimum.at(done, eb, act)

    zstats = [a[z_order] for a in (z_size, z_first, z_r1, z_c0, z_c1, z_score)]
    stats = [a[:0] for a in zstats]  # per component at the current level: size, first, r1, c0, c1, score
    alive = np.zeros(0, np.int64)  # zones (positions in z_order) with links still to join
    alive_node = np.zeros(0, np.int64)  # their component at the current level
    slot = np.zeros(n_zones, np.int64)
    out: list[tuple] = []
    k = 0
    for i in range(n_levels):
        level = n_levels - i
        z0, z1 = (z_end[i - 1] if i else 0), z_end[i]
        e0, e1 = (e_end[i - 1] if i else 0), e_end[i]
        alive = np.concatenate([alive, np.arange(z0, z1)])
        alive_node = np.concatenate([alive_node, np.arange(k, k + z1 - z0)])
        nodes = [np.concatenate([st, zs[z0:z1]]) for st, zs in zip(stats, zstats, strict=True)]
        if e1 > e0:
            slot[alive] = np.arange(len(alive))
            a, b = alive_node[slot[ea[e0:e1]]], alive_node[slot[eb[e0:e1]]]
            graph = sparse.coo_array((np.ones(len(a), np.int8), (a, b)), shape=(len(nodes[0]),) * 2)
            nc, lab = connected_components(graph, directed=False)
            alive_node = lab[alive_node]
            stats = [np.bincount(lab, weights=nodes[0], minlength=nc).astype(np.int64),
                     _reduce(np.minimum, nc, lab, nodes[1], _BIG), _reduce(np.maximum, nc, lab, nodes[2], -1),
                     _reduce(np.minimum, nc, lab, nodes[3], _BIG), _reduce(np.maximum, nc, lab, nodes[4], -1),
                     _reduce(np.maximum, nc, lab, nodes[5], -np.inf)]
        else:
            stats = nodes
        k = len(stats[0])
        out.append((level, *stats))
        keep = done[alive] < level
        alive, alive_node = alive[keep], alive_node[keep]

    return out
