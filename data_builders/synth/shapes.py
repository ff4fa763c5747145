"""Region shapes for the forgeries: random polygons, ellipses and blobs, or object masks given by a manifest.

A shape is a tight binary patch (uint8 0/1, no empty border rows/columns); placing it is the edit's job.
"""

from __future__ import annotations

import cv2
import numpy as np


def _crop(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        raise ValueError("empty shape")
    return np.ascontiguousarray(mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1], dtype=np.uint8)


def _side_for_area(image_shape: tuple[int, int], area_fraction: float, fill: float) -> int:
    """Side of the square canvas whose drawn shape (covering ``fill`` of the canvas) has the wanted area."""
    h, w = image_shape
    side = int(round(np.sqrt(area_fraction * h * w / fill)))
    return int(np.clip(side, 8, max(8, min(h, w) - 2)))


def polygon(rng: np.random.Generator, side: int) -> np.ndarray:
    """A star-shaped random polygon (3-10 vertices at sorted angles, random radii)."""
    n = int(rng.integers(3, 11))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = rng.uniform(0.45, 1.0, n) * side / 2
    c = side / 2
    pts = np.stack([c + radii * np.cos(angles), c + radii * np.sin(angles)], axis=1)
    canvas = np.zeros((side, side), np.uint8)
    cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1)
    return canvas


def ellipse(rng: np.random.Generator, side: int) -> np.ndarray:
    """A rotated ellipse with aspect ratio up to 3."""
    canvas = np.zeros((side, side), np.uint8)
    a = side / 2 - 1
    b = a * rng.uniform(0.33, 1.0)
    angle = float(rng.uniform(0, 180))
    cv2.ellipse(canvas, (side // 2, side // 2), (int(a), max(1, int(b))), angle, 0, 360, 1, -1)
    return canvas


def blob(rng: np.random.Generator, side: int) -> np.ndarray:
    """A smooth free-form region: thresholded low-frequency noise inside a soft disc, largest component."""
    coarse = rng.standard_normal((6, 6)).astype(np.float32)
    field = cv2.resize(coarse, (side, side), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    r = np.hypot(yy - side / 2, xx - side / 2) / (side / 2)
    field = field - 2.5 * r**2 + 1.2  # the disc term keeps the blob centred and closed
    canvas = (field > 0).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(canvas, connectivity=8)
    if n <= 1:
        return ellipse(rng, side)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return (labels == largest).astype(np.uint8)


_DRAW = {"polygon": (polygon, 0.45), "ellipse": (ellipse, 0.55), "blob": (blob, 0.5)}


def random_shape(
    rng: np.random.Generator,
    image_shape: tuple[int, int],
    area_range: tuple[float, float],
    kinds: tuple[str, ...],
) -> tuple[np.ndarray, str]:
    """Draw a shape of one of ``kinds`` covering about a fraction in ``area_range`` of the image."""
    kind = kinds[int(rng.integers(len(kinds)))]
    draw, fill = _DRAW[kind]
    side = _side_for_area(image_shape, float(rng.uniform(*area_range)), fill)
    shape = draw(rng, side)
    if shape.sum() < 16:  # degenerate draw on a tiny canvas
        shape = ellipse(rng, side)
    return _crop(shape), kind


def object_shape(mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """The tight patch of an object mask and its top-left corner ``(x, y)`` in the mask's image."""
    m = (np.asarray(mask) > 0).astype(np.uint8)
    ys, xs = np.nonzero(m)
    if ys.size == 0:
        raise ValueError("empty object mask")
    return _crop(m), (int(xs.min()), int(ys.min()))


def fit_patch(shape: np.ndarray, image_shape: tuple[int, int], margin: int = 2) -> np.ndarray:
    """Shrink a patch (nearest) so it fits inside the image with a margin; unchanged when it already fits."""
    h, w = image_shape
    ph, pw = shape.shape
    factor = min(1.0, (h - 2 * margin) / ph, (w - 2 * margin) / pw)
    if factor >= 1.0:
        return shape
    size = (max(1, int(pw * factor)), max(1, int(ph * factor)))
    return cv2.resize(shape, size, interpolation=cv2.INTER_NEAREST)
