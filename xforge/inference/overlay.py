"""Overlay PNGs for people: the image, the predicted mask tinted over it, and the mask's outline."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

MASK_COLOUR = (255, 40, 40)  # RGB: a red that stays visible on skin, sky and foliage
CONTOUR_COLOUR = (255, 255, 0)


def make_overlay(image: np.ndarray, mask: np.ndarray, *, alpha: float = 0.45) -> np.ndarray:
    """HxWx3 uint8 RGB: ``image`` with the mask's pixels blended towards red and its contour in yellow."""
    import cv2

    img = np.asarray(image)
    m = np.asarray(mask) > 0
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {img.shape} {img.dtype}")
    if m.shape != img.shape[:2]:
        raise ValueError(f"mask shape {m.shape} differs from the image's {img.shape[:2]}")
    out = img.copy()
    tint = np.array(MASK_COLOUR, dtype=np.float32)
    out[m] = ((1.0 - alpha) * img[m].astype(np.float32) + alpha * tint).round().astype(np.uint8)
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    # Line width scales with the image so the outline is visible on large photos and not blotchy on small.
    thickness = max(1, round(max(img.shape[:2]) / 400))
    cv2.drawContours(out, contours, -1, CONTOUR_COLOUR, thickness, lineType=cv2.LINE_AA)
    return out


def write_png(path: str | os.PathLike, rgb_or_gray: np.ndarray) -> Path:
    """Write an RGB (or grayscale) uint8 array as PNG, atomically (temp file + rename); errors name the file."""
    import cv2

    from xforge.predictions import write_png_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.asarray(rgb_or_gray)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)  # OpenCV writes BGR
    return write_png_atomic(path, arr)


def write_overlay(
    path: str | os.PathLike, image: np.ndarray, mask: np.ndarray, *, alpha: float = 0.45
) -> Path:
    """Write :func:`make_overlay` of ``image`` and ``mask`` to ``path`` (PNG)."""
    return write_png(path, make_overlay(image, mask, alpha=alpha))
