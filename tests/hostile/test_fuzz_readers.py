"""Property: random bytes and random CSV mutations fed to the index and report readers give either a
result or an :class:`agcl.errors.InputError` (one line on the CLI) - never another exception, which
the CLI would show as a traceback."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agcl.errors import AgclError

ENTRY = "Data_Entry_2017_v2020.csv"
BBOX = "BBox_List_2017.csv"
LISTS = ("train_val_list.txt", "test_list.txt")
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TOKENS = ["", ",", '"', "\n", "\r\n", "\x00", "\xff", "nan", "-1", "1e309", "No Finding", "Mass|", "|",
          "Infiltrate", "00000001_000.png", "[", "]", "é", "\ufeff", " " * 3, "9" * 30]


@st.composite
def mutated(draw, text: str) -> bytes:
    """``text`` with a few random edits: tokens inserted, spans deleted, lines dropped or duplicated."""
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "drop_line", "dup_line", "cut"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        j = draw(st.integers(0, len(line)))
        if kind == "insert":
            lines[i] = line[:j] + draw(st.sampled_from(TOKENS) | st.text(max_size=6)) + line[j:]
        elif kind == "delete":
            lines[i] = line[:j] + line[j + draw(st.integers(1, 8)):]
        elif kind == "drop_line":
            del lines[i]
        elif kind == "dup_line":
            lines.insert(i, line)
        else:
            lines = lines[:i] + [line[:j]]
    return "".join(lines).encode("utf-8", errors="surrogatepass")


def _clean_or_input_error(fn) -> None:
    try:
        fn()
    except AgclError:
        pass


@pytest.fixture(scope="module")
def nih_tables(phantom: Path) -> dict[str, str]:
    return {name: (phantom / name).read_text() for name in (ENTRY, BBOX, *LISTS)}


def _read_nih(files: dict[str, bytes]) -> None:
    from agcl.data.nih import read_nih_tables

    with tempfile.TemporaryDirectory() as d:
        for name, data in files.items():
            (Path(d) / name).write_bytes(data)
        _clean_or_input_error(lambda: read_nih_tables(d))


@FUZZ
@given(data=st.data())
def test_index_reader_survives_mutated_metadata(nih_tables: dict[str, str], data) -> None:
    files = {name: text.encode() for name, text in nih_tables.items()}
    target = data.draw(st.sampled_from([ENTRY, BBOX, *LISTS]))
    files[target] = data.draw(mutated(nih_tables[target]))
    _read_nih(files)


@FUZZ
@given(blob=st.binary(max_size=400), target=st.sampled_from([ENTRY, BBOX, *LISTS]))
def test_index_reader_survives_random_bytes(nih_tables: dict[str, str], blob: bytes, target: str) -> None:
    files = {name: text.encode() for name, text in nih_tables.items()}
    files[target] = blob
    _read_nih(files)


@FUZZ
@given(data=st.data())
def test_csv_index_reader_survives_mutations(phantom: Path, data) -> None:
    from agcl.data.table import TableOptions, build_csv_index

    names = [f"images/{p.name}" for p in sorted((phantom / "images").glob("*.png"))[:12]]
    table = "path,labels,patient_id\n" + "".join(f"{n},Mass|Nodule,p{i % 5}\n" for i, n in enumerate(names))
    boxes = "image_id,label,x,y,w,h\n" + "".join(f"{n},Mass,4,4,20,20\n" for n in names[:4])
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "images.csv").write_bytes(data.draw(mutated(table)))
        (Path(d) / "boxes.csv").write_bytes(data.draw(mutated(boxes)))
        opts = TableOptions(boxes=Path(d) / "boxes.csv", allow_missing=True)
        _clean_or_input_error(lambda: build_csv_index(Path(d) / "images.csv", phantom, opts))


REPORTS = 'id,report\nr1,"Small left pleural effusion."\nr2,"No acute disease.\n\nIMPRESSION: normal"\nr3,Mild edema\n'


@FUZZ
@given(data=st.data())
def test_report_csv_reader_survives_mutations_and_bytes(data) -> None:
    from agcl.reports.readers import read_reports

    blob = data.draw(mutated(REPORTS) | st.binary(max_size=300))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "reports.csv"
        path.write_bytes(blob)
        _clean_or_input_error(lambda: read_reports(path))


@FUZZ
@given(blob=st.binary(max_size=300), cut=st.integers(0, 400), gz=st.booleans())
def test_report_archive_reader_survives_random_and_cut_archives(blob: bytes, cut: int, gz: bool) -> None:
    import io
    import tarfile

    from agcl.reports.readers import read_reports

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        for i, body in enumerate((b"<eCitation><uId id='CXR1'/><AbstractText Label='FINDINGS'>Effusion.</AbstractText>"
                                  b"</eCitation>", blob)):
            info = tarfile.TarInfo(f"ecgen/{i}.xml")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    archive = buf.getvalue()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "reports.tgz"
        path.write_bytes(archive[:cut] if cut < len(archive) else archive)
        _clean_or_input_error(lambda: read_reports(path))
