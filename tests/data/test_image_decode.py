"""Image decoding: PNG modes, 16-bit, JPEG, DICOM (MONOCHROME1, VOI window), corrupt files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from agcl.data.images import read_image, read_image_resized
from agcl.errors import InputError

RAMP = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (8, 1))  # [8, 16], 0..240


def test_png_modes(tmp_path):
    Image.fromarray(RAMP).save(tmp_path / "l.png")
    np.testing.assert_array_equal(read_image(tmp_path / "l.png"), RAMP)
    rgba = np.stack([RAMP, RAMP, RAMP, np.full_like(RAMP, 255)], -1)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), RAMP)
    Image.fromarray(np.stack([RAMP, np.full_like(RAMP, 7)], -1), "LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_image(tmp_path / "la.png"), RAMP)
    # channels differ -> ITU-R 601-2 luma
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb, "RGB").save(tmp_path / "rgb.png")
    assert read_image(tmp_path / "rgb.png")[0, 0] == round(200 * 0.299)


def test_16bit_png_scaled_by_actual_bit_depth(tmp_path):
    twelve = (np.arange(16, dtype=np.uint16) * 273).reshape(4, 4)  # 0..4095: a 12-bit image in 16 bits
    Image.fromarray(twelve).save(tmp_path / "i16.png")
    with Image.open(tmp_path / "i16.png") as img:
        assert img.mode.startswith("I")
    out = read_image(tmp_path / "i16.png")
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    np.testing.assert_array_equal(out, np.rint(twelve.astype(float) * 255 / 4095).astype(np.uint8))


def test_jpeg(tmp_path):
    Image.fromarray(np.full((16, 16), 128, np.uint8)).save(tmp_path / "a.jpg", quality=95)
    out = read_image(tmp_path / "a.jpg")
    assert out.shape == (16, 16) and abs(int(out.mean()) - 128) <= 1


def _dicom(path, pixels, photometric="MONOCHROME2", window=None, rescale=None):
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dicom_minmax_and_monochrome1(tmp_path):
    px = np.array([[0, 1000], [2000, 4000]], np.uint16)
    m2 = read_image(_dicom(tmp_path / "m2.dcm", px))
    np.testing.assert_array_equal(m2, np.rint(px / 4000 * 255).astype(np.uint8))
    m1 = read_image(_dicom(tmp_path / "m1.dcm", px, photometric="MONOCHROME1"))
    np.testing.assert_array_equal(m1, 255 - m2)  # inverted: low values are bright in MONOCHROME1


def test_dicom_voi_window_and_detection_without_suffix(tmp_path):
    px = np.array([[0, 890, 1000], [1110, 1500, 4000]], np.uint16)
    path = _dicom(tmp_path / "noext", px, window=(1000, 201))  # window 900..1100
    out = read_image(path)
    assert out[0, 0] == 0 and out[0, 1] == 0 and out[1, 0] == 255 and out[1, 2] == 255
    assert 120 <= out[0, 2] <= 135  # the window centre maps to mid-grey


def test_dicom_without_pixel_handler_is_a_clear_error(tmp_path):
    from pydicom.uid import JPEG2000Lossless

    path = _dicom(tmp_path / "j2k.dcm", np.zeros((4, 4), np.uint16))
    import pydicom

    ds = pydicom.dcmread(path)
    from pydicom.encaps import encapsulate

    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless  # a compressed frame that is not valid JPEG 2000
    ds.PixelData = encapsulate([b"\x00" * 64])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.save_as(tmp_path / "j2k2.dcm")
    with pytest.raises(InputError, match=r"cannot decode pixel data of DICOM .*j2k2.dcm"):
        read_image(tmp_path / "j2k2.dcm")


def test_corrupt_truncated_and_missing_files(tmp_path):
    noisy = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(noisy).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cannot decode image .*trunc.png"):
        read_image(tmp_path / "trunc.png")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(InputError, match=r"cannot decode image .*junk.png"):
        read_image(tmp_path / "junk.png")
    with pytest.raises(InputError, match=r"image file .*nope.png not found"):
        read_image(tmp_path / "nope.png")


def test_resized_variant_returns_source_size(tmp_path):
    Image.fromarray(np.full((30, 50), 200, np.uint8)).save(tmp_path / "wide.png")
    out, (w, h) = read_image_resized(tmp_path / "wide.png", 16)
    assert out.shape == (16, 16) and (w, h) == (50, 30) and int(out[8, 8]) == 200
