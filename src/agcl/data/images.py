"""Decode radiographs (PNG, JPEG, DICOM) to 8-bit grey arrays.

Conversion rules (documented in docs/data.md):
- 8-bit ``L`` as is; ``LA`` keeps the grey channel; ``RGB``/``RGBA`` with R=G=B keep one channel
  (lossless, as in the NIH RGBA files), otherwise ITU-R 601-2 luma (Pillow's ``convert("L")``);
  alpha is ignored. Palette and 1-bit images go through Pillow's ``convert("L")``.
- 16-bit / 32-bit integer images: scaled by their *actual* bit depth ``b = max(8, bit_length(max))``,
  i.e. ``round(v * 255 / (2**b - 1))`` — a 12-bit image stored in 16 bits uses its full 8-bit range.
  Float images are min-max scaled.
- DICOM (pydicom): modality LUT, then the VOI LUT or window when present (mapped linearly from the VOI
  output range), else min-max; ``MONOCHROME1`` is inverted so that bone is bright, as in PNG exports.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from agcl.errors import InputError
from agcl.paths import regular_file

_DICOM_SUFFIXES = {".dcm", ".dicom"}


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() in _DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def _scale_integer(arr: np.ndarray) -> np.ndarray:
    """Integer image of any depth -> uint8 by its actual bit depth (see module docstring)."""
    arr = arr.astype(np.int64)
    lo = int(arr.min())
    if lo < 0:  # signed data: shift to start at 0
        arr = arr - lo
    bits = max(8, int(arr.max()).bit_length())
    return np.rint(arr * (255.0 / (2**bits - 1))).astype(np.uint8)


def _minmax(arr: np.ndarray) -> np.ndarray:
    arr = arr.astype(np.float64)
    lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    return np.rint((arr - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _grey_from_channels(arr: np.ndarray) -> np.ndarray:
    """``[H,W,C]`` uint8 RGB(A) -> grey: exact when R=G=B, else ITU-R 601-2 luma."""
    rgb = arr[..., :3]
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return np.ascontiguousarray(rgb[..., 0])
    luma = rgb.astype(np.float32) @ np.array([299, 587, 114], dtype=np.float32) / 1000.0
    return np.rint(luma).clip(0, 255).astype(np.uint8)


def pil_to_grey(img: Image.Image) -> np.ndarray:
    """Pillow image of any mode -> uint8 grey. Shapes: returns ``[H, W]`` uint8."""
    mode = img.mode
    if mode == "L":
        return np.asarray(img, dtype=np.uint8).copy()
    if mode == "LA":
        return np.asarray(img.getchannel("L"), dtype=np.uint8).copy()
    if mode in ("RGB", "RGBA", "RGBX"):
        return _grey_from_channels(np.asarray(img))
    if mode.startswith("I"):  # I;16, I;16B, I;16L, I (32-bit)
        return _scale_integer(np.asarray(img))
    if mode == "F":
        return _minmax(np.asarray(img))
    return np.asarray(img.convert("L"), dtype=np.uint8).copy()  # P, PA, 1, CMYK, YCbCr, ...


def _read_dicom(path: Path) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # pydicom raises many types (InvalidDicomError, EOFError, ...)
        raise InputError(f"cannot read DICOM {path}: {exc}") from None
    try:
        arr = ds.pixel_array
    except Exception as exc:  # no pixel data, or a compressed transfer syntax without a handler
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise InputError(f"cannot decode pixel data of DICOM {path} (transfer syntax {ts}): {exc}") from None
    if arr.ndim == 3 and int(getattr(ds, "SamplesPerPixel", 1)) == 1:
        arr = arr[0]  # multi-frame: first frame
    if arr.ndim == 3:  # colour DICOM (rare for CXR)
        return _grey_from_channels(arr[..., :3] if arr.dtype == np.uint8 else _minmax(arr)[..., None].repeat(3, -1))
    _check_rescale(ds, path)
    with np.errstate(over="ignore", invalid="ignore"):
        values = apply_modality_lut(arr, ds)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise InputError(f"cannot decode DICOM {path}: RescaleSlope/RescaleIntercept give values that are not "
                         "finite numbers")
    has_voi = "VOILUTSequence" in ds or ("WindowCenter" in ds and "WindowWidth" in ds)
    if has_voi:
        out = apply_voi_lut(values, ds, index=0)
        # The VOI output range: push the extreme representable inputs through the same LUT/window.
        if values.dtype.kind == "f":
            probe = np.array([-1e30, 1e30], dtype=values.dtype)
        else:
            info = np.iinfo(values.dtype)
            probe = np.array([info.min, info.max], dtype=values.dtype)
        try:
            ends = apply_voi_lut(probe, ds, index=0)
            lo, hi = float(np.min(ends)), float(np.max(ends))
        except Exception:  # exotic LUT: fall back to the observed range
            lo, hi = float(out.min()), float(out.max())
        grey = np.zeros(out.shape, np.uint8) if hi <= lo else \
            np.rint((np.clip(out, lo, hi) - lo) * (255.0 / (hi - lo))).astype(np.uint8)
    else:
        grey = _minmax(values)
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        grey = 255 - grey
    return grey


def _check_rescale(ds, path: Path) -> None:
    """Refuse a modality rescale that cannot describe an image: a slope of 0 (every pixel equal), a
    non-finite slope or intercept, or one so large that the stored values overflow."""
    try:
        slope = float(getattr(ds, "RescaleSlope", 1.0))
        intercept = float(getattr(ds, "RescaleIntercept", 0.0))
    except (TypeError, ValueError):
        raise InputError(f"cannot decode DICOM {path}: RescaleSlope/RescaleIntercept are not numbers") from None
    if not (np.isfinite(slope) and np.isfinite(intercept)) or slope == 0 or abs(slope) > 1e12 or abs(intercept) > 1e15:
        raise InputError(f"cannot decode DICOM {path}: RescaleSlope {slope:g} / RescaleIntercept {intercept:g} "
                         "cannot describe an image")


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to 8-bit grey.

    Shapes: returns ``[H, W]`` uint8 (0 = black), the file's full resolution.

    Raises:
        InputError: missing, truncated, corrupt or undecodable file (the message names it).
    """
    path = Path(path)
    regular_file(path, "image file")
    if _is_dicom(path):
        return _read_dicom(path)
    try:
        with Image.open(path) as img:
            img.load()
            return pil_to_grey(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"cannot decode image {path}: {exc}") from None


def read_image_resized(path: str | Path, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode and resize to ``size x size`` with Pillow's antialiased Lanczos filter (8-bit).

    Shapes: returns (``[size, size]`` uint8, ``(width, height)`` of the decoded source).
    """
    grey = read_image(path)
    height, width = grey.shape
    img = Image.fromarray(grey)
    if (width, height) != (size, size):
        img = img.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.uint8), (width, height)


def decode_task(task: tuple[int, str, int]) -> tuple[int, np.ndarray | None, int, int, str]:
    """Worker function of ``agcl prepare`` (kept in this light module so spawned workers start fast).

    ``(row, path, size)`` -> ``(row, pixels [size,size] uint8 or None, width, height, error message)``.
    """
    row, path, size = task
    try:
        pixels, (w, h) = read_image_resized(path, size)
        return row, pixels, w, h, ""
    except InputError as exc:
        return row, None, 0, 0, str(exc)
    except Exception as exc:  # any other decoder failure still names the file
        return row, None, 0, 0, f"cannot decode image {path}: {exc}"
