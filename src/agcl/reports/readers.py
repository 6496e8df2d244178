"""Report readers: a CSV table, the Indiana University / OpenI XML collection, a folder of .txt files.

Each reader returns a :class:`ReportSet`: ``(report id, text)`` pairs plus, for OpenI, the
report-to-image mapping read from ``<parentImage id=...>``. Bad input never stops a corpus halfway:
empty reports are skipped with a warning and a count, undecodable bytes are replaced (U+FFFD) with a
warning naming the report; missing columns and duplicate ids are :class:`InputError` naming the file
and row.
"""

from __future__ import annotations

import io
import logging
import tarfile
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from agcl.errors import InputError
from agcl.paths import read_bytes, regular_file

log = logging.getLogger(__name__)

FORMATS = ("auto", "csv", "openi", "txt")
#: OpenI sections read as the report (COMPARISON and INDICATION are history, not findings).
OPENI_SECTIONS = ("FINDINGS", "IMPRESSION")


@dataclass
class ReportSet:
    """Reports read from one input. ``mapping`` has ``report_id, image_id`` columns, or is ``None``."""

    reports: list[tuple[str, str]]
    source: str
    mapping: pd.DataFrame | None = None
    skipped_empty: list[str] = field(default_factory=list)
    replaced_bytes: list[str] = field(default_factory=list)


def _decode(data: bytes, where: str, rs: ReportSet) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        log.warning("%s: not valid UTF-8 (byte %d); undecodable bytes replaced by U+FFFD", where, exc.start)
        rs.replaced_bytes.append(where)
        return data.decode("utf-8", errors="replace")


def _add(rs: ReportSet, rid: str, text: str, seen: dict[str, str], where: str) -> None:
    if rid in seen:
        raise InputError(f"{where}: duplicate report id {rid!r} (first seen at {seen[rid]})")
    seen[rid] = where
    if not text.strip():
        rs.skipped_empty.append(rid)
        return
    rs.reports.append((rid, text))


def _finish(rs: ReportSet) -> ReportSet:
    if rs.skipped_empty:
        shown = ", ".join(rs.skipped_empty[:5]) + (" ..." if len(rs.skipped_empty) > 5 else "")
        if not rs.reports:  # a severity table mined from nothing would read as "no findings anywhere"
            raise InputError(f"{rs.source}: every report is empty ({len(rs.skipped_empty)}: {shown}); "
                             "nothing to mine")
        log.warning("%s: skipped %d empty report(s): %s", rs.source, len(rs.skipped_empty), shown)
    elif not rs.reports:
        raise InputError(f"{rs.source}: no reports (only a header?); nothing to mine")
    return rs


def read_csv_reports(path: str | Path, id_col: str = "id", text_col: str = "report") -> ReportSet:
    """Read a CSV with one report per row; ``id_col`` and ``text_col`` name the columns."""
    path = Path(path)
    rs = ReportSet([], str(path))
    text = _decode(read_bytes(path, "report file"), str(path), rs)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    for col in (id_col, text_col):
        if col not in df.columns:
            raise InputError(f"{path}: missing column {col!r} (columns: {', '.join(df.columns)}); "
                             "choose others with --id-col/--text-col")
    seen: dict[str, str] = {}
    for row, (rid, body) in enumerate(zip(df[id_col], df[text_col], strict=True), start=2):
        rid = rid.strip()
        if not rid:
            raise InputError(f"{path}: row {row}: empty report id")
        if "\ufffd" in body and rs.replaced_bytes:
            log.warning("%s: row %d (id %s) contains replaced bytes", path, row, rid)
        _add(rs, rid, body, seen, f"{path}: row {row}")
    return _finish(rs)


def _parse_openi(data: bytes, name: str) -> tuple[str, str, list[str]] | None:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        log.warning("%s: malformed XML (%s); report skipped", name, exc)
        return None
    uid = root.find("uId")
    rid = uid.get("id") if uid is not None and uid.get("id") else Path(name).stem
    sections = {a.get("Label", "").upper(): (a.text or "").strip() for a in root.iter("AbstractText")}
    parts = [sections[s] for s in OPENI_SECTIONS if sections.get(s)]
    text = "\n\n".join(parts)  # a blank line: sections are separate sentences
    images = [img.get("id") for img in root.iter("parentImage") if img.get("id")]
    return rid, text, images


