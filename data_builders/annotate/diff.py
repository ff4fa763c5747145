"""A soft map of where an edited image differs from its registered original, robust to re-compression,
resampling and colour shifts.

Steps, each against one nuisance of web pairs:

1. colour: each channel of the original is mapped to the edited one by an affine fit (gain, offset), refit on
   the pixels that agree (trimmed least squares), so a global brightness/contrast/white-balance change
   between the two files is not an edit;
2. sharpness, JPEG noise and interpolation: when one side was enlarged or saved softer, the sharper one is
   blurred to match (:func:`match_sharpness`); then both are smoothed (Gaussian) before comparing;
3. residual misregistration and resampling: a pixel's difference is how far it lies outside the range of
   the original's values within one pixel of it (3x3), so a sub-pixel shift at a sharp edge does not
   light up;
4. removal: inpainting and smudging leave values inside that range but wipe the texture; where the edit
   keeps less than ``TEXTURE_KEPT`` of the original's local contrast, the contrast lost counts as a
   difference too;
5. noise level: differences are measured in units of the pair's own noise (the median absolute difference
   over the overlap, which is mostly untouched) with a floor, then pooled over a small neighbourhood and
   mapped to ``[0, 1]`` by a logistic: clearly different pixels go to ~1, agreeing ones to ~0, and only
   ambiguous evidence lands in between -- what QES measures;
6. faint edits: a colour-matched patch or an inpainted smear can differ by only a few grey levels per pixel,
   below the noise unit, but does so coherently over an area. A coarse scale averages the signed
   per-channel difference over a wider window (normalised convolution over the pixels the fine scale left
   undecided, so a strong edit does not bleed outwards), where zero-mean noise cancels and such a
   difference stands out; a pixel counts by the stronger of the two scales;
7. spill: a pixel scoring far below the peak right next to it is the blur's tail past an edit's edge, and is
   damped (:func:`_damp_spill`);
8. fills: where the edit is smoother than the original, the local energy of the difference is weak evidence
   of an inpainted or smudged area (:func:`grain_loss`), kept apart from the soft map: refinement lets it
   extend a region that holds confident evidence, and QES does not see it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SMOOTH_SIGMA = 0.7  # before differencing, against JPEG blocking and resampling
POOL_SIGMA = 1.0  # pooling of the per-pixel difference
MIN_NOISE = 5  # grey levels: the threshold unit never goes below this (clean, lossless pairs)
NOISE_MULT = 3.0  # a difference of NOISE_MULT x the pair's noise level is the 0.5 point of the map
SLOPE = 8.0  # logistic slope in threshold units: 1.34 x threshold -> p = 15/16, 0.66 x -> p = 1/16
TRIM = 2.5  # colour fit: pixels within TRIM robust sigmas of the fit are refit
RANGE_SHARE = 0.5  # share of the 3x3 neighbours' range tolerated (0.5 ~ a half-pixel shift)
TEXTURE_SIGMA = 3.0  # window of the local contrast the texture term compares
TEXTURE_KEPT = 0.6  # the edit keeps less than this share of the original's local contrast: smoothed away
COARSE_SIGMA = 3.0  # window of the coarse scale, which finds faint but spatially coherent differences
COARSE_MIN_NOISE = 3.0  # grey levels: floor of the coarse scale's threshold unit
PEAK_R = 2  # spill damping: neighbourhood radius (pixels)
PEAK_SHARE = 0.25  # a score under this share of the neighbourhood's peak is spill
PEAK_DAMP = 0.5  # and is scaled by this
ENERGY_SIGMA = 3.0  # window of the grain-loss cue's local difference energy
ENERGY_MULT = 1.5  # local energy above this many times the pair's median energy counts (score 1)
ENERGY_MIN = 1.0  # grey levels: floor of that unit
GRAIN_KEPT = 0.7  # the grain-loss cue applies where the edit keeps less than this share of the local contrast
BLUR_CANDIDATES = (0.5, 0.8, 1.2, 1.7, 2.4)  # sharpness matching: extra sigmas tried on either side


def match_colours(original: np.ndarray, edited: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``original`` (float32 HxWx3) with each channel mapped by a trimmed least-squares affine fit onto
    ``edited`` over the ``valid`` pixels. The trimming starts from the identity, so the edit itself (large
    residuals) never pulls the first fit; a fit with an implausible gain falls back to the identity."""
    out = original.copy()
    step = max(1, int(np.sqrt(valid.sum() / 50_000)))  # fitting on a subsample is as good and faster
    sub = valid[::step, ::step]
    for c in range(3):
        x = original[::step, ::step, c][sub].astype(np.float64)
        y = edited[::step, ::step, c][sub].astype(np.float64)
        gain, offset = 1.0, 0.0
        for _ in range(3):
            resid = y - (gain * x + offset)
            scale = 1.4826 * np.median(np.abs(resid - np.median(resid)))
            keep = np.abs(resid - np.median(resid)) < TRIM * max(scale, 2.0)
            if keep.sum() < 10 or np.ptp(x[keep]) < 1e-6:
                break
            gain, offset = np.polyfit(x[keep], y[keep], 1)
        if 0.5 <= gain <= 2.0:
            out[..., c] = gain * original[..., c] + offset
    return out


