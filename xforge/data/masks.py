"""One mask decoder for every dataset: a file plus its ``mask_format`` becomes uint8 0/1 (or source indices).

Formats (``xforge.data.schema.MASK_FORMATS``), with the dataset conventions they encode:

- ``white_forged``: gray level > 127 is forged (CASIA, COVERAGE, IMD2020, tampCOCO, CocoGlide, ...).
  Thresholding at mid-gray rather than ``> 0`` keeps JPEG ringing in re-saved masks out of the forged area.
- ``nonzero_forged``: any gray level > 0 is forged (SafireMS-Auto: SAFIRE's loader,
  ``ForensicsEval/data/abstract.py``, sets every non-zero pixel to 1).
- ``black_forged``: gray level < 128 is forged (NIST16 reference masks, DSO-1 -- inverted masks).
- ``columbia_edge``: Columbia's colour masks (``edgemask/*_edgemask.jpg``): the spliced region is green,
  the region from the host camera red; forged = green channel high and red low. The masks are JPEGs, so
  the test is on channel halves, not exact colours.
- ``npz``: FantasticReality's ``SegmentationFake/*.npz``; the array ``arr_0`` (the only array, if named
  otherwise) holds per-object labels, any non-zero value is forged (as CAT-Net reads it). Loaded with
  ``allow_pickle=False``.
- ``multi_source_gray``: SafireMS multi-source masks: gray level ``50 * i`` marks source ``i``; decoded to
  the index ``round(v / 50)`` (0 = the host image), so values are 0..k, not 0/1.
- ``dolos``: Dolos masks: 255 = unchanged, anything else edited.

Size checks: ``expected_size=(width, height)`` is the image's size; a mismatch raises :class:`MaskError`
unless the caller passes ``resize_policy="nearest"`` -- adapters do so only for datasets with a documented
size quirk (e.g. COVERAGE, CASIA v2), where nearest-neighbour resampling keeps the mask binary.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import cv2
import numpy as np

from xforge.data.images import ImageReadError, open_image, to_uint8
from xforge.data.schema import MASK_FORMATS

RESIZE_POLICIES = ("error", "nearest")
MULTI_SOURCE_STEP = 50  # SafireMS: gray level 50 * i marks source i


class MaskError(ValueError):
    """A mask that cannot be decoded or does not fit its image; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def _read_channels(path: Path, *, rgb: bool) -> np.ndarray:
    """Decode a mask image to uint8 gray (HxW) or RGB (HxWx3); palette masks go through their palette."""
    try:
        with open_image(path) as im:
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)
            im.load()
            if rgb:
                im = im.convert("RGB") if im.mode not in ("RGB",) else im
                return np.asarray(im, dtype=np.uint8)
            if im.mode in ("1", "L"):
                return np.asarray(im.convert("L"), dtype=np.uint8)
            if im.mode.startswith("I") or im.mode == "F":
                return to_uint8(np.asarray(im))
            if im.mode in ("LA", "La"):
                return np.asarray(im, dtype=np.uint8)[:, :, 0]
            # RGB(A), palette, CMYK: luminance, which keeps white white and black black.
            return np.asarray(im.convert("L"), dtype=np.uint8)
    except ImageReadError as exc:
        raise MaskError(path, exc.problem) from None
    except (OSError, SyntaxError, ValueError) as exc:
        problem = "truncated file" if "truncated" in str(exc) else "cannot decode the mask"
        raise MaskError(path, f"{problem} ({exc})") from None


def _read_npz(path: Path) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if not names:
                raise MaskError(path, "the .npz archive holds no array")
            key = "arr_0" if "arr_0" in names else names[0]
            if len(names) > 1 and key != "arr_0":
                raise MaskError(path, f"the .npz archive holds several arrays {names} and no 'arr_0'")
            arr = np.asarray(archive[key])
    except FileNotFoundError:
        raise MaskError(path, "no such file") from None
    except PermissionError:
        raise MaskError(path, "permission denied") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise MaskError(path, f"not a readable .npz archive ({exc})") from None
    arr = np.squeeze(arr)
    if arr.ndim == 3:
        # Per-object label planes (HxWxK): any object marks the pixel forged.
        arr = arr.any(axis=2)
    if arr.ndim != 2:
        raise MaskError(path, f"expected a 2-D mask array, got shape {arr.shape}")
    return (arr != 0).astype(np.uint8)


