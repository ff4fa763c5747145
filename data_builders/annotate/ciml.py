"""Constrained image-manipulation localization (CIML) of one (edited, original) pair, after MIML (Qu et al.,
CVPR 2024): register the original onto the edit, take their soft difference, refine it, rate it with QES.
MIML learns its CIML step; this one is classical (feature registration + a robust difference), needs no
weights, and leaves the judgement of doubtful masks to QES as MIML does.

Work happens at a working size (the edited image's longer side at most ``work_side``); the mask comes back at
the edited image's full size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from data_builders.annotate.diff import difference_maps
from data_builders.annotate.refine import refine
from data_builders.annotate.register import AlignError, align
from eval.metrics.qes import qes

WORK_SIDE = 1024


@dataclass
class Annotation:
    mask: np.ndarray  # HxW bool at the edited image's size
    soft: np.ndarray  # HxW float32 at the working size
    qes: float
    meta: dict = field(default_factory=dict)

    @property
    def area(self) -> float:
        return float(self.mask.mean())


def _shrink(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    f = side / max(h, w)
    if f >= 1.0:
        return image
    return cv2.resize(image, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)


def annotate_arrays(
    edited: np.ndarray, original: np.ndarray, *, work_side: int = WORK_SIDE, ecc: bool = True
) -> Annotation:
    """Annotate one pair of HxWx3 uint8 RGB arrays; raises :class:`AlignError` when they cannot be aligned."""
    h, w = edited.shape[:2]
    small = _shrink(edited, work_side)
    # The original shrinks by the same factor, so the two keep their relative scale.
    factor = small.shape[0] / h
    original = _shrink(original, round(factor * max(original.shape[:2])))
    alignment = align(small, original, ecc=ecc)
    maps = difference_maps(small, alignment.warped, alignment.valid)
    prob, noise = maps.prob, maps.noise
    mask_small = refine(prob, weak=maps.weak)
    if mask_small.shape != (h, w):
        mask = cv2.resize(mask_small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
    else:
        mask = mask_small
    meta = {"registration": alignment.meta(), "noise_level": round(noise, 3)}
    return Annotation(mask, prob, qes(prob), meta)


__all__ = ["AlignError", "Annotation", "annotate_arrays"]
