"""CxrDataset + AffineAugment: item contract, determinism across workers, image/target alignment."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from agcl.data.augment import AffineAugment, identity_theta, map_points, warp
from agcl.data.dataset import CxrDataset, SeedTargets

from .squares import S


def test_item_contract_without_augmentation(cache_and_index):
    cache, images = cache_and_index
    ds = CxrDataset(images.iloc[[5, 2]], cache)
    item = ds[0]
    assert item["image"].shape == (1, S, S) and item["image"].dtype == torch.float32
    assert item["index"] == 5 and item["labels"].shape == (14,) and item["labels"][5] == 1
    np.testing.assert_array_equal(item["image"][0].numpy(), cache.get(5) / 255.0)
    np.testing.assert_array_equal(item["affine"].numpy(), identity_theta())
    assert float(item["image"].max()) == 1.0 and float(item["image"].min()) == 0.0


def test_augmentation_is_deterministic_per_seed_epoch_row_and_independent_of_workers(cache_and_index):
    cache, images = cache_and_index
    ds = CxrDataset(images, cache, augment=AffineAugment(seed=7))
    ds.set_epoch(3)
    serial = torch.stack([ds[i]["image"] for i in range(len(ds))])
    loader = DataLoader(ds, batch_size=3, num_workers=2, shuffle=False)
    parallel = torch.cat([b["image"] for b in loader])
    assert torch.equal(serial, parallel)
    again = CxrDataset(images, cache, augment=AffineAugment(seed=7))
    again.set_epoch(3)
    assert torch.equal(again[4]["image"], serial[4])
    again.set_epoch(4)
    assert not torch.equal(again[4]["image"], serial[4])
    assert not np.allclose(AffineAugment(seed=8).sample(4, 3), AffineAugment(seed=7).sample(4, 3))
    # no flip by default: the x-axis is never mirrored
    thetas = np.stack([AffineAugment(seed=0).sample(r, 0) for r in range(200)])
    assert (np.linalg.det(thetas[:, :, :2]) > 0).all()


def test_target_moves_with_the_image(cache_and_index):
    cache, images = cache_and_index
    heat = np.zeros((1, 14, S // 2, S // 2), np.float32)  # heatmap at half resolution of the image
    k = 2
    heat[0, 0, (4 + k) // 2: (12 + k) // 2, 4:8] = 1.0  # the same square as image i2
    targets = SeedTargets(["i2.png"], heat, np.eye(1, 14, dtype=np.float32))
    aug = AffineAugment(max_rotate_deg=20, max_scale=0.2, max_translate=0.15, seed=1)
    ds = CxrDataset(images, cache, augment=aug, targets=targets)
    for epoch in range(3):
        ds.set_epoch(epoch)
        item = ds[2]
        img, tgt = item["image"][0], item["target"][0]
        assert item["target"].shape == (14, S // 2, S // 2) and item["target_mask"][0] == 1
        down = torch.nn.functional.avg_pool2d(img[None, None], 2)[0, 0]
        # centroids of the moved square agree between image and target (in image pixels)
        yy, xx = torch.meshgrid(torch.arange(S // 2) * 2 + 1.0, torch.arange(S // 2) * 2 + 1.0, indexing="ij")
        c_img = torch.stack([(xx * down).sum() / down.sum(), (yy * down).sum() / down.sum()])
        c_tgt = torch.stack([(xx * tgt).sum() / tgt.sum(), (yy * tgt).sum() / tgt.sum()])
        assert torch.allclose(c_img, c_tgt, atol=1.0)
        # and map_points predicts where the square's centre went
        predicted = map_points(item["affine"].numpy(), np.array([[12.0, 8.0 + k]]), S, S)[0]
        assert np.allclose(predicted, c_img.numpy(), atol=1.0)
        assert not np.allclose(item["affine"].numpy(), identity_theta())
    # images without seeds get zero targets and mask
    other = ds[0]
    assert other["target"].abs().sum() == 0 and other["target_mask"].sum() == 0


def test_warp_identity_is_exact():
    x = torch.rand(2, 9, 9)
    assert torch.allclose(warp(x, identity_theta()), x, atol=1e-6)
