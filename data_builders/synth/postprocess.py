"""Post-processing applied after the edit, as images are re-saved and shared: resize, blur, noise, JPEG.

The order is fixed (resize, blur, noise, JPEG) so the JPEG is the saved file itself: the returned pixels are
exactly what the written file decodes to. The mask follows resizing (nearest neighbour keeps its labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from data_builders.synth.config import SynthConfig


@dataclass
class Processed:
    image: np.ndarray
    mask: np.ndarray | None
    ops: list[dict[str, Any]] = field(default_factory=list)
    jpeg_bytes: bytes | None = None  # the encoded file when the last op is JPEG


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError(f"JPEG encoding at quality {quality} failed")
    return buf.tobytes()


def decode_bytes(data: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def postprocess(
    image: np.ndarray, mask: np.ndarray | None, rng: np.random.Generator, cfg: SynthConfig
) -> Processed:
    """Apply each post-processing step with its probability; ``ops`` records what was done, in order."""
    ops: list[dict[str, Any]] = []
    if rng.random() < cfg.p_resize:
        factor = float(rng.uniform(*cfg.resize_scale))
        h, w = image.shape[:2]
        size = (max(8, round(w * factor)), max(8, round(h * factor)))
        interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
        image = cv2.resize(image, size, interpolation=interp)
        if mask is not None:
            mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
        ops.append({"op": "resize", "factor": round(factor, 4), "size": list(size)})
    if rng.random() < cfg.p_blur:
        sigma = float(rng.uniform(*cfg.blur_sigma))
        image = cv2.GaussianBlur(image, (0, 0), sigma)
        ops.append({"op": "blur", "sigma": round(sigma, 3)})
    if rng.random() < cfg.p_noise:
        sigma = float(rng.uniform(*cfg.noise_sigma))
        noise = rng.standard_normal(image.shape, dtype=np.float32) * sigma
        image = np.clip(image + noise, 0, 255).astype(np.uint8)
        ops.append({"op": "noise", "sigma": round(sigma, 3)})
    jpeg = None
    if rng.random() < cfg.p_jpeg:
        quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        jpeg = encode_jpeg(image, quality)
        image = decode_bytes(jpeg)
        ops.append({"op": "jpeg", "quality": quality})
    return Processed(image, mask, ops, jpeg)
