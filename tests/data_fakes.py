"""Fake dataset trees for the data tests: tiny real image and mask files, written fast.

Every image is 8x8; every mask marks the same rectangle (``TRUTH``) in its dataset's encoding, so a test can
check polarity and format by decoding. File bytes are encoded once per kind and reused.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 8
TRUTH = np.zeros((SIZE, SIZE), np.uint8)
TRUTH[2:6, 1:5] = 1
SOURCES = np.zeros((SIZE, SIZE), np.uint8)  # multi-source truth: source 1 and source 2
SOURCES[0:2, :] = 1
SOURCES[2:6, 1:5] = 2

_PIL_FORMAT = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}


def _encode(arr: np.ndarray, ext: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, _PIL_FORMAT[ext.lower()], **kw)
    return buf.getvalue()


@functools.cache
def image_bytes(ext: str, size: tuple[int, int] = (SIZE, SIZE)) -> bytes:
    w, h = size
    arr = (np.arange(w * h * 3, dtype=np.uint32).reshape(h, w, 3) * 7 % 256).astype(np.uint8)
    return _encode(arr, ext, **({"quality": 95} if ext.lower() in (".jpg", ".jpeg") else {}))


@functools.cache
def mask_bytes(mask_format: str, ext: str = ".png", size: tuple[int, int] = (SIZE, SIZE)) -> bytes:
    w, h = size
    truth = np.zeros((h, w), np.uint8)
    truth[: TRUTH.shape[0], : TRUTH.shape[1]] = TRUTH[:h, :w]
    if mask_format == "white_forged":
        return _encode(truth * 255, ext)
    if mask_format == "nonzero_forged":  # a faint grey: only a "> 0" reading finds it
        return _encode(truth * 30, ext)
    if mask_format == "black_forged":
        return _encode((1 - truth) * 255, ext)
    if mask_format == "dolos":
        return _encode(np.where(truth == 1, 0, 255).astype(np.uint8), ext)
    if mask_format == "multi_source_gray":
        return _encode((SOURCES * 50).astype(np.uint8), ext)
    if mask_format == "columbia_edge":
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[..., 0] = 255  # red: host region
        rgb[truth == 1] = (0, 255, 0)  # green: spliced
        return _encode(rgb, ext, quality=100, subsampling=0)
    if mask_format == "npz":
        buf = io.BytesIO()
        np.savez_compressed(buf, (truth.astype(np.int32) * 5)[None])
        return buf.getvalue()
    raise ValueError(mask_format)


def write(root: Path, rel: str, data: bytes) -> None:
    path = os.path.join(root, rel)
    try:
        with open(path, "wb") as f:
            f.write(data)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def write_image(root: Path, rel: str, size: tuple[int, int] = (SIZE, SIZE)) -> None:
    write(root, rel, image_bytes(os.path.splitext(rel)[1] or ".png", size))


def write_mask(root: Path, rel: str, mask_format: str, size: tuple[int, int] = (SIZE, SIZE)) -> None:
    ext = os.path.splitext(rel)[1] or ".png"
    write(root, rel, mask_bytes(mask_format, ".png" if ext == ".npz" else ext, size))
