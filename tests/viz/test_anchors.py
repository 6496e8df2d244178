"""Published anchors: our Acc beside Wang et al. 2017 and the AGCL paper, only on the official NIH split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from agcl.evaluation.anchors import AGCL_TABLE2_RECALL, WANG2017_ACC_T025, acc_beside_anchors
from agcl.viz.evaluation_sections import anchors_section, split_source
from agcl.viz.rundata import RunData


def test_acc_beside_anchors_takes_our_t025_row():
    wang = pd.DataFrame({"model": ["m"] * 4, "label": ["Mass", "Total", "Mass", "Total"],
                         "t": [0.25, 0.25, 0.5, 0.5], "acc": [0.4, 0.6, 0.1, 0.2]})
    table = acc_beside_anchors(wang).set_index("Row")
    assert table.loc["ours: m", "Mass"] == 0.4 and table.loc["ours: m", "Total"] == 0.6
    assert table.loc["Wang et al. 2017 (ResNet-50)", "Mass"] == WANG2017_ACC_T025["Mass"] == 0.282
    assert np.isnan(table.loc["Wang et al. 2017 (ResNet-50)", "Total"])  # the paper gives no total
    assert table.loc["AGCL paper AGCL", "Total"] == AGCL_TABLE2_RECALL["AGCL"]["Total"] == 0.73
    assert np.isnan(table.loc["ours: m", "Nodule"])


def test_anchor_section_only_on_the_official_split(fake_run: Path, tmp_path: Path):
    run = RunData.open(fake_run)
    (tmp_path / "index.json").write_text(json.dumps({"split_source": "file:/x/split.csv"}))
    assert split_source(tmp_path) == "file:/x/split.csv"
    other = anchors_section(run, tmp_path)
    assert "Wang et al." not in other and "split_source=file:/x/split.csv" in other
    (tmp_path / "index.json").write_text(json.dumps({"split_source": "official"}))
    page = anchors_section(run, tmp_path)
    assert "Wang et al. 2017 (ResNet-50)" in page and "ours: BSL" in page and "0.979" in page
    assert split_source(None) == "" and split_source(tmp_path / "missing") == ""
