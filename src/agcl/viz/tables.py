"""Paper-layout tables for the report from ``agcl evaluate``'s long CSVs (one row per model × class).

Table 1 (AUC): one row per class (then the mean), one column per model (AGCL Table 1, transposed to
fit a page). Table 2 (localization): per class GT, then detected / TP / GT hit / recall / precision for
each model side by side (AGCL Table 2), shown as a counts half and a rates half. The evaluation settings, stored as constant columns of the CSVs, become a caption.
"""

from __future__ import annotations

import pandas as pd

#: Per-row metric columns of eval/auc.csv and eval/localization.csv (everything else is a setting).
AUC_METRICS = ("model", "label", "auc", "n_pos", "n_neg", "n_classes", "ci_low", "ci_high", "n_boot_valid")
LOC_METRICS = ("model", "label", "gt", "detected", "tp", "gt_hit", "n_images", "recall", "precision", "fp", "afp")
TABLE2_COLUMNS = (("detected", "Detected"), ("tp", "TP"), ("gt_hit", "GT hit"), ("recall", "Recall"),
                  ("precision", "Precision"))
SHORT = {"Pleural_Thickening": "PT", "Mean": "AVG"}


def settings_caption(df: pd.DataFrame, metrics: tuple[str, ...]) -> str:
    """``key=value`` pairs of the setting columns (constant per file) of a long evaluation table."""
    parts = []
    for col in df.columns:
        if col in metrics:
            continue
        values = df[col].dropna().unique()
        parts.append(f"{col}={values[0] if len(values) == 1 else '/'.join(map(str, values))}")
    return ", ".join(parts)


def _models(df: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(df["model"].astype(str)))


def table1(auc_long: pd.DataFrame) -> pd.DataFrame:
    """Class × model AUC: one row per class (file order, the mean last as ``AVG``), one column per model.

    The paper prints models as rows; with 14 classes that is too wide for a page, so it is transposed.

    Raises:
        KeyError: the CSV lacks ``model``, ``label`` or ``auc`` (the caller shows it raw instead).
    """
    df = auc_long[["model", "label", "auc"]].astype({"model": str, "label": str})
    labels = list(dict.fromkeys(df["label"]))
    wide = df.pivot(index="label", columns="model", values="auc").reindex(index=labels, columns=_models(df))
    wide.index = [SHORT.get(c, c) for c in wide.index]
    wide.columns = list(wide.columns)
    return wide.rename_axis("Disease").reset_index()


def table2(loc_long: pd.DataFrame, columns: tuple[tuple[str, str], ...] = TABLE2_COLUMNS) -> pd.DataFrame:
    """Class rows (Total last), GT count, then each metric in ``columns`` for each model side by side.

    Raises:
        KeyError: the CSV lacks one of the Table 2 columns (the caller shows it raw instead).
    """
    df = loc_long.astype({"model": str, "label": str})
    models = _models(df)
    labels = list(dict.fromkeys(df["label"]))
    first = df[df["model"] == models[0]].set_index("label").reindex(labels)
    out = pd.DataFrame({"Disease": labels, "GT": first["gt"].to_numpy()})
    for col, title in columns:
        for m in models:
            out[f"{title} {m}"] = df[df["model"] == m].set_index("label").reindex(labels)[col].to_numpy()
    return out


def table2_counts(loc_long: pd.DataFrame) -> pd.DataFrame:
    """Table 2, first half: detected boxes, true-positive boxes and GT boxes hit, per model."""
    return table2(loc_long, TABLE2_COLUMNS[:3])


def table2_rates(loc_long: pd.DataFrame) -> pd.DataFrame:
    """Table 2, second half: recall (GT hit / GT) and precision (TP / detected), per model."""
    return table2(loc_long, TABLE2_COLUMNS[3:])
