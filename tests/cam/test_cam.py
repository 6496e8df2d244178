"""CAM (Eq. 1) is exact: equal to a hook-based reference and consistent with the logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agcl.cam import class_activation_maps, minmax_normalize
from agcl.models import build_model, forward_with_cams


def _reference(model, x, layer, weight):
    """Forward hook on the last conv block + a plain per-class weighted sum over channels."""
    store = {}
    handle = layer.register_forward_hook(lambda m, i, o: store.__setitem__("f", o.detach()))
    with torch.no_grad():
        model(x)
    handle.remove()
    f = store["f"]
    return torch.stack([torch.stack([(w[:, None, None] * f[b]).sum(0) for w in weight]) for b in range(len(f))])


@pytest.mark.parametrize("kind", ["multilabel", "binary"])
def test_cam_matches_hook_reference_resnet18(kind):
    model = build_model({"kind": kind, "backbone": "resnet18", "image_size": 64}, seed=0).eval()
    x = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    probs, cams = forward_with_cams(model, x)
    w = model.fc.weight.detach()
    weight = w if kind == "multilabel" else (w[1:2] - w[0:1])
    ref = _reference(model, x, model.backbone.layer4, weight)
    assert cams.shape == ref.shape
    torch.testing.assert_close(cams, ref, rtol=1e-4, atol=1e-4)
    # spatial mean of the CAM + bias is the logit (difference of logits for the binary head)
    with torch.no_grad():
        logits = model(x)
        target = logits if kind == "multilabel" else (logits[:, 1:] - logits[:, :1])
        _, cams_b = forward_with_cams(model, x, with_bias=True)
    torch.testing.assert_close(cams_b.mean(dim=(2, 3)), target, rtol=1e-4, atol=1e-4)


def test_binary_positive_option():
    model = build_model({"kind": "binary", "backbone": "tiny", "cam": "positive"}, seed=0).eval()
    x = torch.rand(1, 1, 32, 32)
    _, cams = forward_with_cams(model, x)
    with torch.no_grad():
        f = model.forward_features(x)
    torch.testing.assert_close(cams, class_activation_maps(f, model.fc.weight[1:2]))


def test_cam_shape_errors_and_bias():
    f = torch.rand(2, 4, 3, 3)
    w = torch.rand(5, 4)
    b = torch.rand(5)
    cams = class_activation_maps(f, w, b)
    torch.testing.assert_close(cams - class_activation_maps(f, w), b.view(1, 5, 1, 1).expand(2, 5, 3, 3))
    with pytest.raises(ValueError):
        class_activation_maps(f, torch.rand(5, 3))


def test_minmax_normalize_numpy_torch_and_constant():
    a = np.array([[[1.0, 3.0], [2.0, 5.0]], [[2.0, 2.0], [2.0, 2.0]]])
    before = a.copy()
    out = minmax_normalize(a)
    np.testing.assert_allclose(out[0], [[0, 0.5], [0.25, 1]])
    assert (out[1] == 0).all() and np.array_equal(a, before)
    torch.testing.assert_close(minmax_normalize(torch.tensor(a)), torch.tensor(out, dtype=torch.float32))
