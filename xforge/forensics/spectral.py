"""A spectral cue for images generated as a whole: periodic peaks left by a generator's upsampling layers.

Image generators upsample their feature maps (transposed convolution, or nearest/bilinear interpolation
followed by convolution). That leaves a trace with the upsampling period in every part of the image, and so
isolated peaks in the spectrum of its high-pass residual at the frequencies ``k/f`` cycles per pixel
(Durall, Keuper & Keuper 2020, "Watch your up-convolution: CNN based generative deep neural networks are
failing to reproduce spectral distributions"; Frank et al. 2020, "Leveraging frequency analysis for deep fake
image recognition", whose DCT spectra of GAN images show the same grid of peaks).

Measurement (:func:`spectral_cue`), on the luma of a central crop at full resolution (sides multiples of 8,
so every ``k/8`` frequency falls on an FFT bin):

1. three high-pass residuals, taken as magnitudes: the 3x3 Laplacian ``|L|``, and the horizontal and vertical
   first differences ``|Dx|``, ``|Dy|``. Interpolation makes a residual's *size* periodic even where its sign
   is not (the resampling detectors of Popescu & Farid 2005 and Kirchner 2008 rest on this): nearest and
   bilinear upsampling show in ``|Dx|``/``|Dy|``, a transposed convolution's checkerboard in ``|L|`` too;
2. their power spectra (mean removed, Hann window);
3. peak strength at a frequency = ``log(mean power over its 3x3 bins / median power over the ring 3-5 bins
   away)``: a local peak-to-background ratio. Durall et al. reduce the spectrum to its azimuthal average;
   here each candidate peak is compared with the ring of bins around it instead, because a photo's spectrum
   falls steeply with frequency and the spectra of directional differences are not isotropic;
4. for each period ``f`` in (2, 4): the median strength over the 2-D grid ``(a/f, b/f)`` of ``|L|`` (DC left
   out) and over the axis frequencies ``k/f`` of ``|Dx|`` (horizontal) and ``|Dy|`` (vertical). The same
   medians at the odd eighths (``1/8, 3/8, 5/8, 7/8``) are the JPEG reference: an 8x8 block grid peaks at
   every ``k/8``, 2x and 4x upsampling do not at the odd ones;
5. cue = the largest excess, over periods and residuals, of the strength over its JPEG reference.

:func:`synthetic_probability` turns the cue into a probability with a logistic (centre 2.75, slope 4) set on
samples kept apart from the evaluation's seeds: 30 realistic authentic photos and 30 authentic scenes of the
kinds ``scripts/eval_forensics.py`` uses reached at most 2.29, the installed photos re-saved as JPEG at quality
30-70 (some enlarged by 1.1-1.6) at most 2.11, while uncompressed 2x/4x simulated generated images
(``data_builders.synth.generated``) reached at least 2.19 and mostly above 3. The evaluation reports the
resulting AUC and false-positive rates.

Limits: a generated image resized afterwards by a non-integer factor moves its peaks off this grid, and JPEG
compression of a generated image weakens them (the simulator's JPEG-saved images are missed far more often);
periodic texture (fabric, tiles, fences) can peak at these frequencies too; an authentic photo enlarged by
exactly 2x or 4x carries the same trace as a generator's upsampling and would be called synthetic. An 8x
upsampling coincides with the JPEG grid and is not distinguished. Untested: camera-fresh photos that keep
their demosaicing pattern (period 2), and images of real generators.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

PERIODS = (2, 4)
MAX_CROP = 1024  # the cue reads a central crop of at most this side (peaks are image-wide)
MIN_CROP = 64
CENTRE = 2.75  # cue value at which the probability is 0.5
SLOPE = 4.0  # logistic slope per cue unit


@dataclass
class SpectralFinding:
    """What the spectral cue measured: the cue value, the period whose peaks stand out most, and per period
    the excess over the JPEG reference."""

    cue: float
    period: int | None  # None: the image is too small to measure
    excess: dict[int, float] = field(default_factory=dict)
    crop: tuple[int, int] | None = None  # (width, height) of the analysed crop


def luma(image: np.ndarray) -> np.ndarray:
    """Float32 luma of an HxW or HxWx3 uint8 RGB image (JPEG's luma weights, so chroma subsampling cancels)."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.float32)
    return image[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def central_crop(image: np.ndarray, max_side: int = MAX_CROP) -> np.ndarray:
    """The central crop with sides that are multiples of 8 and at most ``max_side``."""
    h, w = image.shape[:2]
    ch, cw = min(h, max_side) // 8 * 8, min(w, max_side) // 8 * 8
    y, x = (h - ch) // 2, (w - cw) // 2
    return image[y : y + ch, x : x + cw]


def _power(r: np.ndarray, window: np.ndarray) -> np.ndarray:
    r = (r - r.mean()) * window
    f = cv2.dft(r.astype(np.float32), flags=cv2.DFT_COMPLEX_OUTPUT)
    return f[..., 0].astype(np.float64) ** 2 + f[..., 1].astype(np.float64) ** 2


def residual_spectra(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power spectra (mean removed, Hann-windowed) of the magnitudes of three high-pass residuals: the 3x3
    Laplacian, the horizontal and the vertical first difference."""
    h, w = gray.shape
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    lap = np.abs(cv2.Laplacian(gray, cv2.CV_32F, ksize=1))
    dx = np.abs(np.diff(gray, axis=1, append=gray[:, -1:]))
    dy = np.abs(np.diff(gray, axis=0, append=gray[-1:, :]))
    return _power(lap, window), _power(dx, window), _power(dy, window)


def peak_strength(power: np.ndarray, iy: int, ix: int) -> float:
    """log(mean power in the 3x3 bins at (iy, ix) / median power in the ring 3-5 bins away), wrapping."""
    h, w = power.shape
    ys = (iy + np.arange(-5, 6)) % h
    xs = (ix + np.arange(-5, 6)) % w
    block = power[np.ix_(ys, xs)]
    centre = block[4:7, 4:7].mean()
    ring = np.ones(block.shape, bool)
    ring[3:8, 3:8] = False
    background = float(np.median(block[ring]))
    return math.log((centre + 1e-12) / (background + 1e-12))


def grid_strength(power: np.ndarray, fractions: list[float]) -> float:
    """Median peak strength over the 2-D grid of frequencies ``(a, b)``, ``a, b`` in ``[0] + fractions``
    (cycles per pixel; DC left out)."""
    h, w = power.shape
    grid = [0.0, *fractions]
    return float(
        np.median([peak_strength(power, round(a * h), round(b * w)) for a in grid for b in grid if a or b])
    )


def axis_strength(px: np.ndarray, py: np.ndarray, fractions: list[float]) -> float:
    """Median peak strength at horizontal frequencies ``fractions`` (cycles per pixel) in ``px`` and the
    same vertical frequencies in ``py``."""
    h, w = px.shape
    values = [peak_strength(px, 0, round(f * w)) for f in fractions]
    values += [peak_strength(py, round(f * h), 0) for f in fractions]
    return float(np.median(values))


def spectral_cue(image: np.ndarray) -> SpectralFinding:
    """The generated-image cue of an HxW(x3) image (see the module docstring); 0 when it is too small."""
    gray = luma(central_crop(np.asarray(image)))
    if min(gray.shape) < MIN_CROP:
        return SpectralFinding(0.0, None)
    lap, dx, dy = residual_spectra(gray)
    strengths = {}
    for p in PERIODS:
        grid = [k / p for k in range(1, p)]
        strengths[p] = (grid_strength(lap, grid), axis_strength(dx, dy, grid))
    odd = [k / 8 for k in (1, 3, 5, 7)]
    references = (grid_strength(lap, odd), axis_strength(dx, dy, odd))
    excess = {p: max(s - r for s, r in zip(strengths[p], references)) for p in PERIODS}
    period = max(excess, key=excess.get)
    h, w = gray.shape
    return SpectralFinding(excess[period], period, excess, (w, h))


def synthetic_probability(cue: float) -> float:
    """Probability that the image was generated as a whole, from :func:`spectral_cue`'s value (logistic)."""
    return 1.0 / (1.0 + math.exp(-SLOPE * (cue - CENTRE)))
