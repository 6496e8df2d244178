"""Index the real ChestX-ray14 metadata and the nih-cxr14-mini set (skips without ../shared/data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agcl.data.images import read_image
from agcl.data.index import load_index, save_index
from agcl.data.nih import NihOptions, attach_image_files, build_nih_index, read_data_entry, read_nih_tables
from agcl.labels import LABELS

pytestmark = pytest.mark.realdata

# data README: per-label image counts
V2020 = {"Atelectasis": 11559, "Cardiomegaly": 2776, "Consolidation": 4667, "Edema": 2303, "Effusion": 13317,
         "Emphysema": 2516, "Fibrosis": 1686, "Hernia": 227, "Infiltration": 19894, "Mass": 5782, "Nodule": 6331,
         "Pleural_Thickening": 3385, "Pneumonia": 1431, "Pneumothorax": 5302}
V2017 = {**V2020, "Atelectasis": 11535, "Cardiomegaly": 2772, "Effusion": 13307, "Infiltration": 19870,
         "Mass": 5746, "Nodule": 6323, "Pneumonia": 1353, "Pneumothorax": 5298}


def test_full_metadata_v2020_and_the_30_real_images(nih_dir, tmp_path):
    # one test, so that the 112k-row metadata is read once whichever xdist worker runs it
    full = read_nih_tables(nih_dir, NihOptions(metadata="auto"))
    images, boxes, info = full
    assert info["metadata_version"] == "v2020"
    assert len(images) == 112_120 and images["patient_id"].nunique() == 30_805
    assert {k: int(images[k].sum()) for k in LABELS} == V2020 and int(images["no_finding"].sum()) == 60_361
    assert len(boxes) == 984 and boxes["image_id"].nunique() == 880
    split = images.set_index("image_id")["split"]
    assert (split[boxes["image_id"]] == "test").all()
    counts = images["split"].value_counts()
    assert counts["test"] == 25_596 and counts["train"] + counts["val"] == 86_524
    assert abs(counts["val"] / 112_120 - 0.10) < 0.001
    assert images.groupby("patient_id")["split"].nunique().max() == 1  # no leakage
    assert info["box_label_mismatches"] == 0
    assert images["age"].max() <= 95 and images["view"].value_counts().to_dict() == {"PA": 67310, "AP": 44810}
    check_the_30_real_images(nih_dir, full, tmp_path)


def test_full_metadata_2017(nih_dir, caplog):
    images = read_data_entry(nih_dir / "Data_Entry_2017.csv")
    assert len(images) == 112_120 and images["patient_id"].nunique() == 30_805
    assert {k: int(images[k].sum()) for k in LABELS} == V2017 and int(images["no_finding"].sum()) == 60_412
    # padded 2017 ids and unpadded v2020 ids normalise to the same patients (so the seeded split is the same)
    v20 = pd.read_csv(nih_dir / "Data_Entry_2017_v2020.csv", usecols=["Image Index", "Patient ID"], dtype=str)
    v20_ids = dict(zip(v20["Image Index"], v20["Patient ID"], strict=True))
    assert (images["patient_id"] == images["image_id"].map(v20_ids)).all()
    assert images["age"].isna().sum() == 16 and "16 impossible age(s)" in caplog.text
    assert images["age"].min() < 1  # ages in months and days became fractions of a year


def check_the_30_real_images(nih_dir, full, tmp_path):
    images, boxes, info = attach_image_files(*full, allow_missing=True)
    save_index(tmp_path / "ix", images, boxes, info)
    ix = load_index(tmp_path / "ix")
    assert len(ix.images) == 30 and ix.meta["dropped_missing_files"] == 112_090
    assert (ix.images["split"] == "test").sum() == 26
    assert len(ix.boxes) == 18 and ix.boxes["image_id"].nunique() == 17
    for image_id in ix.images["image_id"]:
        arr = read_image(ix.abs_path(image_id))
        assert arr.shape == (1024, 1024) and arr.dtype == np.uint8
    # the two RGBA files decode to the same grey as their R channel
    from PIL import Image

    for name in ("00003400_003.png", "00004934_000.png"):
        with Image.open(nih_dir / "images" / name) as img:
            assert img.mode == "RGBA"
            np.testing.assert_array_equal(read_image(nih_dir / "images" / name), np.asarray(img)[..., 0])


def test_mini_set_with_mini_split(nih_mini_dir, tmp_path):
    images, boxes, info = build_nih_index(nih_mini_dir, NihOptions(split_file=nih_mini_dir / "mini_split.csv"))
    assert images["split"].value_counts().to_dict() == {"train": 905, "test": 378, "val": 227}
    split = images.set_index("image_id")["split"]
    assert len(boxes) == 984 and (split[boxes["image_id"]] == "test").sum() == 414
    assert boxes[["x0", "y0"]].to_numpy().min() >= 0 and boxes[["x1", "y1"]].to_numpy().max() <= 256
    assert images.groupby("patient_id")["split"].nunique().max() == 1
    assert info["dropped_missing_files"] == 0
