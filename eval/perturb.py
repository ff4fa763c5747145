"""Robustness perturbations: the post-processing every localization benchmark re-runs detection under.

A spec is ``KIND:V1,V2,...`` (the ``--perturb`` flag), e.g. ``jpeg:50,70,90 blur:3,7 noise:5,15 resize:0.5``:

- ``jpeg:Q``   re-encode as JPEG at quality Q (OpenCV / libjpeg, 4:2:0), the TruFor / IMDL-BenCo protocol;
- ``blur:K``   Gaussian blur with a KxK kernel (K odd, sigma from K as OpenCV derives it);
- ``noise:S``  additive Gaussian noise of standard deviation S grey levels, clipped to 0..255, seeded per image;
- ``resize:F`` resize by factor F (area interpolation when shrinking, bilinear when enlarging). The image
  keeps its new size: predictions are resized back to the ground-truth mask by the evaluator.

Images are written as PNG (lossless) except for ``jpeg``, so only the named perturbation is applied.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cv2
import numpy as np

KINDS = ("jpeg", "blur", "noise", "resize")


@dataclass(frozen=True)
class Perturbation:
    kind: str
    value: float

    @property
    def tag(self) -> str:
        """A name for folders and tables, e.g. ``jpeg50``, ``resize0.5``."""
        v = int(self.value) if float(self.value).is_integer() else self.value
        return f"{self.kind}{v}"

    @property
    def suffix(self) -> str:
        """File extension the perturbed copy is written with."""
        return ".jpg" if self.kind == "jpeg" else ".png"

    def apply(self, image: np.ndarray, seed_key: str = "") -> np.ndarray:
        """The perturbed HxWx3 uint8 RGB image (``seed_key`` seeds the noise, e.g. the sample id)."""
        img = np.asarray(image)
        _check_rgb(img)
        if self.kind == "jpeg":
            ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(self.value)])
            if not ok:
                raise ValueError("JPEG encoding failed")
            return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy()
        if self.kind == "blur":
            k = int(self.value)
            return cv2.GaussianBlur(img, (k, k), 0)
        if self.kind == "noise":
            seed = int.from_bytes(hashlib.sha1(f"{seed_key}|{self.value}".encode()).digest()[:8], "little")
            noise = np.random.default_rng(seed).normal(0.0, self.value, img.shape)
            return np.clip(img.astype(np.float64) + noise, 0, 255).round().astype(np.uint8)
        f = float(self.value)
        h, w = img.shape[:2]
        size = (max(1, round(w * f)), max(1, round(h * f)))
        return cv2.resize(img, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)

    def encode(self, image: np.ndarray, seed_key: str = "") -> bytes:
        """The perturbed image as file bytes (JPEG for ``jpeg``, so its bytes are the one lossy round trip)."""
        if self.kind == "jpeg":
            _check_rgb(image)
            ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(self.value)])
        else:
            ok, buf = cv2.imencode(".png", self.apply(image, seed_key)[:, :, ::-1])
        if not ok:
            raise ValueError(f"could not encode the {self.tag} copy")
        return buf.tobytes()


def _check_rgb(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 image, got {image.dtype} {image.shape}")


def _check(kind: str, value: float, spec: str) -> None:
    if kind == "jpeg" and not (1 <= value <= 100 and float(value).is_integer()):
        raise ValueError(f"{spec!r}: JPEG quality must be an integer 1..100")
    if kind == "blur" and not (value >= 1 and float(value).is_integer() and int(value) % 2 == 1):
        raise ValueError(f"{spec!r}: blur kernel must be an odd integer >= 1")
    if kind == "noise" and value < 0:
        raise ValueError(f"{spec!r}: noise sigma must be >= 0")
    if kind == "resize" and not (0 < value <= 8):
        raise ValueError(f"{spec!r}: resize factor must be in (0, 8]")


def parse_perturbations(specs) -> list[Perturbation]:
    """Parse ``["jpeg:50,70", "blur:3"]`` (or one space-separated string) into perturbations, in order."""
    if isinstance(specs, str):
        specs = specs.split()
    out: list[Perturbation] = []
    for spec in specs or []:
        kind, sep, values = spec.partition(":")
        kind = kind.strip().lower()
        if not sep or kind not in KINDS or not values.strip():
            raise ValueError(f"bad perturbation {spec!r}: expected KIND:V1,V2 with KIND in {KINDS}")
        for raw in values.split(","):
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"bad perturbation {spec!r}: {raw!r} is not a number") from None
            _check(kind, value, spec)
            p = Perturbation(kind, value)
            if p not in out:
                out.append(p)
    return out
