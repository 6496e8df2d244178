"""The two-path network of AGCL §2.3 (Fig. 2c): shared conv blocks, a classification path and a
heatmap-regression path.

The regression path is one 1×1 convolution on the shared last-block features, producing
``Ĥ [B,K,h,w]`` — one channel per class, at the CAM resolution, so it can be compared with the seed
attention maps ``H_c`` (Eq. 2) without resizing. Its cost is ``C·K·h·w`` MACs (≈0.5 MFLOP for
ResNet-50 at 512 px), negligible next to the backbone, which keeps the two-path step within 1.10× of
the baseline step. ``regression="conv3x3"`` gives a slightly larger 3×3 conv path as an option.

The classification path is the baseline's multi-label head (14 sigmoid logits); its CAM (Eq. 1) is
what evaluation and seed harvesting read, exactly as for :class:`MultiLabelNet`.
"""

from __future__ import annotations

import torch
from torch import nn

from agcl.models.networks import MultiLabelNet


class TwoPathNet(MultiLabelNet):
    """Multi-label classifier + heatmap regression Ĥ on the same features."""

    kind = "two_path"

    def __init__(self, backbone: nn.Module, num_outputs: int, spec: dict) -> None:
        super().__init__(backbone, num_outputs, spec)
        kernel = {"conv1x1": 1, "conv3x3": 3}[spec.get("regression", "conv1x1")]
        self.regressor = nn.Conv2d(backbone.num_features, num_outputs, kernel, padding=kernel // 2)

    def regress(self, features: torch.Tensor) -> torch.Tensor:
        """Heatmap-regression path. Shapes: features [B,C,h,w] -> Ĥ [B,K,h,w]."""
        return self.regressor(features)

    def forward_train(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One shared forward for both paths.

        Shapes: x [B,1,H,W] -> {"logits": [B,K], "heatmaps": Ĥ [B,K,h,w], "features": [B,C,h,w]}.
        """
        features = self.forward_features(x)
        return {"logits": self.forward_head(features), "heatmaps": self.regress(features), "features": features}
