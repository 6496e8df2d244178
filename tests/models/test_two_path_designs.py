"""The two regression-path designs of the two-path network (``separate`` conv, ``tied`` affine CAM): shapes,
where Eq. 2's gradient goes, the tied Ĥ = a·CAM + b identity, spec/checkpoint compatibility and the
moment-matched start of a and b."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agcl.cam import class_activation_maps
from agcl.errors import ConfigError
from agcl.models import TwoPathNet, build_model, forward_with_cams, forward_with_regression
from agcl.models.two_path import moment_matched_affine
from agcl.train.losses import heatmap_regression, two_path_loss

SPECS = {"separate": {"regression": "separate"}, "separate3": {"regression": "separate", "regression_kernel": 3},
         "tied": {"regression": "tied"}}


def _net(design: str, size: int = 32, seed: int = 0) -> TwoPathNet:
    return build_model({"kind": "two_path", "backbone": "tiny", "image_size": size, **SPECS[design]}, seed=seed)


def _batch(n: int = 3, size: int = 32, h: int = 4, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size, size, generator=g)
    labels = (torch.rand(n, 14, generator=g) < 0.3).float()
    maps = torch.rand(n, 14, h, h, generator=g)
    seeds = torch.zeros(n, 14)
    seeds[:, [2, 5]] = 1.0
    return x, labels, maps, seeds


@pytest.mark.parametrize("design", list(SPECS))
def test_output_shapes(design):
    model = _net(design, size=64).eval()
    out = model.forward_train(torch.rand(2, 1, 64, 64))
    assert out["logits"].shape == (2, 14) and out["heatmaps"].shape == (2, 14, 8, 8)
    assert out["features"].shape[:2] == (2, model.num_features)
    probs, maps = forward_with_regression(model, torch.rand(2, 1, 64, 64), frame="image")
    assert probs.shape == (2, 14) and maps.shape == (2, 14, 8, 8) and maps.dtype == torch.float32


def _grads(model: TwoPathNet, regression_only: bool) -> dict[str, float]:
    model.train()
    x, labels, maps, seeds = _batch()
    out = model.forward_train(x)
    if regression_only:
        loss = heatmap_regression(out["heatmaps"], maps, seeds).sum()
    else:
        loss = two_path_loss(out["logits"], out["heatmaps"], labels, None, maps, seeds)["total"]
    model.zero_grad(set_to_none=True)
    loss.backward()
    sums = {"backbone": 0.0, "fc": 0.0, "regressor": 0.0}
    for name, p in model.named_parameters():
        part = name.split(".")[0]
        if part in sums and p.grad is not None:
            sums[part] += float(p.grad.abs().sum())
    return sums


def test_tied_regression_reaches_backbone_fc_and_affine():
    model = _net("tied")
    g = _grads(model, regression_only=True)
    assert g["backbone"] > 0 and g["fc"] > 0 and g["regressor"] > 0  # Eq. 2 acts on the CAM itself
    assert float(model.regressor.log_scale.grad.abs().sum()) > 0 and float(model.regressor.shift.grad.abs().sum()) > 0
    # only seed classes (1_c = 1) get an affine gradient
    assert float(model.regressor.shift.grad[[0, 1, 3]].abs().sum()) == 0.0


@pytest.mark.parametrize("design", ["separate", "separate3"])
def test_separate_regression_reaches_backbone_and_regressor_but_not_fc(design):
    g = _grads(_net(design), regression_only=True)
    assert g["backbone"] > 0 and g["regressor"] > 0 and g["fc"] == 0.0  # the free path: Eq. 2 never sees the FC
    full = _grads(_net(design), regression_only=False)
    assert all(v > 0 for v in full.values())


def test_tied_heatmap_is_affine_map_of_the_classification_cam():
    model = _net("tied").eval()
    with torch.no_grad():
        model.regressor.set_affine(np.linspace(0.2, 3.0, 14), np.linspace(-1.0, 1.0, 14))
        x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(5))
        out = model.forward_train(x)
        feats = model.forward_features(x)
        cam = class_activation_maps(feats, model.fc.weight)
        a, b = model.regressor.scale, model.regressor.shift
        expected = cam * a.view(1, -1, 1, 1) + b.view(1, -1, 1, 1)
        by_hand = torch.einsum("bchw,kc->bkhw", feats, model.fc.weight) * a[None, :, None, None] + b[None, :, None, None]
        # the same up to float rounding (one 1×1 convolution instead of einsum, scale, shift)
        tol = 1e-6 * float(expected.abs().max())
    torch.testing.assert_close(out["heatmaps"], expected, rtol=0, atol=tol)
    torch.testing.assert_close(out["heatmaps"], by_hand, rtol=0, atol=tol)
    np.testing.assert_allclose(a.numpy(), np.linspace(0.2, 3.0, 14), rtol=1e-6)
    # the CAM that evaluation reads is the same map: one Ĥ channel is an affine function of it
    _, cams = forward_with_cams(model, x)
    torch.testing.assert_close(out["heatmaps"], cams * a.view(1, -1, 1, 1) + b.view(1, -1, 1, 1))


def test_tied_starts_as_the_cam_and_refuses_a_non_positive_scale():
    model = _net("tied").eval()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        cam = model.cam(model.forward_features(x))
        torch.testing.assert_close(model.forward_train(x)["heatmaps"], cam, rtol=0, atol=1e-6 * float(cam.abs().max()))
    with pytest.raises(ValueError, match="> 0"):
        model.regressor.set_affine(np.r_[np.ones(13), 0.0], np.zeros(14))


def test_spec_normalisation_and_legacy_values():
    base = {"kind": "two_path", "backbone": "tiny", "image_size": 32}
    assert build_model(base).spec["regression"] == "separate" and build_model(base).spec["regression_kernel"] == 1
    old3 = build_model({**base, "regression": "conv3x3"})
    assert (old3.spec["regression"], old3.spec["regression_kernel"]) == ("separate", 3)
    assert old3.regressor.kernel_size == (3, 3)
    assert build_model({**base, "regression": "conv1x1"}).spec["regression_kernel"] == 1
    tied = build_model({**base, "regression": "tied"})
    assert tied.spec["regression"] == "tied" and "regression_kernel" not in tied.spec
    assert build_model(tied.spec).spec == tied.spec
    with pytest.raises(ConfigError, match="separate path only"):
        build_model({**base, "regression": "tied", "regression_kernel": 3})
    with pytest.raises(ConfigError, match="did you mean 'tied'"):
        build_model({**base, "regression": "tide"})
    with pytest.raises(ConfigError, match="regression_kernel"):
        build_model({**base, "regression_kernel": 5})


@pytest.mark.parametrize("old_spec_value", [None, "conv1x1", "conv3x3"])
def test_old_checkpoint_without_the_design_key_loads_as_separate(tmp_path, old_spec_value):
    from agcl.train.checkpoint import load_model, model_payload, save_checkpoint

    kernel = 3 if old_spec_value == "conv3x3" else 1
    model = _net("separate3" if kernel == 3 else "separate", seed=7).eval()
    payload = model_payload(model, stage="agcl_1", epoch=0, config={})
    spec = {k: v for k, v in payload["model_spec"].items() if k not in ("regression", "regression_kernel")}
    if old_spec_value is not None:
        spec["regression"] = old_spec_value  # how checkpoints recorded the path before the design choice
    payload["model_spec"] = spec
    save_checkpoint(tmp_path / "checkpoint.pt", payload)
    loaded = load_model(tmp_path / "checkpoint.pt", "cpu")
    assert loaded.spec["regression"] == "separate" and loaded.spec["regression_kernel"] == kernel
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.forward_train(x)["heatmaps"], model.forward_train(x)["heatmaps"])


def test_moment_matched_affine_gives_the_targets_mean_and_spread():
    rng = np.random.default_rng(0)
    cams = rng.normal(5.0, 20.0, (6, 3, 4, 4))
    targets = rng.random((6, 3, 4, 4))
    mask = np.zeros((6, 3))
    mask[:4, 0] = 1
    mask[2:, 1] = 1  # class 2 has no seed
    a, b = moment_matched_affine(cams, targets, mask)
    assert (a > 0).all()
    for c in (0, 1):
        sel = mask[:, c] > 0
        h = a[c] * cams[sel, c] + b[c]
        assert h.mean() == pytest.approx(targets[sel, c].mean()) and h.std() == pytest.approx(targets[sel, c].std())
    pooled = np.concatenate([targets[mask[:, 0] > 0, 0], targets[mask[:, 1] > 0, 1]])
    h2 = a[2] * cams[:, 2] + b[2]
    assert h2.mean() == pytest.approx(pooled.mean()) and h2.std() == pytest.approx(pooled.std())
    a0, b0 = moment_matched_affine(cams, targets, np.zeros((6, 3)))
    assert (a0 == 1).all() and (b0 == 0).all()
    flat = moment_matched_affine(np.ones((2, 1, 2, 2)), targets[:2, :1], np.ones((2, 1)))
    assert flat[0][0] == 1.0  # a constant CAM has no spread to match


def test_model_config_keys_reach_the_two_path_spec(tmp_path):
    from agcl.config.schema import ModelConfig
    from agcl.pipeline.context import RunContext
    from agcl.pipeline.driver import load_pipeline_config

    with pytest.raises(ConfigError, match="separate only"):
        ModelConfig(regression="tied", regression_kernel=3)
    with pytest.raises(ConfigError, match="1 or 3"):
        ModelConfig(regression="separate", regression_kernel=2)
    cfg = load_pipeline_config(None, ["model.regression=tied", "model.backbone=tiny"])
    ctx = RunContext(cfg, tmp_path, tmp_path, tmp_path)
    assert ctx.model_spec("two_path")["regression"] == "tied" and "regression" not in ctx.model_spec("multilabel")
    assert ModelConfig().regression == "tied"  # the design chosen on validation (docs/results.md)
    sep = RunContext(load_pipeline_config(None, ["model.regression=separate", "model.regression_kernel=3"]),
                     tmp_path, tmp_path, tmp_path)
    assert sep.model_spec("two_path")["regression_kernel"] == 3
