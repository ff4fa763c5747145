"""Small array helpers shared by the forensic cues (local statistics, resizing maps, regions)."""

from __future__ import annotations

import cv2
import numpy as np


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luma of an HxWx3 RGB uint8 image as float32 (ITU-R BT.601 weights, as OpenCV uses)."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


def local_mean(x: np.ndarray, size: int) -> np.ndarray:
    """Mean over a ``size`` x ``size`` window (reflected borders)."""
    return cv2.boxFilter(x, cv2.CV_32F, (size, size), borderType=cv2.BORDER_REFLECT)


def block_reduce(x: np.ndarray, block: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Mean of ``x`` over non-overlapping ``block`` x ``block`` tiles (weighted; partial tiles dropped).

    Tiles whose weights sum to zero get NaN so callers can tell "no data" from a zero statistic.
    """
    h, w = x.shape
    bh, bw = h // block, w // block
    x = x[: bh * block, : bw * block].reshape(bh, block, bw, block)
    if weights is None:
        return x.mean(axis=(1, 3))
    wts = weights[: bh * block, : bw * block].reshape(bh, block, bw, block).astype(np.float32)
    total = wts.sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (x * wts).sum(axis=(1, 3)) / total, np.nan)


def upsample_blocks(grid: np.ndarray, block: int, shape: tuple[int, int]) -> np.ndarray:
    """Spread a per-tile map back to pixels (nearest), padding the dropped partial tiles by edge values."""
    h, w = shape
    full = np.repeat(np.repeat(grid, block, axis=0), block, axis=1)
    pad_h, pad_w = max(0, h - full.shape[0]), max(0, w - full.shape[1])
    if full.size == 0:
        return np.zeros(shape, dtype=np.float32)
    full = np.pad(full, ((0, pad_h), (0, pad_w)), mode="edge")
    return full[:h, :w].astype(np.float32)


def regions_of(mask: np.ndarray, min_area: int = 1) -> list[dict]:
    """Connected components of a 0/1 mask as ``{"box": [x0, y0, x1, y1], "area": n}``, largest first.

    Boxes are inclusive-exclusive pixel bounds (x1, y1 one past the last pixel), as the predictions format uses.
    """
    n, _, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area >= min_area:
            out.append({"box": [x, y, x + w, y + h], "area": area})
    return sorted(out, key=lambda r: -r["area"])


def resize_map(m: np.ndarray, shape: tuple[int, int], *, nearest: bool = False) -> np.ndarray:
    """Resize a 2-D map to ``shape`` (h, w)."""
    h, w = shape
    if m.shape == (h, w):
        return m
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.resize(m, (w, h), interpolation=interp)
