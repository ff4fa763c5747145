"""Local noise level in the wavelet domain and the region whose noise differs (a splicing cue).

Each camera (sensor, ISO, processing) leaves its own noise; a region pasted from another picture usually
carries a different level. Following Mahdian & Saic ("Using noise inconsistencies for blind image forensics",
Image and Vision Computing 2009), the level is read from the finest diagonal wavelet band (Haar HH1), where
image content is weakest, per 16x16-pixel tile (64 coefficients), on flat coefficients only (see
``tile_sigma``). Clipped pixels carry no noise and are left out. The map of
log sigma is split into "one region vs the rest" by the robust segmentation of ``segment.py`` (Otsu split,
connected candidates scored by their median's distance from the rest's in MAD units), not by a global z-score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from xforge.forensics.maps import upsample_blocks
from xforge.forensics.segment import segment_map

TILE = 16  # pixels per tile side (8x8 HH1 coefficients)
MIN_TILES = 8  # a region must span at least this many tiles (2048 pixels)
SPREAD_FLOOR = 0.12  # log-sigma spread below which tiles are "equally noisy" (about 12%)


@dataclass
class NoiseFinding:
    """The noise map and the most inconsistent region, if any."""

    log_sigma: np.ndarray | None  # per-tile log noise level (NaN where unknown)
    global_sigma: float  # median noise level, grey levels
    region: np.ndarray | None  # bool HxW, the region whose noise differs from the rest
    ratio: float  # that region's noise level / the rest's (1.0 when no region)
    strength: float  # segmentation strength (effect in MAD units times sqrt of its tile count), 0 when none


def tile_sigma(gray: np.ndarray, tile: int = TILE) -> np.ndarray:
    """Per-tile noise estimate from HH1 on the tile's flat coefficients (NaN where too few are usable).

    Flat: the gradient of a blurred copy is below the image's median there, so edges and texture, which leak
    into HH1 too, do not pass for noise (the edge exclusion of Tai & Yang, ICASSP 2008). On those, sigma = sqrt(pi/2) * mean|HH1|
    (the mean absolute deviation of Gaussian noise). The mean replaces Mahdian & Saic's median
    (median|HH1| / 0.6745) because HH1 of 8-bit pixels moves in half-grey-level steps, and the median of a
    low-noise JPEG tile snaps to them.
    """
    h2, w2 = gray.shape[0] // 2, gray.shape[1] // 2
    g = gray[: 2 * h2, : 2 * w2]
    a, b, c, d = g[0::2, 0::2], g[0::2, 1::2], g[1::2, 0::2], g[1::2, 1::2]
    hh = np.abs(a - b - c + d) / 2.0
    # Edges and texture from a blurred copy: noise itself must not make a tile look "textured".
    sm = cv2.GaussianBlur(g, (0, 0), 1.5)
    grad = np.hypot(cv2.Sobel(sm, cv2.CV_32F, 1, 0), cv2.Sobel(sm, cv2.CV_32F, 0, 1))
    detail = grad[0::2, 0::2]
    clipped = np.minimum.reduce([a, b, c, d]) <= 3
    clipped |= np.maximum.reduce([a, b, c, d]) >= 252
    flat = (detail <= np.median(detail)) & ~clipped
    k = tile // 2
    th, tw = h2 // k, w2 // k

    def tiles(x):
        return x[: th * k, : tw * k].reshape(th, k, tw, k).sum(axis=(1, 3))

    n = tiles(flat.astype(np.float32))
    total = tiles(np.where(flat, hh, 0.0).astype(np.float32))
    with np.errstate(all="ignore"):
        sigma = np.where(n >= 12, total / n * math.sqrt(math.pi / 2), np.nan)
    return sigma


def estimate_noise(gray: np.ndarray, tile: int = TILE, min_tiles: int = MIN_TILES) -> NoiseFinding:
    """Wavelet noise levels of a float32 grayscale image and the region that disagrees with the rest."""
    h, w = gray.shape
    empty = NoiseFinding(None, 0.0, None, 1.0, 0.0)
    if h < 4 * tile or w < 4 * tile:
        return empty
    sigma = tile_sigma(gray, tile)
    valid = np.isfinite(sigma) & (sigma > 0.05)
    if valid.sum() < 2 * min_tiles + 4:
        return empty
    log_sigma = np.where(valid, np.log(np.where(valid, sigma, 1.0)), np.nan)
    seg = segment_map(np.nan_to_num(log_sigma), valid, min_tiles=min_tiles, spread_floor=SPREAD_FLOOR)
    global_sigma = float(math.exp(np.median(log_sigma[valid])))
    if seg.tiles is None:
        return NoiseFinding(log_sigma, global_sigma, None, 1.0, 0.0)
    inside, rest = valid & seg.tiles, valid & ~seg.tiles
    ratio = math.exp(float(np.median(log_sigma[inside]) - np.median(log_sigma[rest])))
    region = upsample_blocks(seg.tiles.astype(np.float32), tile, (h, w)) > 0.5
    return NoiseFinding(log_sigma, global_sigma, region, ratio, seg.strength)
