"""Turn a soft difference map into the annotation: a clean binary mask and the soft map QES is computed on.

Morphology removes what a real edit does not look like: specks (opening, then components smaller than
``min_area``) and pinholes or gaps inside an edited region (closing, then hole filling). The soft map keeps
its values outside the mask (ambiguous evidence there is what lowers QES) but loses the removed specks
of confident pixels, and the filled-in pixels of the mask count as confident.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_AREA = 0.0005  # components smaller than this share of the image are noise
OPEN_PX = 3
CLOSE_PX = 7


def _disk(size: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` (bool) with every background area not connected to the image border filled."""
    m = mask.astype(np.uint8)
    padded = cv2.copyMakeBorder(m, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8), (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    return mask | holes


def refine(prob: np.ndarray, *, min_area: float = MIN_AREA) -> tuple[np.ndarray, np.ndarray]:
    """``(mask, soft)``: the binary mask (bool HxW) and the refined soft map (float32 HxW in 0..1)."""
    binary = (prob > 0.5).astype(np.uint8)
    binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, _disk(OPEN_PX))
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, _disk(CLOSE_PX))
    mask = fill_holes(binary > 0)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    smallest = max(16, min_area * mask.size)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= smallest
    mask = keep[labels]
    # Smoothing and pooling spread a difference about one pixel outwards: take it back.
    mask = cv2.erode(mask.astype(np.uint8), _disk(3)) > 0
    # Confident pixels that the morphology threw away were specks: drop them from the soft map too.
    soft = prob.copy()
    soft[(prob > 0.5) & ~mask] = 0.0
    soft[mask] = np.maximum(soft[mask], np.where(prob[mask] > 0.5, prob[mask], 1.0))
    return mask, soft.astype(np.float32)
