"""Local noise-level estimation and its inconsistency maps (splicing cues).

Each camera (sensor, ISO, processing) leaves its own noise; a region pasted from another picture usually
carries different noise. Two per-tile statistics are measured on smooth pixels only, so that edges and
texture do not pass for noise (the edge exclusion of Tai & Yang, "Fast and reliable noise estimation",
ICASSP 2008):

- **level**: the noise standard deviation by Immerkaer's fast method ("Fast noise variance estimation",
  CVIU 1996: sigma = sqrt(pi/2) / 6 * mean |I * N| with the 3x3 Laplacian-difference kernel N);
- **spectrum**: the log ratio of that finest-band residual to the same kernel one octave coarser. Sensor
  noise is white; a region that was resampled (scaled, rotated), denoised or compressed elsewhere has lost
  its finest band, so its ratio drops even when its noise *level* happens to match.

Tiles are compared with the image-wide median on a log scale as robust z-scores (median / MAD, with a floor
so that ordinary scene variation does not count), smoothed by a 3x3 median over tiles, and the strongest
connected run of outlying tiles is the candidate region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from xforge.forensics.maps import block_reduce, upsample_blocks

_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
_KERNEL_COARSE = np.zeros((5, 5), np.float32)
_KERNEL_COARSE[::2, ::2] = _KERNEL  # the same kernel, dilated: one octave lower


@dataclass
class NoiseFinding:
    """The noise maps and the strongest inconsistent regions, if any."""

    z_map: np.ndarray  # per-pixel robust z-score of log(noise level) (0 where unknown)
    global_sigma: float  # median noise level, grey levels
    region: np.ndarray | None  # bool HxW, the most inconsistent run of tiles by noise level
    ratio: float  # that region's noise level / the rest's (1.0 when no region)
    strength: float  # mean |z| in the region times sqrt of its tile count, 0 when none
    peak: float  # largest |z| of the level map (continuous, also when no region passes the threshold)
    spectrum_region: np.ndarray | None  # bool HxW, the most inconsistent run of tiles by noise spectrum
    spectrum_peak: float  # largest |z| of the spectrum map


def _robust_z(values: np.ndarray, valid: np.ndarray, floor: float) -> np.ndarray:
    med = float(np.median(values[valid]))
    mad = float(np.median(np.abs(values[valid] - med))) * 1.4826
    z = np.where(valid, (values - med) / max(mad, floor), 0.0)
    # A 3x3 median on the tile grid: a spliced region spans several tiles, a noisy estimate one.
    return cv2.medianBlur(z.astype(np.float32), 3)


def _strongest_region(z: np.ndarray, threshold: float, min_tiles: int) -> tuple[np.ndarray | None, float]:
    best, best_strength = None, 0.0
    for sign in (1.0, -1.0):
        n, labels = cv2.connectedComponents((sign * z >= threshold).astype(np.uint8), connectivity=4)
        for lab in range(1, n):
            tiles = labels == lab
            if tiles.sum() < min_tiles:
                continue
            strength = float(np.abs(z[tiles]).mean() * math.sqrt(tiles.sum()))
            if strength > best_strength:
                best, best_strength = tiles, strength
    return best, best_strength


def estimate_noise(
    gray: np.ndarray, block: int = 32, z_threshold: float = 3.0, min_tiles: int = 4
) -> NoiseFinding:
    """Per-tile noise statistics of a float32 grayscale image and the regions that disagree with the rest."""
    h, w = gray.shape
    empty = NoiseFinding(np.zeros((h, w), np.float32), 0.0, None, 1.0, 0.0, 0.0, None, 0.0)
    if h < 2 * block or w < 2 * block:
        return empty
    fine = np.abs(cv2.filter2D(gray, cv2.CV_32F, _KERNEL, borderType=cv2.BORDER_REFLECT))
    coarse = np.abs(cv2.filter2D(gray, cv2.CV_32F, _KERNEL_COARSE, borderType=cv2.BORDER_REFLECT))
    g = cv2.GaussianBlur(gray, (0, 0), 1.0)
    grad = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    # Smooth pixels only: below the image's 60th gradient percentile (Tai & Yang keep the flattest part);
    # clipped pixels carry no noise and would fake a "clean" region.
    smooth = (grad <= np.percentile(grad, 60)) & (gray > 3) & (gray < 252)
    sigma = block_reduce(fine, block, smooth) * (math.sqrt(math.pi / 2) / 6.0)
    coarse_t = block_reduce(coarse, block, smooth)
    counts = block_reduce(smooth.astype(np.float32), block)
    valid = np.isfinite(sigma) & (counts >= 0.15) & (sigma > 0.05) & np.isfinite(coarse_t) & (coarse_t > 0)
    if valid.sum() < 8:
        return empty
    log_sigma = np.log(np.where(valid, sigma, 1.0))
    log_spec = np.log(np.where(valid, sigma / np.where(valid, coarse_t, 1.0), 1.0))
    # Floors: texture and signal-dependent sensor noise alone spread authentic tiles by about this much on
    # the log scale, so a region must differ by ~3x the floor (about a factor 2 in level) to count.
    z_level = _robust_z(log_sigma, valid, 0.25)
    z_spec = _robust_z(log_spec, valid, 0.05)
    region_t, strength = _strongest_region(z_level, z_threshold, min_tiles)
    ratio = 1.0
    if region_t is not None:
        rest = valid & ~region_t
        if rest.any() and (region_t & valid).any():
            ratio = math.exp(float(log_sigma[region_t & valid].mean() - np.median(log_sigma[rest])))
    spec_t, _ = _strongest_region(z_spec, z_threshold, min_tiles)

    def to_pixels(tiles):
        return upsample_blocks(tiles.astype(np.float32), block, (h, w)) > 0.5 if tiles is not None else None

    return NoiseFinding(
        z_map=upsample_blocks(z_level, block, (h, w)),
        global_sigma=float(math.exp(np.median(log_sigma[valid]))),
        region=to_pixels(region_t),
        ratio=ratio,
        strength=strength,
        peak=float(np.abs(z_level).max()),
        spectrum_region=to_pixels(spec_t),
        spectrum_peak=float(np.abs(z_spec).max()),
    )
