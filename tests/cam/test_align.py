"""Feature-grid CAMs → image frame: the backbone geometry is the real receptive-field centre, and the
aligned map puts a feature cell's value where that cell looks (regression test of the half-cell shift)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from agcl.cam.align import align_to_image
from agcl.models import build_backbone, build_model, forward_with_cams
from agcl.models.backbones import feature_geometry


def _rf_centre(name: str, size: int, output_stride: int | None = None) -> tuple[float, float, int]:
    """Pixel-edge centre of the gradient support of the middle feature cell, and that cell's index."""
    torch.manual_seed(0)
    if name.startswith("efficientnet_lite"):  # the real net, first block of each stage only: every strided
        net = build_backbone(name, output_stride=output_stride).eval()  # TF-SAME conv, a receptive field that fits
        net.blocks = torch.nn.Sequential(*[stage[:1] for stage in net.blocks])
    elif name == "resnet":  # ResNet-10 (one BasicBlock per stage): the strides/paddings of every torchvision
        from torchvision.models.resnet import BasicBlock, ResNet  # ResNet, with a receptive field that fits

        from agcl.models.backbones import ResNetFeatures

        net = ResNetFeatures(ResNet(BasicBlock, [1, 1, 1, 1]), 512).eval()
    elif name == "densenet":  # a DenseNet with one layer per block: the same stem and 2x2/2 transitions
        from torchvision.models import DenseNet

        from agcl.models.backbones import DenseNetFeatures

        net = DenseNetFeatures(DenseNet(growth_rate=8, block_config=(1, 1, 1, 1), num_init_features=16), 24).eval()
    else:
        net = build_backbone(name).eval()
    x = torch.rand(1, 3, size, size, requires_grad=True)
    f = net.forward_features(x)
    j = f.shape[-1] // 2
    f[0, :, j, j].sum().backward()
    g = x.grad[0].abs().sum(0)
    rows = torch.nonzero(g.sum(1) > 0).flatten()
    cols = torch.nonzero(g.sum(0) > 0).flatten()
    assert rows.min() > 0 and rows.max() < size - 1, "receptive field must fit inside the input"
    return (rows.min() + rows.max() + 1).item() / 2, (cols.min() + cols.max() + 1).item() / 2, j


@pytest.mark.parametrize("name,size", [("tiny", 64), ("resnet", 320), ("densenet", 320)])
def test_feature_geometry_is_the_receptive_field_centre(name, size):
    stride, centre = feature_geometry({"resnet": "resnet18", "densenet": "densenet121"}.get(name, name))
    cy, cx, j = _rf_centre(name, size)
    assert cy == cx == j * stride + centre  # e.g. ResNet: 32j + 0.5, not the nominal 32j + 16


@pytest.mark.parametrize("stride,size", [(8, 96), (16, 192), (32, 384)])
def test_tf_same_geometry_is_the_receptive_field_centre(stride, size):
    assert feature_geometry("efficientnet_lite0", stride) == (stride, stride - 0.5)
    cy, cx, j = _rf_centre("efficientnet_lite0", size, stride)
    assert cy == cx == j * stride + stride - 0.5  # TF "SAME" pads after: half a cell down/right of nominal


def test_aligned_impulse_lands_on_its_receptive_field_centre():
    size, (stride, centre) = 64, feature_geometry("tiny")
    native = np.zeros((8, 8), np.float32)
    native[2, 5] = 1.0  # feature cell (row 2, col 5) looks at pixel (16, 40): edge coordinates (16.5, 40.5)
    for maps, expect in ((native, (2 * stride + stride / 2, 5 * stride + stride / 2)),  # nominal frame: +3.5 px
                         (align_to_image(native, size, stride, centre), (2 * stride + centre, 5 * stride + centre))):
        up = F.interpolate(torch.from_numpy(maps)[None, None], size=(size, size), mode="bilinear",
                           align_corners=False)[0, 0].numpy()
        ys, xs = np.mgrid[0:size, 0:size] + 0.5  # pixel centres, edge coordinates
        got = ((up * ys).sum() / up.sum(), (up * xs).sum() / up.sum())  # where the map puts the evidence
        assert abs(got[0] - expect[0]) <= 0.25 and abs(got[1] - expect[1]) <= 0.25, (got, expect)


def test_align_keeps_constants_types_and_is_separable():
    const = np.full((2, 3, 6, 4), 2.5, np.float16)
    out = align_to_image(const, (48, 32), 8, 0.5)
    assert out.dtype == np.float16 and out.shape == const.shape and np.all(out == 2.5)
    ramp = torch.arange(6, dtype=torch.float32).view(6, 1).expand(6, 4)  # varies along rows only
    out = align_to_image(ramp, (48, 32), 8, 0.5)
    torch.testing.assert_close(out[:, 0], out[:, 3])
    # nominal centre of row i is 8i + 4 -> feature index i + 3.5/8, clamped at the last row
    torch.testing.assert_close(out[:, 0], torch.tensor([0.4375, 1.4375, 2.4375, 3.4375, 4.4375, 5.0]))


def test_infer_image_frame_is_aligned_feature_frame():
    model = build_model({"kind": "multilabel", "backbone": "tiny", "image_size": 64}, seed=0).eval()
    x = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    p1, native = forward_with_cams(model, x)
    p2, image = forward_with_cams(model, x, frame="image")
    torch.testing.assert_close(p1, p2)
    torch.testing.assert_close(image, align_to_image(native, 64, *feature_geometry("tiny")))
    with pytest.raises(ValueError):
        forward_with_cams(model, x, frame="cache")
