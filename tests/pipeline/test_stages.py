"""The stage DAG and DONE-marker resume logic."""

from __future__ import annotations

import pytest

from agcl.errors import ConfigError
from agcl.pipeline.stages import Stage, execute, is_done, stage_dir, topological


def _dag(calls, fail_on=None):
    def make(name):
        def run(sdir):
            if name == fail_on:
                raise RuntimeError("boom")
            calls.append(name)
            (sdir / "out.txt").write_text(name)
            return {"n": len(calls)}
        return run
    return [
        Stage("bsl", (), make("bsl")),
        Stage("curriculum_r1", ("bsl",), make("curriculum_r1")),
        Stage("seeds_agl", ("bsl",), make("seeds_agl")),
        Stage("seeds_r1", ("curriculum_r1",), make("seeds_r1")),
        Stage("agl", ("seeds_agl",), make("agl")),
        Stage("eval", ("bsl", "agl", "seeds_r1"), make("eval")),
    ]


def test_topological_order_is_stable_and_valid():
    names = [s.name for s in topological(_dag([]))]
    assert names == ["bsl", "curriculum_r1", "seeds_agl", "seeds_r1", "agl", "eval"]


@pytest.mark.parametrize(
    "stages",
    [
        [Stage("a", ("b",))],
        [Stage("a"), Stage("a")],
        [Stage("a", ("b",)), Stage("b", ("a",))],
    ],
)
def test_topological_rejects_bad_dags(stages):
    with pytest.raises(ValueError):
        topological(stages)


def test_execute_skips_done_and_resumes_after_failure(tmp_path):
    calls: list[str] = []
    with pytest.raises(RuntimeError):
        execute(tmp_path, _dag(calls, fail_on="seeds_r1"))
    assert calls == ["bsl", "curriculum_r1", "seeds_agl"]
    assert not is_done(stage_dir(tmp_path, "seeds_r1"))
    assert [s.name for s in topological(_dag([])) if not is_done(stage_dir(tmp_path, s.name))] == \
        ["seeds_r1", "agl", "eval"]
    calls2: list[str] = []
    out = execute(tmp_path, _dag(calls2))
    assert calls2 == ["seeds_r1", "agl", "eval"]  # finished stages skipped
    assert out["bsl"] == {"n": 1}  # summaries of skipped stages read back from DONE
    assert (tmp_path / "eval" / "DONE").is_file()
    calls3: list[str] = []
    execute(tmp_path, _dag(calls3))
    assert calls3 == []


def test_execute_only_runs_dependencies(tmp_path):
    calls: list[str] = []
    execute(tmp_path, _dag(calls), only=["agl"])
    assert calls == ["bsl", "seeds_agl", "agl"]
    with pytest.raises(ConfigError, match="nope"):
        execute(tmp_path, _dag(calls), only=["nope"])
