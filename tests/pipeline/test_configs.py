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
