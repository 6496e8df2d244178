"""``agcl synth``: writes a phantom (+ preview), skips an identical re-run, refuses foreign folders."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from agcl.cli import app


def test_synth_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "ph"
    res = runner.invoke(app, ["synth", str(out), "--n", "24", "--size", "48", "--workers", "1", "--preview"])
    assert res.exit_code == 0, res.output
    assert (out / "Data_Entry_2017_v2020.csv").is_file() and (out / "truth" / "spec.json").is_file()
    with Image.open(out / "preview.png") as im:
        assert im.mode == "RGB" and im.size[0] > 300
    before = (out / "Data_Entry_2017_v2020.csv").stat().st_mtime_ns
    res = runner.invoke(app, ["synth", str(out), "--n", "24", "--size", "48", "--workers", "1",
                              "--preview-path", str(tmp_path / "sheet.png")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "sheet.png").is_file()
    assert (out / "Data_Entry_2017_v2020.csv").stat().st_mtime_ns == before  # same spec: skipped
    res = runner.invoke(app, ["synth", str(out), "--n", "25", "--size", "48"])
    assert res.exit_code == 2 and "different spec" in res.output
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    res = runner.invoke(app, ["synth", str(foreign), "--n", "5"])
    assert res.exit_code == 2 and "refusing to overwrite" in res.output
    assert (foreign / "notes.txt").read_text() == "mine"
    res = runner.invoke(app, ["synth", str(tmp_path / "bad"), "--n", "0"])
    assert res.exit_code == 2 and "error:" in res.output and not (tmp_path / "bad").exists()
