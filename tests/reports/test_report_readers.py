"""Readers (CSV, OpenI .tgz / folder, .txt folder) and their handling of bad input."""

from __future__ import annotations

import io
import logging
import tarfile
from pathlib import Path

import pytest

from agcl.errors import InputError
from agcl.reports.readers import detect_format, read_csv_reports, read_openi, read_reports, read_txt_folder

XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation><uId id="{uid}"/><MedlineCitation><Article><Abstract>
<AbstractText Label="COMPARISON">None.</AbstractText>
<AbstractText Label="INDICATION">XXXX-year-old with effusion history</AbstractText>
<AbstractText Label="FINDINGS">{findings}</AbstractText>
<AbstractText Label="IMPRESSION">{impression}</AbstractText>
</Abstract></Article></MedlineCitation>
{images}</eCitation>"""


def _xml(uid: str, findings: str, impression: str, images: list[str]) -> bytes:
    imgs = "".join(f'<parentImage id="{i}"><figureId>F1</figureId></parentImage>' for i in images)
    return XML.format(uid=uid, findings=findings, impression=impression, images=imgs).encode("utf-8")


def _tgz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"ecgen-radiology/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_openi_tgz_reads_findings_impression_and_images(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tgz = _tgz(tmp_path / "r.tgz", {
        "2.xml": _xml("CXR2", "No XXXX effusion.", "Small pneumothorax", ["CXR2_1_IM-1", "CXR2_1_IM-2"]),
        "10.xml": _xml("CXR10", "", "", ["CXR10_1_IM-1"]),
        "1.xml": _xml("CXR1", "Heart size normal.", "Normal chest.", ["CXR1_1_IM-1"]),
    })
    with caplog.at_level(logging.WARNING):
        rs = read_openi(tgz)
    assert [r[0] for r in rs.reports] == ["CXR1", "CXR2"]  # numeric file order, empty CXR10 skipped
    assert rs.reports[1][1] == "No XXXX effusion.\n\nSmall pneumothorax"  # INDICATION is not read
    assert rs.skipped_empty == ["CXR10"] and "skipped 1 empty" in caplog.text
    assert rs.mapping.to_dict("list") == {"report_id": ["CXR1", "CXR2", "CXR2", "CXR10"],
                                          "image_id": ["CXR1_1_IM-1", "CXR2_1_IM-1", "CXR2_1_IM-2", "CXR10_1_IM-1"]}
    assert detect_format(tgz) == "openi"


def test_openi_folder_duplicates_and_malformed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "1.xml").write_bytes(_xml("CXR1", "Mild cardiomegaly.", "", []))
    (tmp_path / "2.xml").write_bytes(b"<eCitation><uId id='CXR2'/>")  # truncated
    with caplog.at_level(logging.WARNING):
        rs = read_reports(tmp_path)
    assert [r[0] for r in rs.reports] == ["CXR1"] and "malformed XML" in caplog.text
    (tmp_path / "3.xml").write_bytes(_xml("CXR1", "Effusion.", "", []))
    with pytest.raises(InputError, match=r"3\.xml: duplicate report id 'CXR1'"):
        read_openi(tmp_path)


def test_csv_columns_by_flag_and_errors(tmp_path: Path) -> None:
    csv = tmp_path / "r.csv"
    csv.write_text("rid,body,other\n7,Small effusion.,x\n8,,y\n", encoding="utf-8")
    rs = read_reports(csv, id_col="rid", text_col="body")
    assert rs.reports == [("7", "Small effusion.")] and rs.skipped_empty == ["8"]
    with pytest.raises(InputError, match=r"r\.csv: missing column 'report'.*rid, body, other"):
        read_csv_reports(csv, id_col="rid")
    csv.write_text("id,report\na,x\nb,y\na,z\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"r\.csv: row 4: duplicate report id 'a' \(first seen at .*row 2\)"):
        read_csv_reports(csv)


def test_non_utf8_is_replaced_and_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "s1.txt").write_bytes(b"Small left effusion.\n")
    (folder / "s2.txt").write_bytes(b"Mild cardiomegaly \xff\xfe.")
    (folder / "s3.txt").write_bytes(b"   \n")
    with caplog.at_level(logging.WARNING):
        rs = read_txt_folder(folder)
    assert [r[0] for r in rs.reports] == ["s1", "s2"] and "\ufffd" in rs.reports[1][1]
    assert "s2.txt: not valid UTF-8" in caplog.text and "skipped 1 empty report(s): s3" in caplog.text
    assert detect_format(folder) == "txt"
    csv = tmp_path / "latin.csv"
    csv.write_bytes("id,report\n1,Small effusion \xe9.\n".encode("latin-1"))
    with caplog.at_level(logging.WARNING):
        rs = read_csv_reports(csv)
    assert rs.reports[0][1].startswith("Small effusion") and "latin.csv: not valid UTF-8" in caplog.text


def test_bad_paths_and_formats(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="input not found"):
        read_reports(tmp_path / "missing.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InputError, match="pass --format"):
        read_reports(tmp_path / "x.json")
    with pytest.raises(InputError, match="unknown report format"):
        read_reports(tmp_path / "x.json", "pdf")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="neither .xml nor .txt"):
        read_reports(empty)
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(b"not a tar")
    with pytest.raises(InputError, match="cannot read OpenI archive"):
        read_openi(bad)
