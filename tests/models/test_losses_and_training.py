"""Losses (masked BCE, softmax CE, Eq. 2–4) and trainable-path invariants on the tiny backbone."""

from __future__ import annotations

import math

import pytest
import torch

from agcl.models import build_model
from agcl.train.losses import (
    contribution_ratio,
    heatmap_regression,
    loss_weight,
    masked_bce,
    softmax_ce,
    two_path_loss,
)


def test_masked_bce_ignores_unknown_entries():
    logits = torch.tensor([[2.0, -1.0], [0.5, 100.0]])
    labels = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])  # the huge wrong logit is unknown
    sp = lambda z: math.log1p(math.exp(z))  # noqa: E731 - softplus
    expected = (sp(-2.0) + sp(-1.0) + sp(0.5)) / 3
    out = masked_bce(logits, labels, mask)
    assert set(out) == {"cls", "total"}
    assert out["total"].item() == pytest.approx(expected, rel=1e-6)
    zero = masked_bce(logits.requires_grad_(), labels, torch.zeros_like(mask))["total"]
    zero.backward()
    assert zero.item() == 0.0


def test_softmax_ce_weights():
    logits = torch.tensor([[0.0, 0.0], [3.0, -3.0]])
    targets = torch.tensor([1, 1])
    full = softmax_ce(logits, targets)["total"].item()
    assert full == pytest.approx((math.log(2) + math.log1p(math.exp(6.0))) / 2, rel=1e-6)
    only_first = softmax_ce(logits, targets, weight=torch.tensor([1.0, 0.0]))["total"].item()
    assert only_first == pytest.approx(math.log(2), rel=1e-6)


def test_two_path_loss_hand_computed_and_zero_for_non_seeds():
    pred = torch.zeros(1, 2, 2, 2)
    target = torch.tensor([[[[0.5, 2.0], [0.0, 0.0]], [[9.0, 9.0], [9.0, 9.0]]]])
    seed = torch.tensor([[1.0, 0.0]])
    per = heatmap_regression(pred, target, seed)
    # class 0: 0.5*0.5^2 + (2 - 0.5) = 0.125 + 1.5; class 1 is not a seed -> 0
    assert per.tolist() == [[pytest.approx(1.625), 0.0]]
    logits, labels = torch.zeros(1, 2), torch.zeros(1, 2)
    per_map = two_path_loss(logits, pred, labels, None, target, seed, lam=0.1, lam_cells=0)  # λ on the map as is
    assert per_map["reg"].item() == pytest.approx(1.625)
    assert per_map["total"].item() == pytest.approx(math.log(2) + 0.1625, rel=1e-6)
    out = two_path_loss(logits, pred, labels, None, target, seed, lam=0.1)  # λ per 16×16 map: 2×2 weighs 64λ
    assert out["reg"].item() == pytest.approx(1.625) and out["reg_weighted"].item() == pytest.approx(6.4 * 1.625)
    assert out["total"].item() == pytest.approx(math.log(2) + 6.4 * 1.625, rel=1e-6)
    nan_targets = torch.full_like(target, float("nan"))
    none = two_path_loss(logits, pred.requires_grad_(), labels, None, nan_targets, torch.zeros(1, 2))
    none["total"].backward()
    assert none["reg"].item() == 0.0 and torch.isfinite(pred.grad).all() and (pred.grad == 0).all()
    with pytest.raises(ValueError, match="feature-map resolution"):
        heatmap_regression(pred, torch.zeros(1, 2, 4, 4), seed)


@pytest.mark.parametrize("lam", [0.005, 0.05])
def test_loss_scale_is_the_same_at_every_map_size(lam):
    """One per-cell error pattern (a checkerboard of errors 0.4 and 1.5) costs the same at 6×6, 8×8 and 16×16."""
    weighted, raw = {}, {}
    for side in (6, 8, 16):
        pattern = torch.tensor([[0.4 if (i + j) % 2 else 1.5 for j in range(side)] for i in range(side)])
        pred = torch.zeros(2, 14, side, side)
        target = pattern.expand(2, 14, side, side).clone()
        seed = torch.zeros(2, 14)
        seed[0, 3] = seed[1, [3, 9]] = 1.0
        out = two_path_loss(torch.zeros(2, 14), pred, torch.zeros(2, 14), None, target, seed, lam=lam)
        weighted[side] = out["reg_weighted"].item()
        raw[side] = out["reg"].item()
        assert loss_weight(lam, side, side) == pytest.approx(lam * 256 / side**2)
        assert out["total"].item() == pytest.approx(out["cls"].item() + weighted[side], rel=1e-6)
    assert weighted[6] == pytest.approx(weighted[16], rel=1e-6) and weighted[8] == pytest.approx(weighted[16], rel=1e-6)
    # per cell: 0.5·0.4² = 0.08 or 1.5 − 0.5 = 1.0, mean 0.54; 1.5 seeds per image; λ per 256 cells
    assert weighted[16] == pytest.approx(lam * 256 * 0.54 * 1.5, rel=1e-6)
    assert raw[16] == pytest.approx(raw[8] * 4, rel=1e-6)  # the unweighted Eq. 2 sum grows with the map
    assert loss_weight(lam, 6, 6, lam_cells=0) == lam


def test_contribution_ratio():
    assert contribution_ratio({"cls": 0.5, "reg_weighted": 0.25, "reg": 50.0}) == {"reg_ratio": 0.5}
    assert contribution_ratio({"cls": 0.5}) == {} and contribution_ratio({"cls": 0.0, "reg_weighted": 1.0}) == {}


def _batch(n=6, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size, size, generator=g)
    labels = (torch.rand(n, 14, generator=g) > 0.7).float()
    maps = torch.rand(n, 14, size // 8, size // 8, generator=g)
    seeds = (torch.rand(n, 14, generator=g) > 0.5).float()
    return x, labels, maps, seeds


def test_every_parameter_gets_gradient_two_path():
    model = build_model({"kind": "two_path", "backbone": "tiny"}, seed=0).train()
    x, labels, maps, seeds = _batch()
    out = model.forward_train(x)
    loss = two_path_loss(out["logits"], out["heatmaps"], labels, None, maps, seeds, lam=0.005)
    loss["total"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_every_parameter_gets_gradient_binary():
    model = build_model({"kind": "binary", "backbone": "tiny"}, seed=0).train()
    x, *_ = _batch()
    softmax_ce(model(x), torch.tensor([0, 1, 0, 1, 1, 0]))["total"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kind", ["two_path", "multilabel", "binary"])
def test_loss_falls_when_overfitting(kind):
    model = build_model({"kind": kind, "backbone": "tiny"}, seed=0).train()
    x, labels, maps, seeds = _batch(n=4)
    targets = torch.tensor([0, 1, 1, 0])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def step():
        if kind == "two_path":
            out = model.forward_train(x)
            return two_path_loss(out["logits"], out["heatmaps"], labels, None, maps, seeds, lam=0.05)
        if kind == "binary":
            return softmax_ce(model(x), targets)
        return masked_bce(model(x), labels)

    losses = []
    for _ in range(40):
        opt.zero_grad()
        out = step()
        out["total"].backward()
        opt.step()
        losses.append({k: v.item() for k, v in out.items()})
    assert all(math.isfinite(v) for d in losses for v in d.values())
    assert losses[-1]["total"] < 0.5 * losses[0]["total"]
    if kind == "two_path":
        assert losses[-1]["reg"] < 0.5 * losses[0]["reg"]
