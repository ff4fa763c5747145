"""Image reading: every file the public forgery datasets ship, as HxWx3 uint8 RGB.

One reader for the whole project so that a model, the forensic engine and the evaluation see the same pixels.
It handles JPEG, PNG, TIFF (incl. 16-bit and multi-page), BMP, grayscale, palette, alpha, CMYK and EXIF
orientation, and refuses decompression bombs and truncated files with an :class:`ImageReadError` whose
message starts with the file path.

Decisions (documented because they change pixels):

- EXIF orientation is applied (``ImageOps.exif_transpose``), as every viewer does; :func:`read_image_size`
  reports the size *after* orientation so manifests agree with :func:`read_image`.
- Alpha is dropped, not composited: the RGB values are what a forger edited, the alpha is not evidence.
- 16-bit samples are scaled to 8 bits by ``round(v / 257)`` (65535 -> 255), the full-range mapping.
- Multi-page TIFFs: the first page is the image (later pages are thumbnails or masks in the datasets).
- Truncated files are refused (Pillow's ``LOAD_TRUNCATED_IMAGES`` is never switched on): a half-decoded
  image with a grey bottom would look like a forgery.
"""

from __future__ import annotations

import errno
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow warns above Image.MAX_IMAGE_PIXELS (about 89 megapixels, e.g. 9,400 x 9,400) and refuses twice that
# on open. We refuse from Pillow's warning threshold by default -- far above any dataset image (NIST16's
# largest is ~22 MP). A larger max_pixels works up to Pillow's own limit (raise Image.MAX_IMAGE_PIXELS
# to go beyond; Pillow then warns for such files).
DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
_OPEN_LOCK = threading.Lock()

_EXIF_ORIENTATION = 0x0112
# Orientations 5..8 rotate by 90 degrees, so width and height swap (EXIF 2.32, tag 274).
_SWAPS_AXES = {5, 6, 7, 8}


