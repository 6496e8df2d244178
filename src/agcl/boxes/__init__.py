"""Boxes: one box type and geometry (xyxy, original pixels) and heatmap → box generators.

The generators need torch; they are imported on first use, so that readers which only check boxes
(:func:`agcl.boxes.geometry.box_problems`, e.g. every ``load_index``) stay light.
"""

from agcl.boxes.geometry import cache_to_original, grid_to_original, iobb, iou, xywh_to_xyxy

_GENERATORS = ("BoxSettings", "Detections", "heatmap_to_boxes", "heatmaps_to_boxes")

__all__ = ["BoxSettings", "Detections", "cache_to_original", "grid_to_original", "heatmap_to_boxes",
           "heatmaps_to_boxes", "iobb", "iou", "xywh_to_xyxy"]


def __getattr__(name: str):
    if name in _GENERATORS:
        from agcl.boxes import generators

        return getattr(generators, name)
    raise AttributeError(f"module 'agcl.boxes' has no attribute {name!r}")
