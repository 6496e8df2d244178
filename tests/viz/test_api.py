"""The notebook API mirrors the CLI: agcl.report and agcl.evaluate (alias evaluate_stages)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

import agcl
from agcl.labels import LABELS


def test_api_evaluate_stages_matches_sklearn(fake_run: Path, tmp_path: Path) -> None:
    index = fake_run.parent / "index"
    results = agcl.evaluate(index, fake_run / "stage_bsl", names=["BSL"], out=tmp_path / "eval")
    assert [r.name for r in results] == ["BSL"]
    images = pd.read_csv(index / "images.csv", dtype={"image_id": str})
    test = images[images["split"] == "test"].set_index("image_id")
    preds = pd.read_csv(fake_run / "stage_bsl" / "predictions.csv", dtype={"image_id": str}).set_index("image_id")
    expected = roc_auc_score(test.loc[preds.index, "Effusion"], preds["Effusion"])
    got = results[0].auc.set_index("label").loc["Effusion", "auc"]
    assert np.isclose(got, expected)
    assert (tmp_path / "eval" / "auc.csv").is_file() and (tmp_path / "eval" / "localization.csv").is_file()
    assert set(results[0].auc["label"]) >= set(LABELS)

