"""Deterministic DDP-aware sharding: pure function of (seed, epoch, rank), global batches preserved."""

from __future__ import annotations

import numpy as np
import pytest

from agcl.train.sampling import ShardedSampler, epoch_permutation, shard_indices


def test_permutation_depends_only_on_seed_and_epoch() -> None:
    a = epoch_permutation(50, seed=1, epoch=3)
    assert np.array_equal(a, epoch_permutation(50, seed=1, epoch=3))
    assert sorted(a.tolist()) == list(range(50))
    assert not np.array_equal(a, epoch_permutation(50, seed=1, epoch=4))
    assert not np.array_equal(a, epoch_permutation(50, seed=2, epoch=3))


@pytest.mark.parametrize(("n", "world", "batch"), [(32, 2, 4), (40, 4, 2), (30, 3, 5)])
def test_union_of_rank_batches_is_the_single_process_batch(n: int, world: int, batch: int) -> None:
    perm = epoch_permutation(n, seed=7, epoch=1)
    shards = [shard_indices(n, seed=7, epoch=1, rank=r, world_size=world) for r in range(world)]
    for k in range(n // (world * batch)):
        union = sorted(int(i) for s in shards for i in s[k * batch:(k + 1) * batch])
        assert union == sorted(perm[k * world * batch:(k + 1) * world * batch].tolist())


def test_padding_and_unpadded_cover() -> None:
    padded = [shard_indices(10, seed=0, epoch=0, rank=r, world_size=4) for r in range(4)]
    assert {len(s) for s in padded} == {3} and set(np.concatenate(padded)) == set(range(10))
    cover = [shard_indices(10, seed=0, epoch=0, rank=r, world_size=4, pad=False, shuffle=False) for r in range(4)]
    assert sorted(np.concatenate(cover).tolist()) == list(range(10))
    s = ShardedSampler(10, seed=0, rank=1, world_size=4)
    s.set_epoch(2)
    assert list(s) == shard_indices(10, seed=0, epoch=2, rank=1, world_size=4).tolist() and len(s) == 3
