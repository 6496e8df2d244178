"""The shipped configs load, follow the paper where they claim to, and the repo copies are the packaged ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from agcl.errors import ConfigError
from agcl.pipeline.demo import packaged_config
from agcl.pipeline.driver import load_pipeline_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["demo", "nih-cxr14"])
def test_packaged_config_loads_and_matches_repo_copy(name):
    path = packaged_config(name)
    cfg = load_pipeline_config(path)
    assert cfg.refine.rounds >= 2 and cfg.refine.agl
    assert cfg.refine.control and cfg.eval.bootstrap >= 1000  # BSL+ and paired CIs beside every refinement
    assert set(cfg.eval.controls) == {"uniform", "centre"}
    assert (REPO / "configs" / f"{name}.yaml").read_text() == path.read_text()


def test_nih_config_is_the_paper_recipe():
    cfg = load_pipeline_config(packaged_config("nih-cxr14"))
    assert (cfg.model.backbone, cfg.model.pretrained, cfg.data.image_size) == ("resnet50", "imagenet", 512)
    assert (cfg.optim.lr, cfg.optim.lr_step_epochs, cfg.optim.lr_gamma) == (0.001, 10, 0.1)
    assert cfg.refine.lam == 0.005 and cfg.optim.momentum > 0


@pytest.mark.parametrize(
    ("override", "match"),
    [("refine.lamda=0.1", "did you mean 'lam'"), ("curriculum.schedule=fast", "epochs, convergence"),
     ("curriculum.labels=[Efusion]", "Effusion"), ("refine.rounds=-1", "rounds")],
)
def test_bad_overrides_are_one_line_config_errors(override, match):
    with pytest.raises(ConfigError, match=match):
        load_pipeline_config(packaged_config("demo"), [override])


def test_demo_starts_from_offline_imagenet_weights_and_can_start_random():
    from agcl.models import build_backbone

    cfg = load_pipeline_config(packaged_config("demo"))
    assert (cfg.model.backbone, cfg.model.pretrained, cfg.model.output_stride) == ("efficientnet_lite0", "imagenet", 16)
    assert cfg.data.image_size % cfg.model.output_stride == 0
    net = build_backbone(cfg.model.backbone, cfg.model.pretrained, cfg.model.output_stride)
    assert net.init.startswith("imagenet:efficientnet-lite0")  # from the installed wheel, no download
    random = load_pipeline_config(packaged_config("demo"), ["model.pretrained=none"])
    assert build_backbone(random.model.backbone, random.model.pretrained, random.model.output_stride).init == "random"


def test_resuming_a_run_started_before_the_regression_and_loss_scale_keys(tmp_path):
    """A config.yaml without model.regression / regression_kernel / refine.lam_cells was a separate 1×1 path with
    λ per map as is: it resumes under exactly those values and is refused under the new λ scale."""
    import yaml

    from agcl.config import dump_config
    from agcl.pipeline.driver import check_resume_config

    run = tmp_path / "run"
    run.mkdir()
    old = yaml.safe_load(dump_config(load_pipeline_config(packaged_config("demo"))))
    del old["model"]["regression"], old["model"]["regression_kernel"], old["refine"]["lam_cells"]
    (run / "config.yaml").write_text(yaml.safe_dump(old))
    check_resume_config(run, load_pipeline_config(packaged_config("demo"), ["refine.lam_cells=0", "model.regression=separate"]))
    with pytest.raises(ConfigError, match=r"refine.lam_cells: 0 -> 256"):
        check_resume_config(run, load_pipeline_config(packaged_config("demo"), ["model.regression=separate"]))
    with pytest.raises(ConfigError, match=r"model.regression: 'separate' -> 'tied'"):  # tied is today's default
        check_resume_config(run, load_pipeline_config(packaged_config("demo"), ["refine.lam_cells=0"]))
    (run / "config.yaml").write_text(dump_config(load_pipeline_config(packaged_config("demo"))))
    check_resume_config(run, load_pipeline_config(packaged_config("demo")))  # a new run resumes as it was


def test_a_run_started_before_seeds_reference_resumes_with_raw_seed_maps(tmp_path):
    """A config.yaml without seeds.reference harvested raw CAMs: it resumes as ``none`` and is refused under
    today's default (``no_finding``), which would change its seed maps."""
    import yaml

    from agcl.config import dump_config
    from agcl.pipeline.driver import check_resume_config

    run = tmp_path / "run"
    run.mkdir()
    demo = load_pipeline_config(packaged_config("demo"))
    assert demo.seeds.reference == "no_finding" and load_pipeline_config(None).seeds.reference == "no_finding"
    old = yaml.safe_load(dump_config(demo))
    del old["seeds"]["reference"], old["seeds"]["reference_images"]
    (run / "config.yaml").write_text(yaml.safe_dump(old))
    check_resume_config(run, load_pipeline_config(packaged_config("demo"), ["seeds.reference=none"]))
    with pytest.raises(ConfigError, match=r"seeds.reference: 'none' -> 'no_finding'"):
        check_resume_config(run, demo)
