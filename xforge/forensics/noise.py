"""Local noise-level estimation and its inconsistency map (a splicing cue).

Each camera (sensor, ISO, processing) leaves its own noise level; a region pasted from another picture
usually carries a different one. The noise standard deviation is estimated per tile with Immerkaer's fast
method ("Fast noise variance estimation", CVIU 1996: sigma = sqrt(pi/2) / 6 * mean |I * N| with the
3x3 Laplacian-difference kernel N), restricted to smooth pixels so that edges and texture do not pass for
noise (the edge exclusion of Tai & Yang, "Fast and reliable noise estimation", ICASSP 2008). Tiles are
then compared with the image-wide median on a log scale and scored as robust z-scores (median / MAD).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from xforge.forensics.maps import block_reduce, upsample_blocks

_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)


@dataclass
class NoiseFinding:
    """The noise map and the strongest inconsistent region, if any."""

    sigma_map: np.ndarray  # per-pixel noise estimate (nearest-upsampled tiles)
    z_map: np.ndarray  # per-pixel robust z-score of log(sigma) (0 where unknown)
    global_sigma: float
    region: np.ndarray | None  # bool HxW, the most inconsistent connected region
    ratio: float  # region's noise / the rest's noise (1.0 when no region)
    strength: float  # mean |z| in the region times sqrt of its tile count, 0 when none


def estimate_noise(
    gray: np.ndarray, block: int = 32, z_threshold: float = 3.0, min_tiles: int = 4
) -> NoiseFinding:
    """Per-tile noise levels of a float32 grayscale image and the region that disagrees most with the rest."""
    h, w = gray.shape
    empty = NoiseFinding(np.zeros((h, w), np.float32), np.zeros((h, w), np.float32), 0.0, None, 1.0, 0.0)
    if h < 2 * block or w < 2 * block:
        return empty
    resid = np.abs(cv2.filter2D(gray, cv2.CV_32F, _KERNEL, borderType=cv2.BORDER_REFLECT))
    g = cv2.GaussianBlur(gray, (0, 0), 1.0)
    grad = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    # Smooth pixels only: below the image's 60th gradient percentile (Tai & Yang keep the flattest part).
    smooth = grad <= np.percentile(grad, 60)
    # Clipped pixels carry no noise; leaving them in would fake a "clean" region.
    smooth &= (gray > 3) & (gray < 252)
    sigma = block_reduce(resid, block, smooth) * (math.sqrt(math.pi / 2) / 6.0)
    counts = block_reduce(smooth.astype(np.float32), block)
    sigma[(counts < 0.15) | ~np.isfinite(sigma)] = np.nan
    valid = np.isfinite(sigma) & (sigma > 0.05)
    if valid.sum() < 8:
        return empty
    logs = np.where(valid, np.log(np.where(valid, sigma, 1.0)), np.nan)
    med = float(np.nanmedian(logs))
    mad = float(np.nanmedian(np.abs(logs - med))) * 1.4826
    # The MAD floor: texture and signal-dependent sensor noise alone spread authentic tiles by about this much
    # on the log scale, so a region must differ by more than ~3x it (a factor of about 2) to count.
    z = np.where(valid, (logs - med) / max(mad, 0.25), 0.0)
    # A 3x3 median on the tile grid: a spliced region spans several tiles, a noisy estimate one.
    z_s = cv2.medianBlur(np.clip(z * 10 + 128, 0, 255).astype(np.uint8), 3).astype(np.float32)
    z_s = (z_s - 128) / 10.0
    best, best_strength, best_ratio = None, 0.0, 1.0
    for sign in (1.0, -1.0):
        cand = (sign * z_s >= z_threshold).astype(np.uint8)
        n, labels = cv2.connectedComponents(cand, connectivity=4)
        for lab in range(1, n):
            tiles = labels == lab
            if tiles.sum() < min_tiles:
                continue
            strength = float(np.abs(z_s[tiles]).mean() * math.sqrt(tiles.sum()))
            if strength > best_strength:
                rest = valid & ~tiles
                ratio = (
                    math.exp(np.nanmean(logs[tiles & valid]) - np.nanmedian(logs[rest]))
                    if rest.any()
                    else 1.0
                )
                best, best_strength, best_ratio = tiles, strength, ratio
    region = upsample_blocks(best.astype(np.float32), block, (h, w)) > 0.5 if best is not None else None
    return NoiseFinding(
        sigma_map=upsample_blocks(np.nan_to_num(sigma), block, (h, w)),
        z_map=upsample_blocks(z_s, block, (h, w)),
        global_sigma=float(math.exp(med)),
        region=region,
        ratio=best_ratio,
        strength=best_strength,
    )
