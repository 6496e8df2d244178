"""Losses: masked multi-label BCE (§2.1), softmax CE (§2.2) and the two-path objective (Eq. 2–4).

Every loss returns a dict of named scalar tensors with the optimised value under ``"total"``, so the
training loop can log every key.

Reading of Eq. 2. The paper writes ``Loss_reg(I) = Σ_{d=1..D} Σ_{x,y} smoothL1(Ĥ_c(x,y) − H_c(x,y))``
and calls it "the sum of the channel-wise smooth L1 losses over feature channels". The summand does
not depend on ``d``, so taken literally the ``Σ_d`` only multiplies the loss by ``D`` (2048 for
ResNet-50) — a constant that λ would absorb. We read the channels as the channels of the regressed
heatmap stack Ĥ (one channel per class): the loss of image ``I`` and class ``c`` is
``Σ_{x,y} smoothL1(Ĥ_c − H_c)`` on channel ``c``, and Eq. 4 sums these channel-wise losses over the
seed classes (``Σ_c 1_c``). This is implementable (no D-channel seed targets are needed), equals the
literal formula up to the constant factor ``D``, and matches "channel-wise ... summed".

Scale. λ = 0.005 only balances the two terms (§2.3, "roughly equal contributions") if the seed maps
have a fixed scale: seed maps ``H_c`` are expected min–max normalised to [0,1] per (image, class)
(:func:`agcl.cam.minmax_normalize` of the raw binary-net CAM, at the feature-map resolution h×w).
With h = w = 16 (ResNet-50 at 512 px) one seed contributes at most 0.5·256 = 128 before λ, i.e.
≤ 0.64 after λ, the same order as the classification loss.

Map size. Eq. 2 sums over the h·w cells, so one λ weighs an 8×8 map a quarter as much as a 16×16 one.
λ is therefore expressed per map of ``lam_cells`` cells (default 256 = 16×16, the maps the paper's
λ = 0.005 balanced) and applied as the effective weight ``λ·lam_cells/(h·w)`` (:func:`loss_weight`): the
same per-cell error pattern then costs the same at every CAM size. ``lam_cells = 0`` applies λ to the
map as it is (how agcl read λ before; docs/training.md, "Loss scale").

Reductions. ``cls`` = mean of the element-wise sigmoid CE over known (image, class) entries (Caffe's
``SigmoidCrossEntropyLoss`` with VALID normalisation). ``reg`` = mean over the images of the batch
of ``Σ_c 1_c Σ_{x,y} smoothL1`` (Eq. 4 is per image; the batch loss averages it), unweighted.
``reg_weighted`` = the effective weight × ``reg``, the term that is optimised: ``total = cls + reg_weighted``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_LAMBDA = 0.005
#: Cells of the map λ is expressed for (16×16: ResNet-50 at 512 px, where the paper set λ = 0.005).
LAMBDA_CELLS = 256


def loss_weight(lam: float, h: int, w: int, lam_cells: int = LAMBDA_CELLS) -> float:
    """The effective weight of Eq. 4's regression term for h×w maps: ``λ·lam_cells/(h·w)`` (``λ`` if
    ``lam_cells == 0``)."""
    return float(lam) * (lam_cells / (h * w) if lam_cells else 1.0)


def contribution_ratio(means: dict[str, float]) -> dict[str, float]:
    """``{"reg_ratio": reg_weighted / cls}`` from (epoch or step) mean losses that have both parts, else ``{}``.

    §2.3 chooses λ so that the two terms contribute "roughly equally": a ratio near 1.
    """
    if "reg_weighted" not in means or "cls" not in means or not means["cls"] > 0:
        return {}
    return {"reg_ratio": float(means["reg_weighted"]) / float(means["cls"])}


def masked_bce(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Multi-label sigmoid cross-entropy averaged over known entries.

    Args:
        logits: raw scores. labels: 0/1 targets. mask: 1 where the label is known, 0 where unknown
            (those entries contribute nothing); ``None`` = all known.

    Shapes: logits/labels/mask [B,K] -> {"cls": [], "total": []}. An all-masked batch gives 0 (with
    a graph, so ``backward`` still works).
    """
    logits = logits.float()
    elem = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), reduction="none")
    if mask is None:
        loss = elem.mean()
    else:
        m = mask.to(elem.dtype)
        loss = (elem * m).sum() / m.sum().clamp_min(1.0)
    return {"cls": loss, "total": loss}


def softmax_ce(logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """2-way (or K-way) softmax cross-entropy of the binary curriculum nets (§2.2).

    Args:
        logits: [B,2] scores (index 1 = positive). targets: [B] int class indices.
        weight: optional per-sample weights [B] (0 drops a sample); the loss is their weighted mean.

    Shapes: logits [B,K], targets [B] long -> {"cls": [], "total": []}.
    """
    elem = F.cross_entropy(logits.float(), targets.long(), reduction="none")
    if weight is None:
        loss = elem.mean()
    else:
        w = weight.to(elem.dtype)
        loss = (elem * w).sum() / w.sum().clamp_min(1e-12)
    return {"cls": loss, "total": loss}


def heatmap_regression(pred: torch.Tensor, target: torch.Tensor, seed_mask: torch.Tensor) -> torch.Tensor:
    """Eq. 2–3 per image and class: ``Σ_{x,y} smoothL1(Ĥ_c − H_c)``, zeroed where ``1_c = 0``.

    Shapes: pred Ĥ [B,K,h,w]; target H [B,K,h,w] (values at non-seed entries are ignored, may be
    anything finite or NaN); seed_mask [B,K] (1_c) -> [B,K] float32.
    """
    if pred.shape != target.shape:
        raise ValueError(f"heatmap shapes differ: prediction {tuple(pred.shape)} vs seed maps {tuple(target.shape)}; "
                         "seed maps must be at the feature-map resolution")
    keep = seed_mask.to(torch.bool)
    safe_target = torch.where(keep[..., None, None], target.float(), pred.detach().float())
    elem = F.smooth_l1_loss(pred.float(), safe_target, reduction="none", beta=1.0)  # Eq. 3
    return elem.sum(dim=(2, 3)) * keep.to(elem.dtype)


def two_path_loss(
    logits: torch.Tensor,
    heatmaps: torch.Tensor,
    labels: torch.Tensor,
    label_mask: torch.Tensor | None,
    seed_maps: torch.Tensor,
    seed_mask: torch.Tensor,
    lam: float = DEFAULT_LAMBDA,
    lam_cells: int = LAMBDA_CELLS,
) -> dict[str, torch.Tensor]:
    """The AGCL objective, Eq. 4: ``Loss_cls + λ' Σ_c 1_c Loss_reg`` averaged over the batch, with
    ``λ' = λ·lam_cells/(h·w)`` (:func:`loss_weight`; module docstring, "Map size").

    Shapes: logits [B,K]; heatmaps Ĥ [B,K,h,w]; labels/label_mask [B,K]; seed_maps H [B,K,h,w] in
    [0,1]; seed_mask 1_c [B,K] -> {"cls", "reg" (unweighted, per-image mean), "reg_weighted" (λ'·reg),
    "total"} scalars.
    """
    cls = masked_bce(logits, labels, label_mask)["cls"]
    reg = heatmap_regression(heatmaps, seed_maps, seed_mask).sum(dim=1).mean()
    weighted = loss_weight(lam, *heatmaps.shape[-2:], lam_cells) * reg
    return {"cls": cls, "reg": reg, "reg_weighted": weighted, "total": cls + weighted}