class ImageReadError(ValueError):
    """An image that cannot be read; the message starts with the file path, then the problem."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open lazily (header only) and turn every failure into an ImageReadError naming the file."""
    path = os.fspath(path)
    try:
        # Pillow warns (DecompressionBombWarning) from its own threshold, which is our default limit: its raw
        # warning is silenced and _check_pixels refuses the file with a message naming it. catch_warnings
        # swaps process-wide state, hence the lock (opening reads the header only, so it is short).
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a directory, not an image file") from None
    except PermissionError:
        raise ImageReadError(path, "permission denied") from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(path, f"refused as a possible decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        size = os.stat(path).st_size if os.path.exists(path) else None
        if size == 0:
            raise ImageReadError(path, "empty file (0 bytes)") from None
        raise ImageReadError(path, f"not a recognised image format ({size} bytes)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImageReadError(path, "symbolic link loop (the link leads back to itself)") from None
        if exc.errno is not None:
            raise ImageReadError(path, f"cannot open the file ({exc.strerror})") from None
        raise ImageReadError(path, f"cannot read the image header ({exc})") from None
    except (SyntaxError, ValueError) as exc:
        raise ImageReadError(path, f"cannot read the image header ({exc})") from None


def _orientation(im: Image.Image) -> int:
    # Only formats that carry EXIF pay for parsing it; a missing or broken EXIF block means "upright".
    if im.format not in ("TIFF", "MPO") and "exif" not in im.info:
        return 1
    try:
        if im.format == "TIFF":  # the tag directory is already parsed; getexif() would parse it again
            return int(im.tag_v2.get(_EXIF_ORIENTATION, 1) or 1)
        return int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # noqa: BLE001 -- malformed EXIF is common in the wild and must not stop a scan
        return 1


def _check_pixels(path: str | os.PathLike, width: int, height: int, max_pixels: int | None) -> None:
    if width <= 0 or height <= 0:
        raise ImageReadError(path, f"invalid size {width}x{height} in the header")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageReadError(
            path,
            f"{width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,} "
            "(possible decompression bomb; raise max_pixels if the image is genuine)",
        )


@dataclass(frozen=True)
class ImageInfo:
    """What the header tells without decoding: size after EXIF orientation, container, stored size."""

    width: int
    height: int
    format: str | None
    stored_size: tuple[int, int]  # (width, height) as stored, before orientation
    ends_cleanly: bool  # JPEG ends with EOI / PNG with IEND; False hints at a truncated download


# A file whose end marker is missing is suspect; look for it this far from the end because some cameras
# pad JPEGs after EOI.
_TAIL_BYTES = 4096
_END_MARKERS = {"JPEG": b"\xff\xd9", "MPO": b"\xff\xd9", "PNG": b"IEND"}


def _ends_cleanly(im: Image.Image) -> bool:
    marker = _END_MARKERS.get(im.format or "")
    if marker is None:
        return True
    try:
        # pread on the descriptor: two syscalls, no buffered seeking (this runs once per file in a scan)
        fd = im.fp.fileno()
        size = os.fstat(fd).st_size
        if marker in os.pread(fd, 64, max(0, size - 64)):
            return True
        return marker in os.pread(fd, _TAIL_BYTES, max(0, size - _TAIL_BYTES))
    except (AttributeError, OSError, ValueError):
        return False  # not a plain file: undecided, so callers decode to be sure


def read_image_info(path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Header facts of an image (no pixel decoding); raises :class:`ImageReadError` like :func:`read_image`."""
    with open_image(path) as im:
        stored = im.size
        width, height = stored
        if _orientation(im) in _SWAPS_AXES:
            width, height = height, width
        info = ImageInfo(width, height, im.format, stored, _ends_cleanly(im))
    _check_pixels(path, width, height, max_pixels)
    return info


def read_image_size(
    path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> tuple[int, int]:
    """``(width, height)`` of an image from its header only (no pixel decoding), after EXIF orientation.

    Raises :class:`ImageReadError` for missing, empty, unrecognised or oversized files.
    """
    info = read_image_info(path, max_pixels=max_pixels)
    return info.width, info.height


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """Scale integer or float samples to uint8 (16-bit: v/257; float: assumed 0..1)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        return np.clip(np.rint(np.nan_to_num(arr) * 255.0), 0, 255).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        # uint16 and Pillow's int32 "I" mode hold 16-bit data; anything wider is clipped into 16 bits.
        if arr.dtype.itemsize == 1:
            return arr.astype(np.uint8)
        arr = np.clip(arr, 0, 65535).astype(np.float32)
        return np.rint(arr / 257.0).astype(np.uint8)
    raise ValueError(f"unsupported sample type {arr.dtype}")


def _channels_to_rgb(arr: np.ndarray) -> np.ndarray:
    """HxW, HxWx1, HxWx2 (gray+alpha), HxWx3, HxWx4 (alpha dropped) -> HxWx3."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"expected an HxW or HxWxC image, got shape {arr.shape}")
    c = arr.shape[2]
    if c in (1, 2):
        arr = np.repeat(arr[:, :, :1], 3, axis=2)
    elif c == 4:
        arr = arr[:, :, :3]
    elif c != 3:
        raise ValueError(f"expected 1 to 4 channels, got {c} (shape {arr.shape})")
    return np.ascontiguousarray(arr)


def pil_to_rgb_array(im: Image.Image) -> np.ndarray:
    """Convert a decoded PIL image of any mode to HxWx3 uint8 RGB (see the module notes)."""
    mode = im.mode
    if mode == "RGB":
        return np.asarray(im, dtype=np.uint8).copy()
    if mode in ("RGBA", "RGBX", "RGBa", "LA", "La", "L", "1"):
        return _channels_to_rgb(to_uint8(np.asarray(im)))
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _channels_to_rgb(to_uint8(np.asarray(im)))
    if mode == "P" or mode == "PA":
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    # CMYK (Pillow undoes Adobe's inverted CMYK JPEGs), YCbCr, LAB, HSV: Pillow's colour conversion.
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def _read_tiff_with_tifffile(path: Path) -> np.ndarray:
    """Fallback for TIFFs Pillow cannot decode (e.g. 16-bit RGB, planar or tiled variants)."""
    import tifffile

    arr = tifffile.imread(path, key=0)
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (3, 4):
        arr = np.moveaxis(arr, 0, 2)  # planar (CxHxW) storage
    return _channels_to_rgb(to_uint8(arr))


def read_image(path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB with EXIF orientation applied.

    Raises :class:`ImageReadError` (message: ``"<path>: <problem>"``) for missing, empty, truncated,
    corrupt, unsupported or oversized files.
    """
    path = Path(path)
    with open_image(path) as im:
        _check_pixels(path, im.width, im.height, max_pixels)
        try:
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)
            im.load()
            oriented = ImageOps.exif_transpose(im) if _orientation(im) != 1 else im
            return pil_to_rgb_array(oriented)
        except OSError as exc:
            message = str(exc)
            if "truncated" in message or "broken data stream" in message or "premature end" in message:
                raise ImageReadError(path, f"truncated file ({message})") from None
            if im.format == "TIFF":
                return _tiff_fallback(path, exc)
            raise ImageReadError(path, f"cannot decode the image ({message})") from None
        except (SyntaxError, ValueError) as exc:
            if im.format == "TIFF":
                return _tiff_fallback(path, exc)
            raise ImageReadError(path, f"cannot decode the image ({exc})") from None


def _tiff_fallback(path: Path, pillow_error: Exception) -> np.ndarray:
    try:
        return _read_tiff_with_tifffile(path)
    except Exception as exc:  # noqa: BLE001 -- report both decoders' reasons in one error
        raise ImageReadError(
            path, f"cannot decode the TIFF (Pillow: {pillow_error}; tifffile: {exc})"
        ) from None


def load_image(obj: Any, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Accept a path, a PIL image or an array (HxW, HxWx3, HxWx4; uint8, uint16, bool or float 0..1).

    Returns HxWx3 uint8 RGB. Arrays are taken as RGB(A) channel order, as PIL and numpy users expect.
    """
    if isinstance(obj, (str, os.PathLike)):
        return read_image(obj, max_pixels=max_pixels)
    if isinstance(obj, Image.Image):
        if getattr(obj, "n_frames", 1) > 1:
            obj.seek(0)
        return pil_to_rgb_array(ImageOps.exif_transpose(obj) or obj)
    if isinstance(obj, np.ndarray):
        try:
            return _channels_to_rgb(to_uint8(obj))
        except ValueError as exc:
            raise ImageReadError("<array>", str(exc)) from None
    raise TypeError(f"load_image expects a path, a PIL image or a numpy array, got {type(obj).__name__}")
