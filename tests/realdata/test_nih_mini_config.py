"""configs/nih-mini.yaml: packaged, identical to the repo copy, CPU-sized, and takes a local ResNet-18 file."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision

from agcl.models import build_model
from agcl.pipeline.demo import packaged_config
from agcl.pipeline.driver import load_pipeline_config

REPO = Path(__file__).resolve().parents[2]


def test_nih_mini_config_is_packaged_and_cpu_sized():
    path = packaged_config("nih-mini")
    assert (REPO / "configs" / "nih-mini.yaml").read_text() == path.read_text()
    cfg = load_pipeline_config(path)
    assert (cfg.model.backbone, cfg.model.pretrained) == ("tiny", "none")  # nothing downloaded
    assert cfg.data.image_size <= 256 and cfg.runtime.device == "cpu"
    assert cfg.source.severity == "" and cfg.refine.agl and cfg.refine.rounds >= 1
    assert cfg.refine.lam == 0.005 and cfg.eval.t == 0.25


def test_documented_resnet18_override_loads_a_local_checkpoint(tmp_path):
    ref = torchvision.models.resnet18(weights=None)  # stands in for resnet18-f37072fd.pth
    weights = tmp_path / "resnet18-local.pth"
    torch.save(ref.state_dict(), weights)
    cfg = load_pipeline_config(packaged_config("nih-mini"),
                               ["model.backbone=resnet18", f"model.pretrained={weights}"])
    net = build_model({"kind": "multilabel", "backbone": cfg.model.backbone, "num_classes": 14,
                       "image_size": cfg.data.image_size, "pretrained": cfg.model.pretrained})
    got = dict(net.named_parameters())
    conv1 = next(v for k, v in got.items() if k.endswith("stem.0.weight"))
    assert torch.equal(conv1, ref.conv1.weight)
    assert net.backbone.init == f"file:{weights}"
