"""The versioned lexicon files: validation errors, and a user-supplied lexicon folder."""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path

import pytest

from agcl.errors import InputError
from agcl.reports.aggregate import aggregate
from agcl.reports.lexicon import load_lexicon
from agcl.reports.mining import ReportMiner

PACKAGED = Path(str(resources.files("agcl.reports.lexicon")))


def _copy(tmp_path: Path) -> Path:
    out = tmp_path / "lex"
    out.mkdir()
    for name in ("findings.yaml", "context.yaml"):
        shutil.copy(PACKAGED / name, out / name)
    return out


def test_packaged_lexicon_is_versioned_and_covers_all_labels() -> None:
    from agcl.labels import LABELS

    lex = load_lexicon()
    assert "findings" in lex.version and "context" in lex.version
    assert set(lex.labels) == set(LABELS)
    assert {lex.severity["small"], lex.severity["moderate"], lex.severity["massive"]} == {"mild", "moderate", "severe"}


def test_custom_lexicon_folder_changes_the_vocabulary(tmp_path: Path, miner: ReportMiner) -> None:
    lex_dir = _copy(tmp_path)
    findings = (lex_dir / "findings.yaml").read_text()
    (lex_dir / "findings.yaml").write_text(findings.replace("terms: [fibrosis, fibrotic]",
                                                            "terms: [fibrosis, fibrotic, scarring]"))
    text = [("r", "Apical scarring.")]
    assert aggregate(miner.mine(text)).empty
    custom = aggregate(ReportMiner(load_lexicon(lex_dir)).mine(text))
    assert custom[["label", "status"]].values.tolist() == [["Fibrosis", "positive"]]


@pytest.mark.parametrize(("name", "body", "message"), [
    ("findings.yaml", "labels: {}\n", "non-empty 'version'"),
    ("findings.yaml", "version: 1\nlabels: {Pneumonitis: {terms: [x]}}\n", "unknown label 'Pneumonitis'"),
    ("context.yaml", "version: 1\nnegation: {pre: no}\n", "'pre' must be a list"),
    ("context.yaml", "version: [1\n", "invalid YAML"),
    ("findings.yaml", "version: 1\nlabels: {Pneumothorax: {size_cm: [3, 2]}}\n", "size_cm must be two ascending"),
    ("findings.yaml", "version: 1\nlabels: {Pneumothorax: {size_percent: [20]}}\n", "size_percent must be two"),
    ("findings.yaml", "version: 1\nlabels: {Pneumothorax: {size_words: {huge: [x]}}}\n", "size_words must map"),
])
def test_bad_lexicon_files_are_input_errors(tmp_path: Path, name: str, body: str, message: str) -> None:
    lex_dir = _copy(tmp_path)
    (lex_dir / name).write_text(body)
    with pytest.raises(InputError, match=message):
        load_lexicon(lex_dir)
    with pytest.raises(InputError, match="lexicon file not found"):
        load_lexicon(tmp_path / "nowhere")


def test_lexicon_without_the_uncertainty_keys_turns_those_rules_off(tmp_path: Path, miner: ReportMiner) -> None:
    lex_dir = _copy(tmp_path)
    context = (lex_dir / "context.yaml").read_text()
    context = re.sub(r"\nalternatives: .*\n", "\n", context)
    context = re.sub(r"\nlist_cues: [^\]]*\]\n", "\n", context)
    context = re.sub(r"\nlist_item_words: [^\]]*\]\n", "\n", context)  # else "infiltrate, edema" is a list
    (lex_dir / "context.yaml").write_text(context)
    text = [("r", "Left basilar atelectasis/scarring. Differential diagnosis includes infiltrate, edema.")]
    old = aggregate(ReportMiner(load_lexicon(lex_dir)).mine(text))
    new = aggregate(miner.mine(text))
    assert dict(zip(old["label"], old["status"], strict=True)) == {
        "Atelectasis": "positive", "Edema": "positive", "Infiltration": "uncertain"}
    assert dict(zip(new["label"], new["status"], strict=True)) == {
        "Atelectasis": "uncertain", "Edema": "uncertain", "Infiltration": "uncertain"}