def _trimmed_error(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
    """Mean absolute difference over the ``valid`` pixels, leaving out the largest 10% (the edit itself)."""
    d = np.abs(a - b)[valid]
    cut = np.percentile(d, 90)
    return float(d[d <= cut].mean())


def match_sharpness(edited: np.ndarray, original: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """Extra Gaussian sigmas ``(for edited, for original)`` that make the two equally sharp.

    When one side was enlarged (or saved softer) between the two files, its edges are blurrier and every
    edge of the image would differ. The sharper side is blurred with the sigma that best explains the other
    (least trimmed error on grey levels); at most one of the two sigmas is non-zero.
    """
    ge = cv2.cvtColor(edited, cv2.COLOR_RGB2GRAY).astype(np.float32)
    go = cv2.cvtColor(original, cv2.COLOR_RGB2GRAY).astype(np.float32)
    best, best_err = (0.0, 0.0), _trimmed_error(ge, go, valid)
    for sigma in BLUR_CANDIDATES:
        for which in (0, 1):
            a = cv2.GaussianBlur(ge, (0, 0), sigma) if which == 0 else ge
            b = cv2.GaussianBlur(go, (0, 0), sigma) if which == 1 else go
            err = _trimmed_error(a, b, valid)
            if err < best_err:
                best, best_err = ((sigma, 0.0) if which == 0 else (0.0, sigma)), err
    return best


def _tolerant_difference(edited: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Per pixel and channel, how far ``edited`` lies outside the range the original takes within one pixel
    of it, signed (above the range > 0, below < 0): zero for any sub-pixel shift or interpolation
    difference, which can only produce values between neighbouring pixels."""
    kernel = np.ones((3, 3), np.uint8)
    high = original + RANGE_SHARE * (cv2.dilate(original, kernel) - original)
    low = original - RANGE_SHARE * (original - cv2.erode(original, kernel))
    return np.maximum(edited - high, 0) - np.maximum(low - edited, 0)


def _rms(channels: np.ndarray) -> np.ndarray:
    return np.sqrt((channels**2).sum(axis=2) / 3.0)


def _local_std(gray: np.ndarray, sigma: float) -> np.ndarray:
    mean = cv2.GaussianBlur(gray, (0, 0), sigma)
    return np.sqrt(np.maximum(cv2.GaussianBlur(gray * gray, (0, 0), sigma) - mean * mean, 0))


def _smoothed_away(edited: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Texture the original has and the edit lost (inpainting, smudging): the original's local contrast
    where the edit keeps less than ``TEXTURE_KEPT`` of it, else 0 (grey levels)."""
    so = _local_std(original.mean(axis=2), TEXTURE_SIGMA)
    se = _local_std(edited.mean(axis=2), TEXTURE_SIGMA)
    return np.where(se < TEXTURE_KEPT * so, so - se, 0.0).astype(np.float32)


def _noise_level(d: np.ndarray, valid: np.ndarray) -> float:
    """Robust scale of ``d`` over ``valid`` (1.4826 x the median: the overlap is mostly unedited)."""
    return 1.4826 * float(np.median(d[valid])) if valid.any() else 0.0


def _coarse_score(signed: np.ndarray, valid: np.ndarray, undecided: np.ndarray) -> np.ndarray:
    """The signed per-channel difference averaged over a ``COARSE_SIGMA`` window, in units of its own noise
    level (floor ``COARSE_MIN_NOISE``). Normalised convolution over the ``undecided`` pixels only, so a
    strong edit does not bleed into its surroundings through the wide window."""
    weight = (valid & undecided).astype(np.float32)
    num = cv2.GaussianBlur(signed * weight[..., None], (0, 0), COARSE_SIGMA)
    den = cv2.GaussianBlur(weight, (0, 0), COARSE_SIGMA)
    coarse = _rms(num / np.maximum(den, 1e-3)[..., None]) * (den > 0.2)
    return coarse / max(COARSE_MIN_NOISE, NOISE_MULT * _noise_level(coarse, valid))


def grain_loss(
    signed: np.ndarray, valid: np.ndarray, undecided: np.ndarray, edited: np.ndarray, original: np.ndarray
) -> np.ndarray:
    """Weak evidence of a fill (inpainting, cloning of a smooth patch, smudging): where the edit is smoother
    than the original (less than ``GRAIN_KEPT`` of its local contrast), the local RMS of the difference
    (``ENERGY_SIGMA`` window, normalised convolution over the ``undecided`` pixels) in units of
    ``ENERGY_MULT`` x its median over the pair; 0 elsewhere.

    A fill over a flat area differs from the original by little more than the original's grain (sensor
    noise, fine texture), which the fill does not have: a pixel's difference stays below the noise unit, yet
    over a window it adds up to more than the differences of the untouched areas, whose grain both images
    share. Alone this is too weak to call an edit (it lights up wherever one side was smoothed by
    re-compression); :func:`data_builders.annotate.refine.refine` only lets it extend regions that already hold
    confident evidence."""
    weight = (valid & undecided).astype(np.float32)
    d = _rms(signed)
    num = cv2.GaussianBlur(d * d * weight, (0, 0), ENERGY_SIGMA)
    den = cv2.GaussianBlur(weight, (0, 0), ENERGY_SIGMA)
    energy = np.sqrt(num / np.maximum(den, 1e-3)) * (den > 0.2)
    median = float(np.median(energy[valid])) if valid.any() else 0.0
    smoother = _local_std(edited.mean(axis=2), TEXTURE_SIGMA) < GRAIN_KEPT * _local_std(
        original.mean(axis=2), TEXTURE_SIGMA
    )
    score = energy / max(ENERGY_MIN, ENERGY_MULT * median)
    return np.where(valid & smoother, score, 0.0).astype(np.float32)


def _damp_spill(z: np.ndarray) -> np.ndarray:
    """Smoothing and pooling spill a strong difference a pixel or two past the edit's edge, where it still
    clears the threshold; those pixels sit far below the peak next to them. Scores under ``PEAK_SHARE`` of
    the maximum within ``PEAK_R`` pixels are damped by ``PEAK_DAMP``."""
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * PEAK_R + 1, 2 * PEAK_R + 1))
    return np.where(z < PEAK_SHARE * cv2.dilate(z, disk), PEAK_DAMP * z, z)


@dataclass
class DifferenceMaps:
    prob: np.ndarray  # HxW float32 in [0, 1]: the soft map (QES is computed on it)
    weak: np.ndarray  # HxW float32: grain-loss score (:func:`grain_loss`), > 1 counts as weak evidence
    noise: float  # the pair's noise level (grey levels) the map was scaled by


def difference_maps(edited: np.ndarray, warped: np.ndarray, valid: np.ndarray) -> DifferenceMaps:
    """Soft map in ``[0, 1]`` (0 outside ``valid``) of where ``edited`` differs from the registered original
    ``warped`` (both HxWx3 uint8), the grain-loss map, and the noise level (grey levels) it was scaled by."""
    sigma_e, sigma_o = match_sharpness(edited, warped, valid)
    e = edited.astype(np.float32)
    o = match_colours(warped.astype(np.float32), e, valid)
    e = cv2.GaussianBlur(e, (0, 0), float(np.hypot(SMOOTH_SIGMA, sigma_e)))
    o = cv2.GaussianBlur(o, (0, 0), float(np.hypot(SMOOTH_SIGMA, sigma_o)))
    signed = _tolerant_difference(e, o)
    d = np.maximum(_rms(signed), _smoothed_away(e, o))
    d = cv2.GaussianBlur(d, (0, 0), POOL_SIGMA)
    noise = _noise_level(d, valid)
    unit = max(MIN_NOISE, NOISE_MULT * noise)
    undecided = d < unit
    z = np.maximum(d / unit, _coarse_score(signed, valid, undecided))
    z = _damp_spill(z)
    prob = 1.0 / (1.0 + np.exp(-SLOPE * (z - 1.0)))
    prob[~valid] = 0.0
    return DifferenceMaps(prob.astype(np.float32), grain_loss(signed, valid, undecided, e, o), noise)
