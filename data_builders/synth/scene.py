"""Procedural photo-like scenes: sky/ground gradients, textured objects, soft shading and sensor-like noise.

Used where a real photo cannot be shipped or downloaded (benchmarks, tests, the README example). A
generated image has no author, so the scenes and anything made from them are in the public domain.
"""

from __future__ import annotations

import cv2
import numpy as np


def _texture(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Smooth multi-scale noise in [-1, 1] (sum of upsampled random grids, a cheap value noise)."""
    out = np.zeros((h, w), np.float32)
    for octave in range(3):
        n = cells * 2**octave
        grid = rng.standard_normal((n, n)).astype(np.float32)
        out += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) / 2**octave
    return np.clip(out / 2.0, -1.0, 1.0)


def render_scene(rng: np.random.Generator, size: tuple[int, int] = (512, 512)) -> np.ndarray:
    """A ``size=(width, height)`` RGB uint8 scene: horizon, textured ground, a few lit objects, noise."""
    w, h = size
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    horizon = rng.uniform(0.3, 0.6)
    sky_top, sky_low = rng.uniform(0.3, 0.9, 3), rng.uniform(0.6, 1.0, 3)
    ground_a, ground_b = rng.uniform(0.1, 0.6, 3), rng.uniform(0.1, 0.6, 3)
    t_sky = np.clip(yy / horizon, 0, 1)
    t_ground = np.clip((yy - horizon) / (1 - horizon), 0, 1)
    img = np.where(
        yy < horizon, sky_top * (1 - t_sky) + sky_low * t_sky, ground_a * (1 - t_ground) + ground_b * t_ground
    )
    img = np.broadcast_to(img, (h, w, 3)).astype(np.float32).copy()
    ground = (yy[..., 0] >= horizon) * np.ones((1, w), np.float32)
    img += (0.12 * _texture(rng, h, w, 24) * ground)[..., None]
    img += (0.04 * _texture(rng, h, w, 3))[..., None]
    light = np.array([rng.uniform(-1, 1), -1.0])
    for _ in range(int(rng.integers(3, 7))):
        cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(horizon, 0.95) * h
        r = rng.uniform(0.05, 0.16) * min(w, h)
        colour = rng.uniform(0.05, 0.95, 3)
        obj = np.zeros((h, w), np.float32)
        if rng.random() < 0.5:
            cv2.circle(obj, (int(cx), int(cy - r)), int(r), 1.0, -1)
        else:
            cv2.rectangle(
                obj, (int(cx - r), int(cy - 2 * r)), (int(cx + r * rng.uniform(0.5, 1.2)), int(cy)), 1.0, -1
            )
        # Shadow on the ground, then the object shaded by a directional light.
        shadow = np.roll(obj, (int(r * 0.25), int(light[0] * r * 0.6)), axis=(0, 1))
        img *= (1 - 0.35 * cv2.GaussianBlur(shadow, (0, 0), r * 0.15 + 1))[..., None]
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        shade = 0.75 + 0.25 * np.clip(((xs - cx) * light[0] + (ys - cy) * light[1]) / (r * 2), -1, 1)
        surf = colour[None, None] * shade[..., None] + (0.08 * _texture(rng, h, w, 40))[..., None]
        alpha = cv2.GaussianBlur(obj, (0, 0), 0.7)[..., None]
        img = img * (1 - alpha) + surf * alpha
    img = cv2.GaussianBlur(img, (0, 0), 0.6)  # optics
    img += rng.normal(0, 0.012, img.shape).astype(np.float32)  # sensor noise
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
