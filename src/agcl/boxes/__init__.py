"""Boxes: one box type and geometry (xyxy, original pixels) and heatmap → box generators."""

from agcl.boxes.generators import BoxSettings, Detections, heatmap_to_boxes, heatmaps_to_boxes
from agcl.boxes.geometry import cache_to_original, grid_to_original, iobb, iou, xywh_to_xyxy

__all__ = ["BoxSettings", "Detections", "cache_to_original", "grid_to_original", "heatmap_to_boxes",
           "heatmaps_to_boxes", "iobb", "iou", "xywh_to_xyxy"]
