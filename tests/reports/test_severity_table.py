"""Image join of the severity table and import of third-party per-image severity."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from agcl.errors import InputError
from agcl.reports.aggregate import join_images
from agcl.reports.devset import disagreements, score
from agcl.reports.severity_import import import_severity


def _table() -> pd.DataFrame:
    return pd.DataFrame({"id": ["r1", "r1", "r2"], "label": ["Effusion", "Cardiomegaly", "Effusion"],
                         "status": ["positive", "negative", "uncertain"], "severity": ["mild", "none", "none"],
                         "evidence": ["a", "b", "c"]})


def test_join_images_one_report_many_images() -> None:
    mapping = pd.DataFrame({"report_id": ["r1", "r1", "r3"], "image_id": ["i1", "i2", "i3"]})
    out = join_images(_table(), mapping)
    assert list(out.columns) == ["image_id", "label", "status", "severity"]
    assert sorted(map(tuple, out.values.tolist())) == [
        ("i1", "Cardiomegaly", "negative", "none"), ("i1", "Effusion", "positive", "mild"),
        ("i2", "Cardiomegaly", "negative", "none"), ("i2", "Effusion", "positive", "mild")]


def test_join_images_errors() -> None:
    with pytest.raises(InputError, match="map.csv: missing column 'image_id'"):
        join_images(_table(), pd.DataFrame({"report_id": ["r1"]}), source="map.csv")
    two = pd.DataFrame({"report_id": ["r1", "r2"], "image_id": ["i1", "i1"]})
    with pytest.raises(InputError, match="image 'i1' is mapped to more than one report"):
        join_images(_table(), two)


def test_import_severity_words_codes_and_aliases(tmp_path: Path) -> None:
    f = tmp_path / "sev.csv"
    f.write_text("Image Index,Finding Label,severity\n"
                 "a.png,Infiltrate,1\nb.png,Effusion,Severe\nb.png,Effusion,2\nc.png,Cardiomegaly,moderate\n")
    out = import_severity(f)
    assert out.values.tolist() == [["a.png", "Infiltration", "positive", "mild"],
                                   ["b.png", "Effusion", "positive", "severe"],
                                   ["c.png", "Cardiomegaly", "positive", "moderate"]]


@pytest.mark.parametrize(("body", "message"), [
    ("image_id,label\nx,Effusion\n", "missing column 'severity'"),
    ("image_id,severity\nx,1\n", "missing label column"),
    ("image_id,label,severity\nx,Effusion,4\n", "row 2: severity '4'"),
    ("image_id,label,severity\nx,Efusion,1\n", "unknown label 'Efusion'.*row 2.*did you mean 'Effusion'"),
])
def test_import_severity_errors(tmp_path: Path, body: str, message: str) -> None:
    f = tmp_path / "sev.csv"
    f.write_text(body)
    with pytest.raises(InputError, match=message):
        import_severity(f)


def test_score_counts_status_and_severity() -> None:
    gold = pd.DataFrame({"report_id": ["r1", "r1", "r2"], "label": ["Effusion", "Cardiomegaly", "Effusion"],
                         "status": ["positive", "negative", "positive"], "severity": ["moderate", "none", "none"]})
    s = score(_table(), gold)
    assert (s["true_positives"], s["precision"], s["recall"]) == (2, 2 / 3, 2 / 3)
    assert (s["severity_pairs"], s["severity_correct"]) == (1, 0)
    assert len(disagreements(_table(), gold)) == 2
    # pairs: all three shared; r2 Effusion is positive in gold and uncertain in the table
    assert s["pair_f1"] == 1.0
    assert s["f1_negative"] == 1.0
    assert s["f1_positive"] == pytest.approx(2 * 1 / (2 + 1))   # gold 2 positives, predicted 1, both right
    assert s["f1_uncertain"] == 0.0
    assert s["status_macro_f1"] == pytest.approx((1.0 + 2 / 3 + 0.0) / 3)


def test_score_pair_f1_counts_missing_and_extra_pairs() -> None:
    gold = pd.DataFrame({"report_id": ["r1", "r1"], "label": ["Effusion", "Nodule"],
                         "status": ["positive", "uncertain"], "severity": ["mild", "none"]})
    s = score(_table(), gold)   # the table adds r1 Cardiomegaly, misses r1 Nodule
    assert s["pair_f1"] == pytest.approx(2 * 1 / (2 + 2))
    assert s["f1_uncertain"] == 0.0 and s["f1_positive"] == 1.0


def test_import_severity_accepts_nih_style_headers(tmp_path: Path) -> None:
    path = tmp_path / "ext.csv"
    path.write_text("Image Index,Finding Label,Severity\n00000001_000.png,Infiltrate,3\n", encoding="utf-8")
    table = import_severity(path)
    assert table.to_dict("records") == [
        {"image_id": "00000001_000.png", "label": "Infiltration", "status": "positive", "severity": "severe"}]
