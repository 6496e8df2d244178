"""``seeds.reference``: seed maps measured against the network's mean CAM over No Finding training images."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from agcl.errors import ConfigError
from agcl.pipeline.binary import final_network
from agcl.pipeline.driver import load_pipeline_config, make_context, run_pipeline
from agcl.pipeline.harvest import reference_rows
from agcl.pipeline.settings import SeedsConfig

from . import synthetic

pytestmark = pytest.mark.filterwarnings("ignore:AUC undefined")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return synthetic.build(tmp_path_factory.mktemp("synth"))


def _fake_ctx(train: pd.DataFrame, reference: str = "no_finding", n: int = 3, seed: int = 0):
    cfg = SimpleNamespace(seeds=SeedsConfig(reference=reference, reference_images=n), runtime=SimpleNamespace(seed=seed))
    return SimpleNamespace(cfg=cfg, split=lambda name: train if name == "train" else train.iloc[:0])


def test_reference_rows_are_a_seeded_sample_of_no_finding_training_images():
    train = pd.DataFrame({"image_id": [f"{i:03d}.png" for i in range(10)][::-1],
                          "no_finding": [1, 0] * 5})
    assert reference_rows(_fake_ctx(train, reference="none")) is None
    rows = reference_rows(_fake_ctx(train, n=3))
    assert len(rows) == 3 and (rows["no_finding"] == 1).all()
    assert rows["image_id"].tolist() == sorted(rows["image_id"])
    assert rows.equals(reference_rows(_fake_ctx(train, n=3)))  # deterministic
    others = [reference_rows(_fake_ctx(train, n=3, seed=s))["image_id"].tolist() for s in range(1, 6)]
    assert any(o != rows["image_id"].tolist() for o in others)  # the sample follows runtime.seed
    everything = reference_rows(_fake_ctx(train, n=100))
    assert sorted(everything["image_id"]) == sorted(train.loc[train["no_finding"] == 1, "image_id"])


def test_reference_needs_no_finding_training_images():
    train = pd.DataFrame({"image_id": ["a.png", "b.png"], "no_finding": [0, 0]})
    with pytest.raises(ConfigError, match="No Finding training images"):
        reference_rows(_fake_ctx(train))


def test_reference_images_must_be_positive():
    with pytest.raises(ConfigError, match="seeds.reference_images"):
        SeedsConfig(reference_images=0)


def test_final_network_is_the_last_curriculum_fit(tmp_path):
    (tmp_path / "fit").mkdir()
    assert final_network(tmp_path) == tmp_path / "fit" / "checkpoint.pt"
    conv = tmp_path / "conv"
    for k in (1, 2, 10):
        (conv / f"fit_s{k}").mkdir(parents=True)
    assert final_network(conv) == conv / "fit_s10" / "checkpoint.pt"


def _mean_cam(ctx, checkpoint, rows, channel):
    """The reference computed independently: the network's exact CAM (Eq. 1) over the cached images."""
    from agcl.train.checkpoint import load_model

    model = load_model(checkpoint, device="cpu", kinds=("binary", "multilabel")).model
    x = torch.from_numpy(np.stack([ctx.cache.get(int(r)) for r in rows["_row"]])).float().div(255)[:, None]
    with torch.no_grad():
        return model.cam(model.forward_features(x))[:, channel].mean(0).numpy()


def test_seed_maps_are_the_raw_maps_minus_the_reference(synth, tmp_path):
    base = synthetic.tiny_config(synth, rounds=1)
    raw, ref = tmp_path / "raw", tmp_path / "ref"
    run_pipeline(load_pipeline_config(None, [*base, "seeds.reference=none"]), raw, only=["seeds_agl", "seeds_r1"])
    ref.mkdir()
    for stage in ("bsl", "curriculum_r1"):  # the same networks; only the seed stages differ
        shutil.copytree(raw / f"stage_{stage}", ref / f"stage_{stage}")
    cfg = load_pipeline_config(None, [*base, "seeds.reference=no_finding", "seeds.reference_images=7"])
    run_pipeline(cfg, ref, only=["seeds_agl", "seeds_r1"])

    ctx = make_context(cfg, ref)
    rows = reference_rows(ctx)
    assert len(rows) == 7 and (rows["no_finding"] == 1).all() and (rows["split"] == "train").all()
    images = ctx.images.reset_index(drop=True)
    rows = rows.assign(_row=images.reset_index().set_index("image_id").loc[rows["image_id"], "index"].to_numpy())
    from agcl.labels import LABEL_INDEX

    for stage, checkpoint, channel in (
            ("seeds_agl", lambda lab: ref / "stage_bsl" / "checkpoint.pt", lambda lab: LABEL_INDEX[lab]),
            ("seeds_r1", lambda lab: final_network(ref / "stage_curriculum_r1" / lab), lambda lab: 0)):
        s_raw = pd.read_csv(raw / f"stage_{stage}" / "seeds.csv", dtype={"image_id": str})
        s_ref = pd.read_csv(ref / f"stage_{stage}" / "seeds.csv", dtype={"image_id": str})
        pd.testing.assert_frame_equal(s_raw, s_ref)  # the reference changes maps, never the choice of seeds
        m_raw = np.load(raw / f"stage_{stage}" / "seed_maps.npy").astype(np.float32)
        m_ref = np.load(ref / f"stage_{stage}" / "seed_maps.npy").astype(np.float32)
        assert len(s_ref) and not np.allclose(m_raw, m_ref)
        for lab in s_ref["label"].unique():
            mine = (s_ref["label"] == lab).to_numpy()
            want = _mean_cam(ctx, checkpoint(lab), rows, channel(lab))
            np.testing.assert_allclose(m_raw[mine] - m_ref[mine], np.broadcast_to(want, m_raw[mine].shape),
                                       rtol=1e-3, atol=2e-2)
