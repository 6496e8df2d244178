"""Classification networks on a shared backbone: multi-label (§2.1) and binary (§2.2) heads.

All networks take grey images ``[B,1,H,W]`` in [0,1] (the dataset contract) and share one interface:

- ``forward_features(x) -> [B,C,h,w]``: input adapter + backbone (last conv block, Eq. 1's f);
- ``forward_head(features) -> logits``: global average pooling + one linear layer (no transition layer);
- ``forward(x) -> logits``;
- ``probabilities(logits) -> [B,K]`` and ``cam(features) -> [B,K,h,w]`` (exact CAM, one einsum);
- ``spec``: the dict :func:`agcl.models.build_model` rebuilds the network from.

Input adapter (documented normalisation): a 1-channel image is replicated to 3 channels, then each
channel is normalised with the statistics the backbone's weights expect of an RGB image in [0,1]:
the ImageNet ``mean=(0.485,0.456,0.406)``, ``std=(0.229,0.224,0.225)`` of torchvision's weights, or
the backbone's own ``input_mean``/``input_std`` (EfficientNet-Lite: 0.5/0.5, i.e. [-1,1]).
A 3-channel input is only normalised. The statistics are non-persistent buffers (not in checkpoints).
"""

from __future__ import annotations

import torch
from torch import nn

from agcl.cam import class_activation_maps

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class InputAdapter(nn.Module):
    """Grey [B,1,H,W] in [0,1] -> normalised [B,3,H,W] (memory format preserved); ImageNet statistics by default."""

    def __init__(self, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shapes: x [B,1|3,H,W] float in [0,1] -> [B,3,H,W] float, normalised."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"expected images [B,1,H,W] or [B,3,H,W], got {tuple(x.shape)}")
        return (x.to(self.mean.dtype) - self.mean) / self.std  # broadcasting replicates 1 -> 3 channels


class CamNet(nn.Module):
    """Backbone + GAP + linear head; base of every agcl network."""

    kind = "base"

    def __init__(self, backbone: nn.Module, num_outputs: int, spec: dict) -> None:
        super().__init__()
        self.adapter = InputAdapter(getattr(backbone, "input_mean", IMAGENET_MEAN),
                                    getattr(backbone, "input_std", IMAGENET_STD))
        self.backbone = backbone
        self.fc = nn.Linear(backbone.num_features, num_outputs)
        self.spec = dict(spec)

    @property
    def num_features(self) -> int:
        return int(self.backbone.num_features)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Shapes: x [B,1,H,W] in [0,1] -> features [B,C,h,w] (Eq. 1's f(x,y,d))."""
        return self.backbone.forward_features(self.adapter(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Shapes: features [B,C,h,w] -> logits [B,num_outputs] (GAP then linear)."""
        return self.fc(features.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shapes: x [B,1,H,W] -> logits [B,num_outputs]."""
        return self.forward_head(self.forward_features(x))

    def cam_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The (weight [K,C], bias [K]) whose CAM is reported for each output class."""
        return self.fc.weight, self.fc.bias

    def cam(self, features: torch.Tensor, with_bias: bool = False) -> torch.Tensor:
        """Exact CAM (Eq. 1) of every reported class. Shapes: [B,C,h,w] -> [B,K,h,w]."""
        weight, bias = self.cam_weights()
        return class_activation_maps(features, weight, bias if with_bias else None)

    def feature_geometry(self) -> tuple[int, float]:
        """``(stride, cell_centre)`` of the feature grid, for :func:`agcl.cam.align.align_to_image`."""
        from agcl.models.backbones import feature_geometry

        return feature_geometry(self.spec["backbone"], self.spec.get("output_stride"))


class MultiLabelNet(CamNet):
    """The baseline (§2.1): ``num_classes`` independent sigmoid logits on GAP features."""

    kind = "multilabel"

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Shapes: [B,K] logits -> [B,K] sigmoid probabilities."""
        return torch.sigmoid(logits.float())

    @torch.no_grad()
    def set_prior_bias(self, labels) -> None:
        """Set each output's bias to the log-odds of its class's prevalence (``model.head_bias: prior``).

        The prevalence is smoothed, ``(positives + 1) / (images + 2)``, so a class without positives gets
        a finite bias. Shapes: labels [N,K] in {0,1} (the training split's labels).
        """
        y = torch.as_tensor(labels, dtype=torch.float64)
        p = (y.sum(dim=0) + 1.0) / (y.shape[0] + 2.0)
        self.fc.bias.copy_(torch.log(p / (1.0 - p)).to(self.fc.bias.dtype))


class BinaryNet(CamNet):
    """Per-disease binary net (§2.2): a 2-way FC layer (index 0 = negative, 1 = positive) + softmax.

    Positive-class CAM: ``w_pos − w_neg`` (``spec["cam"] = "difference"``, default), i.e. the CAM of the
    logit difference. Why: ``p(pos) = softmax(z)[1] = σ(z_pos − z_neg)`` and, with GAP,
    ``z_pos − z_neg = mean_{x,y}((w_pos − w_neg)·f) + (b_pos − b_neg)``, so this map is exactly the
    spatial decomposition of the log-odds the classifier decides on. ``w_pos`` alone (the literal
    reading of Eq. 1, ``spec["cam"] = "positive"``) also contains evidence that raises both logits
    equally and does not affect the decision: softmax CE gives ``w_pos`` and ``w_neg`` opposite
    gradients, so after training ``w_pos = (w_pos⁰ + w_neg⁰)/2 + (w_pos − w_neg)/2`` — half the
    difference map plus an untrained random-init term. Both share the same decision part; the
    difference drops the noise term.
    """

    kind = "binary"

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Shapes: [B,2] logits -> [B,1] positive-class softmax probability."""
        return torch.softmax(logits.float(), dim=1)[:, 1:2]

    def cam_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        w, b = self.fc.weight, self.fc.bias
        if self.spec.get("cam", "difference") == "positive":
            return w[1:2], b[1:2]
        return w[1:2] - w[0:1], b[1:2] - b[0:1]