def _decode(path: Path, mask_format: str) -> np.ndarray:
    if mask_format == "npz":
        return _read_npz(path)
    if mask_format == "columbia_edge":
        rgb = _read_channels(path, rgb=True)
        return ((rgb[:, :, 1] > 127) & (rgb[:, :, 0] < 128)).astype(np.uint8)
    gray = _read_channels(path, rgb=False)
    if mask_format == "white_forged":
        return (gray > 127).astype(np.uint8)
    if mask_format == "nonzero_forged":
        return (gray > 0).astype(np.uint8)
    if mask_format == "black_forged":
        return (gray < 128).astype(np.uint8)
    if mask_format == "dolos":
        return (gray != 255).astype(np.uint8)
    if mask_format == "multi_source_gray":
        return np.rint(gray.astype(np.float32) / MULTI_SOURCE_STEP).astype(np.uint8)
    raise MaskError(path, f"unknown mask_format {mask_format!r}; expected one of {MASK_FORMATS}")


def fit_mask(
    mask: np.ndarray,
    expected_size: tuple[int, int],
    *,
    resize_policy: str = "error",
    path: str | os.PathLike = "<mask>",
) -> np.ndarray:
    """Check (or, with ``resize_policy="nearest"``, repair) a decoded mask against ``(width, height)``."""
    if resize_policy not in RESIZE_POLICIES:
        raise ValueError(f"resize_policy {resize_policy!r} is not one of {RESIZE_POLICIES}")
    width, height = expected_size
    if mask.shape[:2] == (height, width):
        return mask
    if resize_policy == "nearest":
        return cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    raise MaskError(
        path,
        f"mask is {mask.shape[1]}x{mask.shape[0]} but its image is {width}x{height} (width x height)",
    )


def decode_mask(
    path: str | os.PathLike,
    mask_format: str,
    *,
    expected_size: tuple[int, int] | None = None,
    resize_policy: str = "error",
) -> np.ndarray:
    """Decode a mask file to a uint8 HxW array of 0/1 (source indices 0..k for ``multi_source_gray``).

    Raises :class:`MaskError` naming the file for missing, unreadable or undecodable masks, an unknown
    format, or a size that differs from ``expected_size`` (unless ``resize_policy="nearest"``).
    """
    path = Path(path)
    if mask_format not in MASK_FORMATS:
        raise MaskError(path, f"unknown mask_format {mask_format!r}; expected one of {MASK_FORMATS}")
    if resize_policy not in RESIZE_POLICIES:
        raise ValueError(f"resize_policy {resize_policy!r} is not one of {RESIZE_POLICIES}")
    mask = _decode(path, mask_format)
    if expected_size is not None:
        mask = fit_mask(mask, expected_size, resize_policy=resize_policy, path=path)
    return np.ascontiguousarray(mask, dtype=np.uint8)


def load_record_mask(record, root: str | os.PathLike) -> np.ndarray | None:
    """Decode a manifest record's mask at its image's size (``None`` for authentic records).

    Applies the repair the adapter recorded (``meta["mask_resize"] == "nearest"`` for datasets with a
    documented size quirk); any other size mismatch raises :class:`MaskError`. Paths that escape the root
    raise :class:`xforge.data.manifest.ManifestError`.
    """
    from xforge.data.manifest import resolve_path

    data = record.to_dict() if hasattr(record, "to_dict") else dict(record)
    if not data.get("mask"):
        return None
    size = (data["width"], data["height"]) if data.get("width") and data.get("height") else None
    policy = (data.get("meta") or {}).get("mask_resize", "error")
    return decode_mask(
        resolve_path(root, data["mask"]), data["mask_format"], expected_size=size, resize_policy=policy
    )