def _openi_members(path: Path, stems: set[str] | None) -> Iterator[tuple[str, bytes]]:
    if path.is_dir():
        for f in _report_files(path, "*.xml"):
            if stems is None or f.stem in stems:
                yield str(f), read_bytes(f, "report file")
        return
    regular_file(path, "OpenI archive")
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if (member.isfile() and member.name.endswith(".xml")
                        and (stems is None or Path(member.name).stem in stems)):
                    fh = tar.extractfile(member)
                    if fh is not None:
                        yield f"{path}:{member.name}", fh.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:  # EOFError: a truncated .tgz
        reason = str(exc) or type(exc).__name__
        raise InputError(f"cannot read OpenI archive {path}: {reason} (truncated or corrupt archive?)") from None


def read_openi(path: str | Path, *, stems: set[str] | None = None) -> ReportSet:
    """Read the OpenI collection (``NLMCXR_reports.tgz`` or its unpacked folder): FINDINGS + IMPRESSION.

    The report id is ``<uId id=...>`` (e.g. ``CXR1``); ``XXXX`` de-identification masks are kept as
    tokens. ``mapping`` lists every ``<parentImage id=...>`` of each report. ``stems`` restricts
    reading to those XML file names (``{"1", "2"}`` for ``1.xml``, ``2.xml``).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"OpenI input not found: {path}")
    rs = ReportSet([], str(path))
    seen: dict[str, str] = {}
    pairs: list[tuple[str, str]] = []
    order: list[tuple[int, str, str, list[str]]] = []
    for name, data in _openi_members(path, stems):
        text = _decode(data, name, rs)
        parsed = _parse_openi(text.encode("utf-8"), name)
        if parsed is None:
            continue
        rid, body, images = parsed
        stem = Path(name).stem
        order.append((int(stem) if stem.isdigit() else 1 << 30, name, rid, [body, *images]))
    if not order:
        raise InputError(f"{path}: no OpenI XML reports found")
    for _, name, rid, (body, *images) in sorted(order, key=lambda o: (o[0], o[1])):
        _add(rs, rid, body, seen, name)
        pairs.extend((rid, img) for img in images)
    rs.mapping = pd.DataFrame(pairs, columns=["report_id", "image_id"])
    return _finish(rs)


def read_txt_folder(path: str | Path) -> ReportSet:
    """Read every ``*.txt`` under a folder (MIMIC-CXR style); the id is the file stem."""
    path = Path(path)
    files = _report_files(path, "*.txt")
    if not files:
        raise InputError(f"{path}: no .txt reports found")
    rs = ReportSet([], str(path))
    seen: dict[str, str] = {}
    for f in files:
        text = _decode(read_bytes(f, "report file"), str(f), rs)
        _add(rs, f.stem, text, seen, str(f))
    return _finish(rs)


def _report_files(folder: Path, pattern: str) -> list[Path]:
    """Files matching ``pattern`` under ``folder``, sorted. Anything that is not a regular file (a FIFO,
    which would block the read forever, a device, a broken link) is refused with its name."""
    files = sorted(f for f in folder.rglob(pattern) if not f.is_dir())
    for f in files:
        regular_file(f, "report file")
    return files


def detect_format(path: str | Path) -> str:
    """``csv`` for *.csv, ``openi`` for a .tgz/.tar.gz or a folder of .xml, ``txt`` for a folder of .txt."""
    path = Path(path)
    name = path.name.lower()
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if not path.is_dir():
        regular_file(path, "report input")
        if name.endswith((".csv", ".tsv")):
            return "csv"
        if name.endswith((".tgz", ".tar.gz", ".tar")):
            return "openi"
        raise InputError(f"{path}: cannot tell the report format; pass --format csv|openi|txt")
    if next(path.rglob("*.xml"), None) is not None:
        return "openi"
    if next(path.rglob("*.txt"), None) is not None:
        return "txt"
    raise InputError(f"{path}: folder holds neither .xml nor .txt reports")


def read_reports(path: str | Path, fmt: str = "auto", *, id_col: str = "id", text_col: str = "report") -> ReportSet:
    """Read reports in any supported format (``fmt`` one of :data:`FORMATS`)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")
    kind = detect_format(path) if fmt == "auto" else fmt
    if kind == "csv":
        return read_csv_reports(path, id_col=id_col, text_col=text_col)
    if kind == "openi":
        return read_openi(path)
    return read_txt_folder(path)
