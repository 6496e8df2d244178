"""`agcl report`: the HTML holds Tables 1-2, figures and a gallery, escapes every string, and says loudly
when the run had no severity table."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agcl.cli import app
from agcl.labels import LABELS

from .conftest import HOSTILE_ID, HOSTILE_MODEL, HOSTILE_STAGE


def _page(run: Path) -> str:
    return (run / "eval" / "report.html").read_text(encoding="utf-8")


def test_report_has_tables_figures_and_gallery(fake_run: Path) -> None:
    page = _page(fake_run)
    for anchor in ("table1", "table2", "maxboxacc", "anchors", "roc", "training", "seeds", "gallery"):
        assert f'id="{anchor}"' in page
    # Table 1: one column per evaluated model, one row per class with the paper's short names
    assert re.search(r"<th[^>]*>BSL</th>", page)
    assert re.search(r"<td[^>]*>PT</td>", page) and re.search(r"<td[^>]*>AVG</td>", page)
    # Table 2: a Total row and side-by-side recall columns
    assert re.search(r"<td[^>]*>Total</td>", page)
    assert "Recall BSL" in page
    figures = fake_run / "eval" / "figures"
    for name in ("roc.png", "training.png", "seeds.png", "maxboxacc_curve.png"):
        assert (figures / name).stat().st_size > 1000
    gallery = sorted(figures.glob("gallery_*.png"))
    # Atelectasis and Effusion have GT boxes: best, worst, random each, in 2 heatmap stages
    assert len(gallery) == 2 * 3 * 2
    assert page.count("data:image/png;base64,") == 4 + len(gallery)
    assert "MaxBoxAcc BSL" in page and "V2 BSL" in page
    # the fake index records no official split: no published rows beside ours, and the page says why
    assert "split_source=unknown" in page and "Wang et al. 2017 (ResNet-50)" not in page
    assert "— best —" in page and "— worst —" in page and "— random —" in page


def test_every_string_is_escaped(fake_run: Path) -> None:
    page = _page(fake_run)
    assert "<script" not in page.lower()
    assert "<b>" not in page
    assert html.escape(HOSTILE_MODEL, quote=True) in page  # a model name in Table 1
    assert html.escape(HOSTILE_STAGE, quote=True) in page  # a stage name in the run summary
    assert html.escape(HOSTILE_ID, quote=True) in page  # an image id in the gallery (it has GT boxes)


def test_degraded_run_is_flagged(fake_run: Path) -> None:
    page = _page(fake_run)
    assert 'class="warn" id="degraded"' in page
    assert "AGCL degraded to AGL" in page


def test_run_with_severity_is_not_flagged_and_missing_eval_is_explained(tmp_path: Path, fake_run: Path) -> None:
    import shutil

    import agcl

    run = tmp_path / "run"
    # no eval/, and only the bsl model stage (keeps the test fast: one ROC curve per class)
    shutil.copytree(fake_run, run, ignore=shutil.ignore_patterns("eval", "stage_agcl_1", f"stage_{HOSTILE_STAGE}"))
    config = (run / "config.yaml").read_text(encoding="utf-8")
    (run / "config.yaml").write_text(config.replace("severity: ''", f"severity: {tmp_path / 'sev.csv'}"), encoding="utf-8")
    seeds = (run / "stage_seeds_r1" / "seeds.csv").read_text(encoding="utf-8")
    (run / "stage_seeds_r1" / "seeds.csv").write_text(seeds.replace("S2", "S1", 1), encoding="utf-8")
    out = agcl.report(run, tile=64, n_random=0)  # the notebook API mirrors `agcl report`
    assert out == run / "eval" / "report.html"
    page = out.read_text(encoding="utf-8")
    assert 'id="degraded"' not in page
    assert "eval/auc.csv not found" in page
    assert len(list((run / "eval" / "figures").glob("gallery_*.png"))) == 2 * 2 * 1  # best+worst, bsl only


def test_cli_report_and_bad_run_dir(tmp_path: Path, fake_run: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert bad.exit_code == 2
    assert "run directory not found" in bad.output
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = runner.invoke(app, ["report", str(empty)])
    assert bad.exit_code == 2 and "not an agcl run directory" in bad.output


def test_broken_metrics_line_names_file_and_line(tmp_path: Path) -> None:
    from agcl.errors import InputError
    from agcl.viz.rundata import read_jsonl

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"stage": "bsl", "epoch": 0}\nnot json\n{"stage": "bsl", "epoch": 1}\n{"stage": "b', encoding="utf-8")
    with pytest.raises(InputError, match=r"metrics.jsonl:2: not a JSON object"):
        read_jsonl(path)
    path.write_text('{"stage": "bsl", "epoch": 0}\n{"stage": "b', encoding="utf-8")
    assert len(read_jsonl(path)) == 1  # a run killed mid-write leaves a truncated last line


def test_stage_order_follows_the_pipeline() -> None:
    from agcl.viz.rundata import stage_sort_key

    names = ["agcl_10", "seeds_r1", "agcl_2", "agl", "bsl", "curriculum_r2", "seeds_agl", "agcl_1",
             "curriculum_r1", "zzz", "index", "seeds_r2"]
    assert sorted(names, key=stage_sort_key) == [
        "index", "bsl", "seeds_agl", "agl", "curriculum_r1", "seeds_r1", "agcl_1", "curriculum_r2",
        "seeds_r2", "agcl_2", "agcl_10", "zzz"]


def test_paper_tables_from_long_csvs(fake_run: Path) -> None:
    import pandas as pd

    from agcl.viz.tables import table1, table2, table2_counts, table2_rates

    auc = pd.read_csv(fake_run / "eval" / "auc.csv")
    t1 = table1(auc)
    assert list(t1.columns) == ["Disease", "BSL", HOSTILE_MODEL, "odd"]
    assert list(t1["Disease"]) == [("PT" if c == "Pleural_Thickening" else c) for c in LABELS] + ["AVG"]
    row = auc[(auc["model"] == "odd") & (auc["label"] == "Effusion")]
    assert t1.set_index("Disease").loc["Effusion", "odd"] == row["auc"].iloc[0]
    loc = pd.read_csv(fake_run / "eval" / "localization.csv")
    t2 = table2(loc)
    assert t2["Disease"].iloc[-1] == "Total"
    assert {"Detected BSL", "TP odd", "Precision BSL"} <= set(t2.columns)
    assert set(table2_counts(loc).columns) | set(table2_rates(loc).columns) == set(t2.columns)
