"""Turn a soft difference map into the annotation's binary mask.

Hysteresis thresholding picks the regions (those holding confident evidence, grown through weaker evidence
connected to it: the soft map's middle range, and the difference map's separate grain-loss evidence of
fills); then morphology removes what a real edit does not look like: specks (opening, then components
smaller than ``min_area``) and pinholes or gaps inside an edited region (closing, then hole filling). QES is
computed on the soft map itself, before this clean-up, so the clean-up cannot hide how hesitant the evidence
was."""

from __future__ import annotations

import cv2
import numpy as np

MIN_AREA = 0.0005  # components smaller than this share of the image are noise
OPEN_PX = 3
CLOSE_PX = 7
SHRINK_PX = 3  # smoothing and pooling spread a difference about this far outwards
GROW_LOW = 0.25  # hysteresis: weaker evidence (p above this) joins a region holding a confident seed
SEED = 15 / 16  # QES's own confidence bound


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


def refine(prob: np.ndarray, *, weak: np.ndarray | None = None, min_area: float = MIN_AREA) -> np.ndarray:
    """The binary mask (bool HxW) of a soft difference map ``prob`` (HxW in 0..1); ``weak`` (HxW), where
    above 1, is weak evidence that may extend a seeded region but never starts one (the grain-loss map of
    :func:`data_builders.annotate.diff.grain_loss`)."""
    # Hysteresis: a region is kept only if it holds confident evidence, and weaker evidence connected to
    # that joins it (the faint rim of an inpainted area, a low-contrast part of a splice).
    extends = np.zeros(prob.shape, bool) if weak is None else weak > 1.0
    grow = (prob > GROW_LOW) | extends
    n, labels = cv2.connectedComponents(grow.astype(np.uint8), connectivity=8)
    seeded = np.zeros(n, bool)
    seeded[np.unique(labels[prob > SEED])] = True
    seeded[0] = False
    binary = seeded[labels].astype(np.uint8)
    binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, _disk(OPEN_PX))
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, _disk(CLOSE_PX))
    mask = fill_holes(binary > 0)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    smallest = max(16, min_area * mask.size)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= smallest
    mask = keep[labels]
    # Smoothing and pooling spread a difference outwards: take it back -- except over a fill's grain loss,
    # which is measured on the flat fill itself, not spread from a strong difference next to it.
    shrunk = cv2.erode(mask.astype(np.uint8), _disk(SHRINK_PX)) > 0
    return shrunk | (mask & extends)
