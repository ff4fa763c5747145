"""Turn a soft difference map into the annotation's binary mask.

Morphology removes what a real edit does not look like: specks (opening, then components smaller than
``min_area``) and pinholes or gaps inside an edited region (closing, then hole filling). QES is computed on
the soft map itself, before this clean-up, so the clean-up cannot hide how hesitant the evidence was.
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


def refine(prob: np.ndarray, *, min_area: float = MIN_AREA) -> np.ndarray:
    """The binary mask (bool HxW) of a soft difference map ``prob`` (HxW in 0..1)."""
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
    return cv2.erode(mask.astype(np.uint8), _disk(3)) > 0
