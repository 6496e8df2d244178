"""``data.augment_device: gpu`` against the per-item path, on CPU: same draws, same pixels, same training.

The batched step (:mod:`agcl.data.device_batch`) must apply exactly the ``theta`` that the per-item
path draws for (seed, epoch, row), whatever the batch, and ``warp_batch`` must reproduce ``warp``
item by item; through the training loop both paths must give the same losses.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.utils.data import DataLoader

from agcl.config import OptimConfig, RuntimeConfig, TrainConfig
from agcl.config.schema import DataConfig
from agcl.data.augment import AffineAugment, identity_theta, warp, warp_batch
from agcl.data.dataset import CxrDataset, SeedTargets
from agcl.data.device_batch import DeviceBatchStep, device_step_of
from agcl.train.data import augment_on_device, stage_dataset
from agcl.train.device import RuntimeEnv
from agcl.train.epoch import to_device

from .squares import S

CPU = RuntimeEnv(torch.device("cpu"))
AUG = AffineAugment(max_rotate_deg=15, max_scale=0.2, max_translate=0.1, seed=3)


def _targets(images) -> SeedTargets:
    g = torch.Generator().manual_seed(0)
    ids = images["image_id"].tolist()[:5]
    heat = torch.rand(len(ids), 14, S // 4, S // 4, generator=g).numpy()
    return SeedTargets(ids, heat, np.ones((len(ids), 14), np.float32))


def _parameters(theta: np.ndarray) -> np.ndarray:
    """(angle in degrees, scale, shift x, shift y) of the forward map behind each sampling matrix."""
    fwd = np.linalg.inv(theta[:, :, :2].astype(np.float64))
    shift = -np.einsum("bij,bj->bi", fwd, theta[:, :, 2])
    scale = np.sqrt(np.linalg.det(fwd))
    angle = np.degrees(np.arctan2(fwd[:, 1, 0], fwd[:, 0, 0]))
    return np.c_[angle, scale, shift]


def test_warp_batch_equals_warp_per_item_for_fixed_parameters():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 3, 40, 40, generator=g)
    theta = torch.from_numpy(AUG.sample_rows(range(6), epoch=2))
    batched = warp_batch(x, theta)
    per_item = torch.stack([warp(x[i], theta[i]) for i in range(6)])
    assert torch.allclose(batched, per_item, atol=1e-6)
    assert not torch.allclose(batched, x, atol=1e-2)  # the draws really move the pixels
    near = warp_batch(x, theta, mode="nearest")
    assert torch.allclose(near, torch.stack([warp(x[i], theta[i], mode="nearest") for i in range(6)]))


def test_batched_draws_are_the_per_item_draws_whatever_the_batch():
    rows = np.arange(40)
    per_item = np.stack([AUG.sample(int(r), 5) for r in rows])
    assert np.array_equal(AUG.sample_rows(rows, 5), per_item)
    step = DeviceBatchStep(AUG, epoch=5)
    order = np.random.default_rng(0).permutation(rows)
    for chunk in np.array_split(order, 7):  # any batch composition and order
        got = step.before_transfer({"index": torch.from_numpy(chunk)})["affine"].numpy()
        assert np.array_equal(got, per_item[chunk])
    ident = DeviceBatchStep(None).before_transfer({"index": torch.arange(3)})["affine"].numpy()
    assert np.array_equal(ident, np.stack([identity_theta()] * 3))


def test_batched_draws_follow_the_configured_uniform_ranges():
    theta = AUG.sample_rows(np.arange(3000), epoch=0)
    params = _parameters(theta)
    for col, (lo, hi) in enumerate([(-15.0, 15.0), (0.8, 1.2), (-0.2, 0.2), (-0.2, 0.2)]):
        assert params[:, col].min() >= lo - 1e-4 and params[:, col].max() <= hi + 1e-4
        assert stats.kstest(params[:, col], stats.uniform(lo, hi - lo).cdf).pvalue > 0.001, col
    assert abs(np.corrcoef(params[:, 0], params[:, 1])[0, 1]) < 0.1  # drawn independently


@pytest.mark.parametrize("augment", [None, AUG])
def test_device_step_batch_equals_the_collated_per_item_batch(cache_and_index, augment):
    cache, images = cache_and_index
    targets = _targets(images)
    cpu_ds = CxrDataset(images, cache, augment=augment, targets=targets)
    dev_ds = CxrDataset(images, cache, augment=augment, targets=targets, on_device=True)
    for ds in (cpu_ds, dev_ds):
        ds.set_epoch(4)
    assert dev_ds[0]["image"].dtype == torch.uint8 and "affine" not in dev_ds[0]
    assert not dev_ds.epoch_dependent and cpu_ds.epoch_dependent is (augment is not None)
    assert device_step_of(cpu_ds) is None
    step = device_step_of(dev_ds)
    assert step == DeviceBatchStep(augment, 4)
    for ref, raw in zip(DataLoader(cpu_ds, batch_size=3), DataLoader(dev_ds, batch_size=3), strict=True):
        got = to_device(raw, CPU, step)
        assert got["image"].dtype == torch.float32 and got.keys() == ref.keys()
        assert torch.equal(got["affine"], ref["affine"])
        assert torch.equal(got["labels"], ref["labels"]) and torch.equal(got["index"], ref["index"])
        if augment is None:
            assert torch.equal(got["image"], ref["image"]) and torch.equal(got["target"], ref["target"])
        else:  # the same interpolation, batched: equal within float rounding
            assert torch.allclose(got["image"], ref["image"], atol=1e-5)
            assert torch.allclose(got["target"], ref["target"], atol=1e-5)
            assert float(got["image"].min()) >= 0.0 and float(got["image"].max()) <= 1.0


def test_a_uint8_batch_without_its_device_step_is_refused(cache_and_index):
    cache, images = cache_and_index
    raw = next(iter(DataLoader(CxrDataset(images, cache, on_device=True), batch_size=2)))
    with pytest.raises(TypeError, match="device_step"):
        to_device(raw, CPU)


def test_stage_dataset_keeps_the_per_item_path_on_cpu_by_default(cache_and_index):
    cache, images = cache_and_index
    cfg = TrainConfig(runtime=RuntimeConfig(device="cpu", seed=3))
    ds = stage_dataset(images, cache, cfg, train=True)
    assert not ds.on_device and ds.augment == AffineAugment(seed=3)
    ds.set_epoch(2)
    today = CxrDataset(images, cache, augment=AffineAugment(seed=3))
    today.set_epoch(2)
    for i in range(len(ds)):
        a, b = ds[i], today[i]
        assert a.keys() == b.keys() and all(torch.equal(torch.as_tensor(a[k]), torch.as_tensor(b[k])) for k in a)
    assert augment_on_device("auto", torch.device("cuda", 0)) and not augment_on_device("auto", torch.device("cpu"))
    assert not augment_on_device("cpu", torch.device("cuda", 0)) and augment_on_device("gpu", torch.device("cpu"))
    gpu = TrainConfig(data=DataConfig(augment_device="gpu"), runtime=RuntimeConfig(device="cpu"))
    assert stage_dataset(images, cache, gpu, train=True).on_device
    assert stage_dataset(images, cache, cfg, device=torch.device("cuda", 0)).on_device  # auto on CUDA


def test_training_through_the_loop_matches_between_the_two_paths(cache_and_index):
    """Same model, data and seed: per-item (cpu) and batched (gpu, here on the CPU) give the same losses;
    the batched path with two persistent workers too."""
    from agcl.models import build_model
    from agcl.train.loop import FitOptions, fit
    from agcl.train.losses import masked_bce
    from agcl.train.sampling import LoaderOptions

    cache, images = cache_and_index
    histories = {}
    for name, device, loader in (("cpu", "cpu", LoaderOptions()), ("gpu", "gpu", LoaderOptions()),
                                 ("gpu-workers", "gpu", LoaderOptions(num_workers=2, persistent_workers="on"))):
        cfg = TrainConfig(data=DataConfig(augment_device=device), runtime=RuntimeConfig(device="cpu", seed=5))
        train = stage_dataset(images, cache, cfg, train=True)
        model = build_model({"kind": "multilabel", "backbone": "tiny", "image_size": S}, pretrained="none", seed=0)
        opts = FitOptions(stage="t", optim=OptimConfig(lr=0.05, max_epochs=3, patience=3), runtime=cfg.runtime,
                          batch_size=4, loader=loader, tensorboard=False)
        result = fit(model, lambda out, b: masked_bce(out, b["labels"]), train, None, opts,
                     env=RuntimeEnv(torch.device("cpu")))
        histories[name] = [row["train/loss"] for row in result.history]
    assert all(math.isfinite(v) for v in histories["cpu"]) and len(histories["cpu"]) == 3
    assert np.allclose(histories["gpu"], histories["cpu"], rtol=1e-4, atol=1e-6)
    assert histories["gpu-workers"] == histories["gpu"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_the_batched_step_matches_the_cpu_per_item_batch(cache_and_index):
    cache, images = cache_and_index
    targets = _targets(images)
    cpu_ds = CxrDataset(images, cache, augment=AUG, targets=targets)
    dev_ds = CxrDataset(images, cache, augment=AUG, targets=targets, on_device=True)
    env = RuntimeEnv(torch.device("cuda", 0), channels_last=True)
    for ref, raw in zip(DataLoader(cpu_ds, batch_size=4), DataLoader(dev_ds, batch_size=4, pin_memory=True),
                        strict=True):
        got = to_device(raw, env, dev_ds.device_step())
        assert got["image"].is_cuda and got["image"].is_contiguous(memory_format=torch.channels_last)
        assert torch.allclose(got["image"].cpu(), ref["image"], atol=1e-4)
        assert torch.allclose(got["target"].cpu(), ref["target"], atol=1e-4)
