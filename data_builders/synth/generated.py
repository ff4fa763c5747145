"""Whole-image "generated" samples: a photo re-rendered through an upsampling-artefact simulator.

In the spirit of AutoGAN (Zhang, Karaman & Chang 2019, "Detecting and simulating artifacts in GAN fake
images"): an image generator ends in upsampling layers, and those leave periodic traces in the spectrum
whatever the content. AutoGAN trains an auto-encoder to reproduce them; this simulator needs no training:

1. "encode": the photo (cropped to a multiple of the factor ``f``) is shrunk ``f`` times by area averaging;
2. "decode": it is upsampled back ``f`` times by one of
   - ``transposed``: a transposed convolution with stride ``f`` (zero insertion, then a ``2f x 2f`` kernel per
     channel): a bilinear tent plus random weights of relative size ``gen_kernel_jitter``. The ``f*f`` output
     phases get unequal gains, so the image carries an ``f``-periodic checkerboard, as in Odena et al. 2016
     ("Deconvolution and checkerboard artifacts") and the spectral peaks of Durall et al. 2020;
   - ``nearest`` or ``bilinear``: interpolation (OpenCV), whose replicas of the spectrum are weaker;
3. then the generator's usual post-processing (``postprocess.py``: resize, blur, noise, JPEG) as every kind.

These images simulate generator traces; they are not a substitute for images of real generators (no learned
content, no diffusion-model traces). The output is the source cropped to a multiple of ``f`` (at most
``f - 1`` pixels fewer per side). Deterministic in the ``rng`` it is given.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from data_builders.synth.config import GEN_FACTORS, UPSAMPLINGS, SynthConfig
from data_builders.synth.edits import EditError, Forgery, Source

__all__ = ["GEN_FACTORS", "UPSAMPLINGS", "generated", "simulate"]

MIN_DOWNSCALED = 16  # the "latent" image must keep some content


def tent_kernel(factor: int) -> np.ndarray:
    """The ``2f x 2f`` transposed-convolution kernel that performs bilinear upsampling by ``factor``."""
    t = 1.0 - np.abs(np.arange(2 * factor) - (2 * factor - 1) / 2) / factor
    return np.outer(t, t).astype(np.float32)


def transposed_upsample(image: np.ndarray, factor: int, kernels: list[np.ndarray]) -> np.ndarray:
    """Transposed convolution with stride ``factor``, one kernel per channel: zero insertion, then filtering."""
    h, w = image.shape[:2]
    out = np.empty((h * factor, w * factor, image.shape[2]), np.float32)
    for c, kernel in enumerate(kernels):
        stuffed = np.zeros((h * factor, w * factor), np.float32)
        stuffed[::factor, ::factor] = image[..., c]
        out[..., c] = cv2.filter2D(stuffed, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return out


def random_kernels(
    factor: int, jitter: float, rng: np.random.Generator, channels: int = 3
) -> list[np.ndarray]:
    """Tent kernels plus Gaussian weights of ``jitter`` times the tent's peak, each summing to ``factor**2``
    (so mean brightness is kept; the phases' gains differ, which is the checkerboard)."""
    base = tent_kernel(factor)
    kernels = []
    for _ in range(channels):
        k = base + jitter * base.max() * rng.standard_normal(base.shape).astype(np.float32)
        kernels.append(k * (factor * factor / k.sum()))
    return kernels


def simulate(
    image: np.ndarray, rng: np.random.Generator, cfg: SynthConfig
) -> tuple[np.ndarray, dict[str, Any]]:
    """Re-render ``image`` (HxWx3 uint8 RGB) through the simulator; returns the image and its settings."""
    upsampling = str(rng.choice(cfg.gen_upsampling))
    factor = int(rng.choice(cfg.gen_factors))
    h, w = image.shape[:2]
    sh, sw = h // factor, w // factor
    if min(sh, sw) < MIN_DOWNSCALED:
        raise EditError(
            f"image {w}x{h} is too small for factor {factor} (needs {MIN_DOWNSCALED * factor} px)"
        )
    crop = image[: sh * factor, : sw * factor]
    small = cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_AREA)
    meta: dict[str, Any] = {"upsampling": upsampling, "factor": factor, "size": [sw * factor, sh * factor]}
    if upsampling == "transposed":
        jitter = float(rng.uniform(*cfg.gen_kernel_jitter))
        kernels = random_kernels(factor, jitter, rng)
        up = transposed_upsample(small.astype(np.float32), factor, kernels)
        meta["kernel_jitter"] = round(jitter, 4)
        meta["kernel_size"] = 2 * factor
    else:
        interp = cv2.INTER_NEAREST if upsampling == "nearest" else cv2.INTER_LINEAR
        up = cv2.resize(small, (sw * factor, sh * factor), interpolation=interp).astype(np.float32)
    return np.clip(np.rint(up), 0, 255).astype(np.uint8), meta


def generated(host: Source, rng: np.random.Generator, cfg: SynthConfig) -> Forgery:
    """The host re-rendered as a whole: label ``synthetic``, manipulation ``full-synthetic``, no mask."""
    image, meta = simulate(host.image, rng, cfg)
    return Forgery(
        image,
        None,
        ["full-synthetic"],
        None,
        {"host": host.name, "simulator": meta},
        label="synthetic",
    )
