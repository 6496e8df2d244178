"""Backbones, heads, build_model/spec round trip, input adapter, inference."""

from __future__ import annotations

import logging

import pytest
import torch

from agcl.errors import ConfigError, InputError
from agcl.models import BinaryNet, MultiLabelNet, TwoPathNet, build_backbone, build_model, forward_with_cams
from agcl.models.networks import IMAGENET_MEAN, IMAGENET_STD, InputAdapter


@pytest.mark.parametrize("kind,cls,k", [("multilabel", MultiLabelNet, 14), ("binary", BinaryNet, 1),
                                         ("two_path", TwoPathNet, 14)])
def test_shapes_and_infer(kind, cls, k):
    model = build_model({"kind": kind, "backbone": "tiny", "image_size": 64}, seed=0).eval()
    assert isinstance(model, cls)
    x = torch.rand(3, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    probs, cams = forward_with_cams(model, x)
    assert probs.shape == (3, k) and cams.shape == (3, k, 8, 8)
    with torch.no_grad():
        logits = model(x)
    assert torch.allclose(probs, model.probabilities(logits), atol=1e-6)
    assert ((probs >= 0) & (probs <= 1)).all()


def test_spec_round_trip_and_seed():
    a = build_model({"kind": "two_path", "backbone": "tiny", "image_size": 32}, seed=3)
    b = build_model(a.spec, pretrained="none", seed=4)
    assert a.spec == b.spec and (a.spec["regression"], a.spec["regression_kernel"]) == ("separate", 1)
    assert not torch.equal(a.fc.weight, b.fc.weight)
    b.load_state_dict(a.state_dict())
    x = torch.rand(2, 1, 32, 32)
    a.eval(), b.eval()
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    c = build_model(a.spec, seed=3)
    assert torch.equal(c.regressor.weight, a.regressor.weight)


def test_build_errors():
    with pytest.raises(ConfigError, match="did you mean 'resnet50'"):
        build_model({"kind": "multilabel", "backbone": "resnet5O"})
    with pytest.raises(ConfigError, match="kind"):
        build_model({"kind": "multi", "backbone": "tiny"})
    with pytest.raises(ConfigError, match="num_classes=2"):
        build_model({"kind": "binary", "backbone": "tiny", "num_classes": 14})


def test_imagenet_absent_is_random_with_log(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="agcl"):
        net = build_backbone("resnet18", "imagenet")
    assert net.init == "random" and "RANDOM init" in caplog.text


def test_weights_from_file_and_hub(tmp_path, monkeypatch):
    import torchvision

    ref = torchvision.models.resnet18(weights=None)
    with torch.no_grad():
        ref.layer4[1].conv2.weight.mul_(3.0)  # make it differ from any fresh init
    path = tmp_path / "w.pth"
    torch.save({"state_dict": ref.state_dict()}, path)
    net = build_backbone("resnet18", str(path))
    assert net.init.startswith("file:") and torch.equal(net.layer4[1].conv2.weight, ref.layer4[1].conv2.weight)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth").write_bytes(path.read_bytes())
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    net = build_backbone("resnet18", "imagenet")
    assert net.init.startswith("imagenet:") and torch.equal(net.stem[0].weight, ref.conv1.weight)
    torch.save({"fc.weight": torch.zeros(3)}, tmp_path / "bad.pth")
    with pytest.raises(InputError, match="do not fit"):
        build_backbone("resnet18", str(tmp_path / "bad.pth"))
    with pytest.raises(InputError, match="not found"):
        build_backbone("resnet18", str(tmp_path / "missing.pth"))


def test_input_adapter_grey_and_channels_last():
    x = torch.rand(2, 1, 8, 8)
    y = InputAdapter()(x)
    assert y.shape == (2, 3, 8, 8)
    for c in range(3):
        assert torch.allclose(y[:, c], (x[:, 0] - IMAGENET_MEAN[c]) / IMAGENET_STD[c])
    model = build_model({"kind": "multilabel", "backbone": "tiny"}, seed=0).eval()
    xs = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        ref = model(xs)
        model_cl = model.to(memory_format=torch.channels_last)
        out = model_cl(xs.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(ref, out, atol=1e-5)


def test_infer_autocast_close():
    model = build_model({"kind": "multilabel", "backbone": "tiny"}, seed=0).eval()
    x = torch.rand(2, 1, 32, 32)
    p32, c32 = forward_with_cams(model, x)
    p16, c16 = forward_with_cams(model, x, autocast=True)
    assert p16.dtype == torch.float32 and c16.dtype == torch.float32
    assert torch.allclose(p32, p16, atol=0.05)


@pytest.mark.parametrize("name", ["resnet18", "densenet121", "tiny"])  # resnet34/50/101 share ResNetFeatures
def test_backbone_contract(name):
    net = build_backbone(name).eval()
    with torch.no_grad():
        f = net.forward_features(torch.rand(1, 3, 64, 64))
    assert f.shape[:2] == (1, net.num_features) and net.init == "random"
    assert f.shape[2] == (8 if name == "tiny" else 2)


def test_prior_bias_is_the_smoothed_log_odds_of_the_training_prevalence():
    net = build_model({"kind": "multilabel", "backbone": "tiny", "num_classes": 3, "image_size": 32})
    labels = torch.tensor([[1, 0, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]], dtype=torch.float32)
    net.set_prior_bias(labels.numpy())
    p = (labels.sum(0).double() + 1) / (len(labels) + 2)  # 4/6, 1/6, 2/6: a class without positives stays finite
    assert torch.allclose(torch.sigmoid(net.fc.bias.double()), p, atol=1e-6)
    assert torch.isfinite(net.fc.bias).all()


def test_head_bias_prior_reaches_the_baseline_fit(tmp_path):
    """``model.head_bias: prior`` sets the head before the first step; ``default`` keeps the random init."""
    from types import SimpleNamespace

    from agcl.config import TrainConfig
    from agcl.config.schema import ModelConfig
    from agcl.train import baseline

    labels = torch.tensor([[1.0, 0.0] + [0.0] * 12] * 3 + [[0.0] * 14]).numpy()
    seen = {}

    class Rows:
        def __init__(self, y):
            self.labels = y

        def __len__(self):
            return len(self.labels)

    def fake_fit(model, loss, train, val, opts, env):
        seen["bias"] = model.fc.bias.detach().clone()
        return SimpleNamespace()

    for mode in ("prior", "default"):
        cfg = TrainConfig(model=ModelConfig(backbone="tiny", pretrained="none", head_bias=mode))
        orig = baseline.fit_or_load
        baseline.fit_or_load = fake_fit
        try:
            baseline.fit_baseline(cfg, Rows(labels), None, stage_dir=tmp_path,
                                  run_dir=tmp_path, env=SimpleNamespace(device="cpu", amp_name="none",
                                                                        dist=SimpleNamespace(world_size=1)),
                                  image_size=32)
        finally:
            baseline.fit_or_load = orig
        p0 = torch.sigmoid(seen["bias"][0]).item()
        if mode == "prior":
            assert abs(p0 - 4 / 6) < 1e-5
        else:
            assert abs(p0 - 4 / 6) > 0.1


def test_head_bias_setting_is_checked():
    from agcl.config import TrainConfig, load_config

    with pytest.raises(ConfigError, match="head_bias"):
        load_config(None, ["model.head_bias=prio"], schema=TrainConfig)
