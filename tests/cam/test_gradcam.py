"""Grad-CAM through pytorch-grad-cam equals the exact CAM up to a positive per-class factor for GAP + FC."""

from __future__ import annotations

import pytest
import torch

from agcl.cam import class_activation_maps
from agcl.cam.align import align_to_image
from agcl.cam.gradcam import gradient_cams
from agcl.models import build_model, forward_with_cams


@pytest.fixture(scope="module")
def net_and_images():
    net = build_model({"kind": "multilabel", "backbone": "tiny", "image_size": 64}, seed=0).eval()
    x = torch.rand(3, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    return net, x


def test_gradcam_is_exact_cam_over_hw(net_and_images):
    net, x = net_and_images
    probs, grad = gradient_cams(net, x, "gradcam", relu=False, frame="features")
    with torch.no_grad():
        feats = net.forward_features(x)
        cam = class_activation_maps(feats, net.fc.weight)
        ref_probs = torch.sigmoid(net(x))
    h, w = feats.shape[-2:]
    # pre-ReLU: Grad-CAM = CAM / (h·w) for every class and image (GAP: dlogit_k/df = W_k / (h·w))
    torch.testing.assert_close(grad, cam / (h * w), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(probs, ref_probs, rtol=1e-5, atol=1e-6)
    # with the papers' ReLU it is ReLU(CAM) / (h·w)
    _, relu = gradient_cams(net, x, "gradcam", frame="features")
    torch.testing.assert_close(relu, cam.clamp_min(0) / (h * w), rtol=1e-4, atol=1e-6)
    assert not torch.equal(relu, grad)  # the test net's CAM has negative cells: ReLU matters


def test_image_frame_matches_the_stage_heatmaps(net_and_images):
    net, x = net_and_images
    _, feat = gradient_cams(net, x, "gradcam", relu=False, frame="features")
    _, img = gradient_cams(net, x, "gradcam", relu=False, frame="image")
    torch.testing.assert_close(img, align_to_image(feat, (64, 64), *net.feature_geometry()))
    _, cam_img = forward_with_cams(net, x, frame="image")  # what a stage writes to heatmaps.npy
    h, w = feat.shape[-2:]
    torch.testing.assert_close(img * (h * w), cam_img, rtol=1e-4, atol=1e-4)


def test_gradcampp_shapes_and_parameters_untouched(net_and_images):
    net, x = net_and_images
    flags = [p.requires_grad for p in net.parameters()]
    probs, maps = gradient_cams(net, x, "gradcampp")
    assert maps.shape == (3, 14, 8, 8) and probs.shape == (3, 14)
    assert (maps >= 0).all() and torch.isfinite(maps).all()
    assert [p.requires_grad for p in net.parameters()] == flags
    assert all(p.grad is None for p in net.parameters())
    with pytest.raises(ValueError, match="not one of"):
        gradient_cams(net, x, "scorecam")
