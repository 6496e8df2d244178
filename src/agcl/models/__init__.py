"""Networks: backbones (torchvision + tiny), multi-label / binary / two-path heads, inference."""

from agcl.models.backbones import BACKBONES, build_backbone
from agcl.models.build import KINDS, build_model
from agcl.models.forward import forward_with_cams, forward_with_regression
from agcl.models.networks import BinaryNet, CamNet, InputAdapter, MultiLabelNet
from agcl.models.two_path import TwoPathNet

__all__ = ["BACKBONES", "KINDS", "BinaryNet", "CamNet", "InputAdapter", "MultiLabelNet", "TwoPathNet",
           "build_backbone", "build_model", "forward_with_cams", "forward_with_regression"]
