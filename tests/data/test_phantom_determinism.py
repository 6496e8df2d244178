"""The phantom is a pure function of (seed, spec): byte-identical files, whatever the worker count."""

from __future__ import annotations

from pathlib import Path

import pytest

from agcl.data.phantom import PhantomSpec, synthesize, writer


def _digest(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_any_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "POOL_MIN_PIXELS", 0)  # force the process pool even for a tiny phantom
    spec = PhantomSpec(n=60, size=48)
    a = _digest(synthesize(tmp_path / "a", seed=5, spec=spec, workers=1))
    b = _digest(synthesize(tmp_path / "b", seed=5, spec=spec, workers=2))  # 3 chunks → process pool
    assert a.keys() == b.keys() and len(a) > 60
    assert all(a[k] == b[k] for k in a)
    c = _digest(synthesize(tmp_path / "c", seed=6, spec=spec, workers=1))
    assert c["Data_Entry_2017_v2020.csv"] != a["Data_Entry_2017_v2020.csv"]
    shared = [k for k in a if k.startswith("images/") and k in c]
    assert shared and all(a[k] != c[k] for k in shared)


def test_no_partial_output_left_behind(tmp_path: Path) -> None:
    out = synthesize(tmp_path / "p", n=8, size=40, seed=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]
    assert not (out / ".agcl-phantom-partial").exists()


def test_killed_run_resumes_to_identical_bytes(tmp_path: Path) -> None:
    spec = PhantomSpec(n=60, size=40)

    def die(done: int, total: int) -> None:
        raise KeyboardInterrupt  # killed after the first chunk

    with pytest.raises(KeyboardInterrupt):
        synthesize(tmp_path / "r", seed=2, spec=spec, workers=1, progress=die)
    partial = tmp_path / ".r.partial"
    assert not (tmp_path / "r").exists() and len(list((partial / ".chunks").iterdir())) == 1
    seen: list[int] = []
    resumed = synthesize(tmp_path / "r", seed=2, spec=spec, workers=1, progress=lambda d, t: seen.append(d))
    assert seen[0] == 25 and not partial.exists()  # the first chunk was not redone
    fresh = synthesize(tmp_path / "f", seed=2, spec=spec, workers=1)
    assert _digest(resumed) == _digest(fresh)


def test_partial_of_another_spec_is_discarded(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        synthesize(tmp_path / "q", n=60, size=40, seed=0, workers=1,
                   progress=lambda d, t: (_ for _ in ()).throw(KeyboardInterrupt()))
    out = synthesize(tmp_path / "q", n=30, size=40, seed=0, workers=1)
    assert len(list((out / "images").iterdir())) == 30
