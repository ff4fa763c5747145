"""Robust two-part segmentation of a per-tile cue map: "one region differs from the rest".

Used by the noise and colour-filter-array cues. A spliced region is one connected area whose statistic
differs from the (larger) rest of the image; ordinary scene variation is spread over many small patches.
So instead of flagging tiles by a global z-score, the map is split in two (Otsu's threshold on the valid,
median-smoothed tiles, which maximises the between-class variance), each connected part of the minority side
is a candidate, and a candidate is scored by how far its median lies from the rest's median in units of the
rest's robust spread (MAD), times the square root of its size in tiles (a z-like sum that a single odd tile
cannot reach).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

MAX_SHARE = 0.45  # the region must be the smaller part: the rest defines "normal"


@dataclass
class Segment:
    tiles: np.ndarray | None  # bool (ty, tx): the region, None when no candidate qualifies
    effect: float  # |median(region) - median(rest)| / robust spread of the rest
    strength: float  # effect * sqrt(tile count), 0 when none
    sign: float  # +1 when the region's values are higher than the rest's, -1 when lower


def _otsu(values: np.ndarray) -> float:
    v = np.sort(values)
    n = len(v)
    csum = np.cumsum(v)
    k = np.arange(1, n)
    m0 = csum[:-1] / k
    m1 = (csum[-1] - csum[:-1]) / (n - k)
    between = k * (n - k) * (m0 - m1) ** 2
    return float(v[int(np.argmax(between))]) if n > 1 else float(v[0])


def segment_map(
    values: np.ndarray, valid: np.ndarray, *, min_tiles: int = 4, spread_floor: float = 0.05, signs=(1, -1)
) -> Segment:
    """The most distinct connected region of a tile map (see the module docstring).

    ``spread_floor`` keeps a very uniform rest from making any tiny difference look large; ``signs`` limits
    the search to regions above (+1) and/or below (-1) the rest.
    """
    none = Segment(None, 0.0, 0.0, 0.0)
    if valid.sum() < 2 * min_tiles + 4:
        return none
    v = np.where(valid, values, np.median(values[valid])).astype(np.float32)
    v = cv2.medianBlur(v, 3)
    t = _otsu(v[valid])
    best = none
    for sign in signs:
        side = (sign * (v - t) > 0) & valid
        if side.sum() > MAX_SHARE * valid.sum():
            # The side is not a minority as split; keep only its most extreme part.
            side &= sign * (v - np.percentile(v[valid], 50 + sign * 30)) > 0
        n, labels = cv2.connectedComponents(side.astype(np.uint8), connectivity=4)
        for lab in range(1, n):
            tiles = labels == lab
            k = int(tiles.sum())
            if k < min_tiles:
                continue
            rest = valid & ~tiles
            med_rest = float(np.median(v[rest]))
            spread = max(float(np.median(np.abs(v[rest] - med_rest))) * 1.4826, spread_floor)
            effect = sign * (float(np.median(v[tiles])) - med_rest) / spread
            if effect <= 0:
                continue
            strength = effect * math.sqrt(k)
            if strength > best.strength:
                best = Segment(tiles, effect, strength, float(sign))
    return best
