"""Published NIH ChestX-ray numbers to put beside ours (docs/evaluation.md, "Published anchors").

Only numbers copied from the papers are kept here, each with its source and the data it was measured
on. Acc is Wang et al. 2017's localization accuracy: the share of GT boxes hit by a detected box with
IoBB > T — agcl's ``recall`` column of Table 2 and ``acc`` of ``wang.csv``.
"""

from __future__ import annotations

import pandas as pd

from agcl.evaluation.localization import TOTAL_ROW

WANG2017_SOURCE = ("Wang et al. 2017 (CVPR), Table 4, ResNet-50, Acc at T(IoBB)=0.25; measured on ChestX-ray8 "
                   "(the 2017 release, 8 classes) with that paper's own split, not the ChestX-ray14 lists")
#: Wang et al. 2017, Table 4, ResNet-50: accuracy at T(IoBB) = 0.25 (8 box classes; no total given).
WANG2017_ACC_T025 = {"Atelectasis": 0.550, "Cardiomegaly": 0.979, "Effusion": 0.542, "Infiltration": 0.577,
                     "Mass": 0.282, "Nodule": 0.051, "Pneumonia": 0.558, "Pneumothorax": 0.347}

AGCL_TABLE1_SOURCE = "AGCL paper, Table 1: per-class test AUC of BSL (ResNet-50) on the ChestX-ray14 official split"
#: AGCL paper Table 1, the BSL row: per-class test AUC (mean .7708).
AGCL_TABLE1_BSL_AUC = {"Atelectasis": 0.7268, "Cardiomegaly": 0.8545, "Effusion": 0.7899, "Infiltration": 0.6788,
                       "Mass": 0.7527, "Nodule": 0.7143, "Pneumonia": 0.6934, "Pneumothorax": 0.8260,
                       "Consolidation": 0.7052, "Edema": 0.8148, "Emphysema": 0.8698, "Fibrosis": 0.7892,
                       "Pleural_Thickening": 0.7260, "Hernia": 0.8500}

AGCL_SOURCE = ("AGCL paper, Table 2: recall at T(IoBB)=0.25 on all 984 GT boxes of the "
               "ChestX-ray14 test split")
#: AGCL paper Table 2: recall (= Wang's Acc) at T(IoBB) = 0.25 for BSL, AGL and AGCL (= AGCL-2).
AGCL_TABLE2_RECALL = {
    "BSL": {"Atelectasis": 0.46, "Cardiomegaly": 0.99, "Effusion": 0.55, "Infiltration": 0.76, "Mass": 0.65,
            "Nodule": 0.19, "Pneumonia": 0.76, "Pneumothorax": 0.45, TOTAL_ROW: 0.66},
    "AGL": {"Atelectasis": 0.58, "Cardiomegaly": 0.99, "Effusion": 0.64, "Infiltration": 0.80, "Mass": 0.69,
            "Nodule": 0.32, "Pneumonia": 0.80, "Pneumothorax": 0.46, TOTAL_ROW: 0.68},
    "AGCL": {"Atelectasis": 0.66, "Cardiomegaly": 1.00, "Effusion": 0.72, "Infiltration": 0.87, "Mass": 0.79,
             "Nodule": 0.32, "Pneumonia": 0.82, "Pneumothorax": 0.49, TOTAL_ROW: 0.73},
}
ANCHOR_T = 0.25


def acc_beside_anchors(wang_long: pd.DataFrame) -> pd.DataFrame:
    """Our Acc at T(IoBB) = 0.25 per model beside Wang et al. 2017's and the AGCL paper's rows.

    Args:
        wang_long: ``wang.csv`` (long: model, label, t, acc, …).

    Shapes: -> DataFrame: Row, Source, then one column per box class (+ Total); NaN where a source
    gives no number.
    """
    labels = [*WANG2017_ACC_T025, TOTAL_ROW]
    rows = [{"Row": "Wang et al. 2017 (ResNet-50)", "Source": WANG2017_SOURCE, **WANG2017_ACC_T025}]
    rows += [{"Row": f"AGCL paper {m}", "Source": AGCL_SOURCE, **v} for m, v in AGCL_TABLE2_RECALL.items()]
    ours = wang_long[(wang_long["t"] - ANCHOR_T).abs() < 1e-9]
    for model, g in ours.groupby("model", sort=False):
        rows.append({"Row": f"ours: {model}", "Source": "this run, wang.csv (official split)",
                     **g.set_index("label")["acc"].to_dict()})
    table = pd.DataFrame(rows)
    for lab in labels:
        if lab not in table.columns:
            table[lab] = float("nan")
    return table[["Row", "Source", *labels]]
