"""Evaluation: AUC (Table 1), localization (Table 2, Acc/AFP, IoU accuracy, pointing game),
controls, stage artifacts and multi-model tables. Pure functions on arrays/DataFrames."""

from agcl.evaluation.auc import auc_table, per_class_auc
from agcl.evaluation.core import EvalSettings, ModelResult, evaluate_model
from agcl.evaluation.localization import (
           localization_table,
           match_boxes,
           pointing_game,
           scope_pairs,
           threshold_sweep,
)

__all__ = ["EvalSettings", "ModelResult", "auc_table", "evaluate_model", "localization_table", "match_boxes",
           "per_class_auc", "pointing_game", "scope_pairs", "threshold_sweep"]
