"""Box geometry: frame mapping, IoBB and IoU on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from agcl.boxes.geometry import (
    area,
    cache_to_original,
    contains_point,
    grid_to_original,
    iobb,
    iou,
    original_to_grid,
    xywh_to_xyxy,
)


def test_iobb_and_iou_hand_cases():
    det = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [20, 20, 20, 30]])
    gt = np.array([[0, 0, 10, 10], [0, 0, 20, 20]])
    b = iobb(det, gt)
    np.testing.assert_allclose(b[:2], [[1.0, 1.0], [25 / 100, 1.0]])
    assert (b[2] == 0).all()  # zero-area detection -> 0, no division warning
    u = iou(det, gt)
    np.testing.assert_allclose(u[:2], [[1.0, 100 / 400], [25 / 175, 100 / 400]])
    assert iobb(np.zeros((0, 4)), gt).shape == (0, 2)


def test_mappings_and_xywh():
    assert np.allclose(xywh_to_xyxy([[1, 2, 3, 4]]), [[1, 2, 4, 6]])
    # contract: x = u * width / S
    np.testing.assert_allclose(cache_to_original([[0, 0, 256, 128]], 256, 1024, 512), [[0, 0, 1024, 256]])
    boxes = np.array([[1.5, 2, 3, 4]])
    back = original_to_grid(grid_to_original(boxes, (8, 16), 1000, 700), (8, 16), 1000, 700)
    np.testing.assert_allclose(back, boxes)
    assert area([[0, 0, 2, 3], [2, 2, 1, 1]]).tolist() == [6, 0]
    assert contains_point([[0, 0, 10, 10], [5, 5, 6, 6]], 10, 3).tolist() == [True, False]
    with pytest.raises(ValueError):
        iou(np.zeros((2, 3)), np.zeros((1, 4)))
