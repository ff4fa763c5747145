"""Synthetic (edited, original) web pairs with exact masks, to measure the annotator.

The edit is the project's forgery generator (:func:`data_builders.synth.make_sample`: splice, copy-move,
removal, multi-source, with its own post-processing); the original is the host photo before the edit. Then,
as happens when an edit and its source are found on the web, one side of the pair (the original or the
edited image, drawn at random) is resized, cropped, possibly rotated by a few degrees (and cropped clear of
the rotated corners), the original possibly mirrored, and the result re-saved as JPEG. When the edited side
is transformed, its ground-truth mask is transformed with it.

When the original side is cropped, part of the edit can fall outside what the original still shows. Those
pixels have no counterpart: comparing the pair cannot tell whether they were edited, so they are left out of
the ground truth (``meta.mask_cut`` records the share left out; a pair with fewer than 64 comparable edited
pixels is redrawn). Before this, 5% of the edited pixels (seed 1, 120 pairs; up to 97% of one pair's) lay
there, and no annotator could score above about 0.95 mean IoU.

Host photos: the real photographs that ship inside installed packages (scikit-image's sample data, and
scikit-learn's two sample images), cropped and scaled into several hosts each; procedural scenes
(:mod:`data_builders.synth.scene`) when neither package is installed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from data_builders.synth import EditError, Source, SynthConfig, make_sample
from data_builders.synth.postprocess import decode_bytes, encode_jpeg

# Colour photographs among scikit-image's sample data (the rest are microscopy, charts or grey).
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")
HOST_SIDE = (512, 800)  # hosts' longer side


@dataclass
class WebTransform:
    """What happened to one side of a pair between the edit and the web (recorded in the pair's meta)."""

    side: str  # "original" | "edited"
    scale: float = 1.0
    rotation_deg: float = 0.0
    crop: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # x0, y0, x1, y1 as fractions
    flip: bool = False
    jpeg_quality: int | None = None

    def _geometry(self, h: int, w: int) -> tuple[np.ndarray, tuple[int, int], tuple[int, int, int, int]]:
        """The affine map (scale and rotation) of an ``h`` x ``w`` image, its output size, and the crop box
        ``(x0, y0, x1, y1)`` in that output."""
        size = (max(16, round(w * self.scale)), max(16, round(h * self.scale)))
        m = cv2.getRotationMatrix2D((w / 2, h / 2), self.rotation_deg, 1.0)
        m[:, :2] *= self.scale
        m[:, 2] = np.array(size) / 2 - m[:, :2] @ np.array([w / 2, h / 2])
        # Crop clear of the black corners a rotation leaves, then the drawn crop inside that.
        sw, sh = size
        t = abs(math.sin(math.radians(self.rotation_deg)))
        mx, my = math.ceil(sh * t) + 1 if t else 0, math.ceil(sw * t) + 1 if t else 0
        x0, y0 = mx + round(self.crop[0] * (sw - 2 * mx)), my + round(self.crop[1] * (sh - 2 * my))
        x1, y1 = mx + round(self.crop[2] * (sw - 2 * mx)), my + round(self.crop[3] * (sh - 2 * my))
        return m, size, (x0, y0, x1, y1)

    def footprint(self, shape: tuple[int, int], frame: tuple[int, int] | None = None) -> np.ndarray:
        """Which pixels of an image of ``shape`` (h, w) survive :meth:`apply` (bool), on a grid of ``frame``
        (h, w; default ``shape``) laid over the same picture: the crop keeps only part of what it is given."""
        h, w = shape
        fh, fw = frame or shape
        m, _, (x0, y0, x1, y1) = self._geometry(h, w)
        # Pixel centres of the frame, in the image's pixel coordinates, then where apply() puts them.
        xs = (np.arange(fw, dtype=np.float64) + 0.5) * (w / fw) - 0.5
        ys = (np.arange(fh, dtype=np.float64) + 0.5) * (h / fh) - 0.5
        gx, gy = np.meshgrid(xs, ys)
        tx = m[0, 0] * gx + m[0, 1] * gy + m[0, 2]
        ty = m[1, 0] * gx + m[1, 1] * gy + m[1, 2]
        return (tx >= x0 - 0.5) & (tx < x1 - 0.5) & (ty >= y0 - 0.5) & (ty < y1 - 0.5)

    def apply(
        self, image: np.ndarray, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        h, w = image.shape[:2]
        m, size, (x0, y0, x1, y1) = self._geometry(h, w)
        out = cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        out_mask = None
        if mask is not None:
            out_mask = cv2.warpAffine(mask, m, size, flags=cv2.INTER_NEAREST, borderValue=0)
        out = out[y0:y1, x0:x1]
        if out_mask is not None:
            out_mask = out_mask[y0:y1, x0:x1]
        if self.flip:
            out = out[:, ::-1]
            out_mask = out_mask[:, ::-1] if out_mask is not None else None
        out = np.ascontiguousarray(out)
        if self.jpeg_quality is not None:
            out = decode_bytes(encode_jpeg(out, self.jpeg_quality))
        return out, (np.ascontiguousarray(out_mask) if out_mask is not None else None)

    def meta(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "scale": round(self.scale, 4),
            "rotation_deg": round(self.rotation_deg, 3),
            "crop": [round(v, 4) for v in self.crop],
            "flip": self.flip,
            "jpeg_quality": self.jpeg_quality,
        }


def draw_transform(rng: np.random.Generator) -> WebTransform:
    side = "original" if rng.random() < 0.5 else "edited"
    keep_w, keep_h = rng.uniform(0.75, 1.0, 2)
    x0, y0 = rng.uniform(0, 1 - keep_w), rng.uniform(0, 1 - keep_h)
    return WebTransform(
        side=side,
        scale=float(rng.uniform(0.6, 1.3)),
        rotation_deg=float(rng.uniform(-4, 4)) if rng.random() < 0.5 else 0.0,
        crop=(float(x0), float(y0), float(x0 + keep_w), float(y0 + keep_h)),
        flip=side == "original" and bool(rng.random() < 0.15),
        jpeg_quality=int(rng.integers(60, 96)) if rng.random() < 0.8 else None,
    )


@dataclass
class SyntheticPair:
    edited: np.ndarray
    original: np.ndarray
    mask: np.ndarray  # bool, at the edited image's size
    meta: dict[str, Any] = field(default_factory=dict)


def base_photos() -> list[tuple[str, np.ndarray]]:
    """Real photographs shipped inside installed packages, as RGB uint8 arrays (may be empty)."""
    import importlib.util

    files = []
    for package, folder, names in (
        ("skimage", "data", SKIMAGE_PHOTOS),
        ("sklearn", "datasets/images", ("china.jpg", "flower.jpg")),
    ):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            files += [(f"{package}/{n}", Path(spec.origin).parent / folder / n) for n in names]
    photos = []
    for name, path in files:
        bgr = cv2.imread(
            str(path), cv2.IMREAD_COLOR
        )  # the files ship with the packages; missing ones are skipped
        if bgr is not None:
            photos.append((name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    return photos


class HostPool:
    """Hosts for the generator: random crops/scales of the base photos (a ``SourcePool`` look-alike)."""

    def __init__(self, photos: list[tuple[str, np.ndarray]], per_photo: int = 6, seed: int = 0):
        rng = np.random.default_rng([seed, 7919])
        self.sources: list[Source] = []
        if not photos:
            from data_builders.synth.scene import render_scene

            photos = [(f"scene/{i}", render_scene(rng, (512, 384))) for i in range(8)]
        for name, photo in photos:
            h, w = photo.shape[:2]
            for k in range(per_photo):
                fw, fh = rng.uniform(0.6, 1.0, 2)
                cw, ch = max(64, round(w * fw)), max(64, round(h * fh))
                x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
                crop = photo[y0 : y0 + ch, x0 : x0 + cw]
                side = rng.uniform(*HOST_SIDE)
                f = side / max(cw, ch)
                crop = cv2.resize(
                    crop,
                    (round(cw * f), round(ch * f)),
                    interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC,
                )
                self.sources.append(Source(f"{name}#{k}", np.ascontiguousarray(crop)))

    def __len__(self) -> int:
        return len(self.sources)

    def is_bad(self, index: int) -> bool:
        return False

    def get(self, index: int) -> Source:
        return self.sources[index]


def make_pair(index: int, pool: HostPool, cfg: SynthConfig, seed: int = 0, tries: int = 10) -> SyntheticPair:
    """Pair ``index``: a generated forgery and its host photo, one side transformed as on the web."""
    for attempt in range(tries):
        sample = make_sample(index + attempt * 100_003, pool, cfg, seed)
        if sample.forgery is None:
            raise EditError("the generator config must not include 'authentic' for pairs")
        rng = np.random.default_rng([seed, index, attempt, 31])
        t = draw_transform(rng)
        edited, mask = sample.processed.image, sample.processed.mask > 0
        original = sample.host.image
        cut = 0.0
        if t.side == "edited":
            edited, m = t.apply(edited, mask.astype(np.uint8))
            mask = m > 0
        else:
            original, _ = t.apply(original)
            # What the original's crop removed has no counterpart to compare with: no pair annotator can
            # say whether it was edited, so it is no part of the ground truth.
            seen = t.footprint(sample.host.image.shape[:2], mask.shape)
            cut = 1.0 - float((mask & seen).sum()) / max(1, int(mask.sum()))
            mask = mask & seen
        if mask.sum() >= 64:
            meta = {
                "kind": sample.kind,
                "host": sample.host.name,
                "postprocess": sample.processed.ops,
                "web": t.meta(),
                "mask_cut": round(cut, 4),  # share of the edit outside the original's view, left out
            }
            return SyntheticPair(edited, original, mask, meta)
    raise EditError(f"pair {index}: the crop left no comparable edited pixels in {tries} tries")
