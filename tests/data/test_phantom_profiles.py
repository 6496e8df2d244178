"""Phantom profiles: named presets of PhantomSpec fields, recorded in truth/spec.json; the ``shortcuts``
profile reproduces the first phantom; the knobs the ``calibrated`` profile turns do what they say."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from agcl.cli import app
from agcl.commands import synth as synth_command
from agcl.data.phantom import DEFAULT_PROFILE, PROFILES, PhantomSpec, phantom_spec, synthesize
from agcl.data.phantom.cohort import plan_cohort
from agcl.data.phantom.render import render_image
from agcl.data.phantom.spec import CHRONIC

#: truth/spec.json of ``agcl synth`` before profiles existed (its fields all keep these values).
FIRST_PHANTOM_SPEC = {
    "render_size": 128, "test_fraction": 0.23, "healthy_patient_fraction": 0.04, "sickness_weight": 0.6,
    "mean_followups": 2.5, "max_followups": 8, "lesion_contrast": 1.0, "exposure_shortcut": 1.0,
    "severity_size": [0.55, 0.85, 1.2], "severity_contrast": [0.38, 0.7, 1.2], "label_miss_rate": 0.03,
    "label_extra_rate": 0.02, "severity_word_rate": 0.25, "uncertain_rate": 0.06, "bbox_test_only": True,
    "version": 1,
}
#: sha256 of the plan-level files that the phantom before profiles wrote for n=40, size=32, seed=3
#: (labels, views, devices, exposure, label noise, reports). A change here changes every phantom drawn
#: with the shortcuts profile: bump PHANTOM_VERSION and say so in docs/phantom.md.
FIRST_PHANTOM_FILES = {
    "Data_Entry_2017_v2020.csv": "50fbab0027a4549d2359b35225662da1335f5205e2892087396d7bcbcfad0e00",
    "truth/images.csv": "6defe4453284b9de597efec64943a04af2e5add46e6fdc968fb72e2fd81ff94a",
    "truth/shortcuts.csv": "c84a72a70e23e0168d4b923957ef23fb2573794ed68614b4d55ef1f5d453754d",
    "reports.csv": "b83d518a6a9907f30323ea795725fdf9e0e2f39d1348b40f47c2b7cb75ff8105",
}


def test_profiles_resolve_to_specs() -> None:
    assert DEFAULT_PROFILE == "calibrated" and set(PROFILES) == {"calibrated", "shortcuts"}
    assert phantom_spec("shortcuts") == PhantomSpec()  # the field defaults are the shortcuts profile
    cal = phantom_spec("calibrated", n=50, size=64)
    assert (cal.profile, cal.n, cal.size) == ("calibrated", 50, 64)
    for field, value in PROFILES["calibrated"].items():
        assert getattr(cal, field) == value
    assert cal.device_rate < 1.0 and cal.exposure_shortcut < 1.0 and cal.class_contrast
    assert phantom_spec("calibrated", lesion_contrast=0.5).lesion_contrast == 0.5  # fields override the preset
    assert phantom_spec() == phantom_spec(DEFAULT_PROFILE)


def test_unknown_profile_and_bad_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="did you mean 'calibrated'"):
        phantom_spec("calibratd")
    with pytest.raises(ValueError, match="unknown label 'Nodules'"):
        PhantomSpec(class_contrast=(("Nodules", 1.2),))
    with pytest.raises(ValueError, match="class_size\\[Mass\\]"):
        PhantomSpec(class_size=(("Mass", 0.0),))
    with pytest.raises(ValueError, match="device_rate"):
        PhantomSpec(device_rate=float("nan"))


def test_shortcuts_profile_keeps_the_first_spec() -> None:
    d = json.loads(json.dumps(phantom_spec("shortcuts").to_dict(seed=0)))  # as written to spec.json
    assert {k: d[k] for k in FIRST_PHANTOM_SPEC} == FIRST_PHANTOM_SPEC
    assert (d["device_rate"], d["marker_rate"], d["view_shortcut"], d["cardiomegaly_height"]) == (1.0, 1.0, 1.0, 0.0)
    assert d["class_contrast"] == {} and d["class_size"] == {} and d["profile"] == "shortcuts"


def test_shortcuts_profile_reproduces_the_first_phantom(tmp_path: Path) -> None:
    out = synthesize(tmp_path / "s", n=40, size=32, seed=3, profile="shortcuts", workers=1)
    got = {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in FIRST_PHANTOM_FILES}
    assert got == FIRST_PHANTOM_FILES


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_calibrated_profile_is_deterministic_and_recorded(tmp_path: Path) -> None:
    a = synthesize(tmp_path / "a", n=30, size=48, seed=4, workers=1)
    b = synthesize(tmp_path / "b", n=30, size=48, seed=4, workers=2)
    assert _files(a) == _files(b)
    spec = json.loads((a / "truth" / "spec.json").read_text())
    assert spec["profile"] == "calibrated" and spec["class_contrast"] == dict(PROFILES["calibrated"]["class_contrast"])
    s = synthesize(tmp_path / "s", n=30, size=48, seed=4, profile="shortcuts", workers=1)
    assert json.loads((s / "truth" / "spec.json").read_text())["profile"] == "shortcuts"
    assert _files(s)["Data_Entry_2017_v2020.csv"] != _files(a)["Data_Entry_2017_v2020.csv"]  # views, label noise


def _has(plans, label: str) -> np.ndarray:
    return np.array([any(les.label == label for les in p.lesions) for p in plans])


def _shortcut(plans, name: str) -> np.ndarray:
    return np.array([name in p.shortcuts for p in plans])


@pytest.fixture(scope="module")
def both():
    """Plans of the two profiles at 3,000 images (planning only; no pixels)."""
    return {name: plan_cohort(phantom_spec(name, n=3000), seed=0) for name in PROFILES}


def test_calibrated_shortcuts_exist_but_are_weaker(both) -> None:
    """Devices, markers and AP views still go with disease in the calibrated profile (as in NIH), less
    strongly than in the shortcuts profile; exposure barely follows the findings."""
    for profile, plans in both.items():
        ptx, cm = _has(plans, "Pneumothorax"), _has(plans, "Cardiomegaly")
        drain, pm = _shortcut(plans, "chest_drain"), _shortcut(plans, "pacemaker")
        assert drain[ptx].mean() > 2 * drain[~ptx].mean() and pm[cm].mean() > 2 * pm[~cm].mean(), profile
    cal, first = both["calibrated"], both["shortcuts"]
    for name, label in (("chest_drain", "Pneumothorax"), ("pacemaker", "Cardiomegaly")):
        assert _shortcut(cal, name)[_has(cal, label)].mean() < 0.5 * _shortcut(first, name)[_has(first, label)].mean()
    ap = {k: np.array([p.view == "AP" for p in v]) for k, v in both.items()}
    sick = {k: np.array([any(les.label not in CHRONIC for les in p.lesions) for p in v]) for k, v in both.items()}
    lift = {k: ap[k][sick[k]].mean() / ap[k][~sick[k]].mean() for k in both}
    assert 1.2 < lift["calibrated"] < lift["shortcuts"]
    corr = {k: np.corrcoef([len(p.lesions) for p in v], [p.exposure for p in v])[0, 1] for k, v in both.items()}
    assert corr["shortcuts"] < -0.2 < corr["calibrated"] < 0.0
    marker = {k: _shortcut(v, "text_marker")[ap[k]].mean() for k, v in both.items()}
    assert 0.1 < marker["calibrated"] < 0.5 * marker["shortcuts"]


def test_view_shortcut_zero_makes_the_view_independent() -> None:
    plans = plan_cohort(PhantomSpec(n=2000, view_shortcut=0.0), seed=1)
    ap = np.array([p.view == "AP" for p in plans])
    n = np.array([len(p.lesions) for p in plans])
    assert abs(np.corrcoef(n, ap)[0, 1]) < 0.06


def _one(label: str):
    """A plan holding one severe ``label`` lesion and no devices."""
    base = next(p for p in plan_cohort(PhantomSpec(n=300), seed=0) if any(les.label == label for les in p.lesions))
    base.lesions = [next(les for les in base.lesions if les.label == label)]
    base.lesions[0].severity = "severe"
    base.shortcuts = {}
    return base


@pytest.mark.parametrize("label", ["Mass", "Effusion"])
def test_class_factors_scale_one_class(label: str) -> None:
    plan = _one(label)
    spec = PhantomSpec(size=64)
    img, boxes = render_image(plan, spec, 0, with_devices=False)
    bare, _ = render_image(plan, spec, 0, with_lesions=False, with_devices=False)
    big = PhantomSpec(size=64, class_size=((label, 1.5),))
    _, big_boxes = render_image(plan, big, 0, with_devices=False)
    faint = PhantomSpec(size=64, class_contrast=((label, 0.5),), class_size=(("Nodule", 2.0),))
    img_faint, faint_boxes = render_image(plan, faint, 0, with_devices=False)

    def area(b):
        return (b[2] - b[0]) * (b[3] - b[1])

    assert area(big_boxes[label]) > area(boxes[label])
    assert faint_boxes == boxes  # another class's factor and contrast change nothing of the box
    delta = np.abs(img.astype(float) - bare).sum()
    assert 0 < np.abs(img_faint.astype(float) - bare).sum() < 0.8 * delta


def test_cardiomegaly_height_makes_the_heart_taller() -> None:
    plan = _one("Cardiomegaly")
    _, flat = render_image(plan, PhantomSpec(size=64), 0, with_devices=False)
    _, tall = render_image(plan, PhantomSpec(size=64, cardiomegaly_height=1.0), 0, with_devices=False)
    (fx0, fy0, fx1, fy1), (tx0, ty0, tx1, ty1) = flat["Cardiomegaly"], tall["Cardiomegaly"]
    assert ty1 - ty0 > fy1 - fy0 and abs(ty1 - fy1) <= 1.0  # taller, still resting on the diaphragm
    assert abs((tx1 - tx0) - (fx1 - fx0)) <= 1.0


def test_synth_cli_profile(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["synth", str(tmp_path / "p"), "--n", "12", "--size", "40", "--workers", "1",
                              "--profile", "shortcuts", "--lesion-contrast", "0.9"])
    assert res.exit_code == 0, res.output
    spec = json.loads((tmp_path / "p" / "truth" / "spec.json").read_text())
    assert spec["profile"] == "shortcuts" and spec["lesion_contrast"] == 0.9 and spec["exposure_shortcut"] == 1.0
    res = runner.invoke(app, ["synth", str(tmp_path / "q"), "--n", "12", "--size", "40", "--workers", "1"])
    assert res.exit_code == 0, res.output
    spec = json.loads((tmp_path / "q" / "truth" / "spec.json").read_text())
    assert spec["profile"] == DEFAULT_PROFILE and spec["lesion_contrast"] == PROFILES[DEFAULT_PROFILE]["lesion_contrast"]
    res = runner.invoke(app, ["synth", str(tmp_path / "r"), "--n", "12", "--profile", "shortcut"])
    assert res.exit_code == 2 and "did you mean 'shortcuts'" in res.output and not (tmp_path / "r").exists()


def test_cli_names_every_profile_without_importing_the_renderer() -> None:
    import inspect

    default = inspect.signature(synth_command.synth).parameters["profile"].default
    assert default == DEFAULT_PROFILE
    for name in PROFILES:
        assert f"{name} =" in synth_command.PROFILE_OPTION_HELP


def test_demo_refuses_a_phantom_of_another_profile(tmp_path: Path) -> None:
    from agcl.errors import InputError
    from agcl.pipeline.demo import ensure_phantom

    synthesize(tmp_path / "data" / "phantom", n=6, size=32, seed=0, profile="shortcuts", workers=1)
    with pytest.raises(InputError, match="delete all of .*data"):
        ensure_phantom(tmp_path / "data", 6, 32, 0)
    assert json.loads((tmp_path / "data" / "phantom" / "truth" / "spec.json").read_text())["profile"] == "shortcuts"
    ensure_phantom(tmp_path / "fresh", 6, 32, 0)
    assert json.loads((tmp_path / "fresh" / "phantom" / "truth" / "spec.json").read_text())["profile"] == "calibrated"
