"""Realistic splices rebuilt offline from real photos that ship inside installable packages.

Photos: the colour and grey photographs in scikit-image's sample data (``skimage/data``: astronaut, chelsea,
coffee, motorcycle left/right, rocket, Hubble deep field, retina, camera) and scikit-learn's sample images
(``china.jpg``, ``flower.jpg``). Whatever of these is installed is used; nothing is downloaded.

One sample (deterministic per seed):

1. a host crop from one photo (randomly shrunk first, so each crop starts with fresh pixels), saved once as
   JPEG at quality ``q1`` (the "camera" save);
2. for a splice, a region cut from *another* photo (random ellipse, polygon or blob placed on detailed
   content), resized and rotated, colour-matched and feathered into the host by the project's splice edit
   (``data_builders.synth.splice``), with no synthetic noise added: the donor keeps the traces of its own photo;
3. saved like the host (the same chain for authentic samples, so an unedited re-save is no shortcut):
   ``jpeg`` (60%): re-saved as JPEG at quality ``q2``; ``png`` (25%): saved as PNG (a JPEG photo edited and saved lossless);
   ``resized`` (15%): resized by 0.6-0.9 and then saved as JPEG ``q2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from data_builders.synth.config import SynthConfig
from data_builders.synth.edits import EditError, Source, splice
from data_builders.synth.postprocess import decode_bytes, encode_jpeg

SKIMAGE_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "rocket.jpg",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "camera.png",
)
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")
VARIANTS = (("jpeg", 0.60), ("png", 0.25), ("resized", 0.15))
Q1 = (60, 90)  # the host's first ("camera") JPEG save
Q2 = (70, 95)  # the final save
CROP = (384, 512)  # h, w of a sample (smaller photos give smaller crops)
SPLICE_CONFIG = SynthConfig(
    kinds=("splice",),
    area=(0.03, 0.12),
    p_object=0.0,
    p_textured=0.7,
    splice_scale=(0.6, 1.4),
    splice_rotation=(-15.0, 15.0),
    p_colour_match=1.0,
    p_feather=1.0,
    feather_sigma=(0.8, 2.5),
    p_donor_jpeg=0.0,
    donor_noise_sigma=(0.0, 0.0),
    p_resize=0.0,
    p_blur=0.0,
    p_noise=0.0,
    p_jpeg=0.0,
)


@dataclass
class RealSample:
    image: np.ndarray  # HxWx3 uint8 RGB as saved (decoded)
    mask: np.ndarray | None  # HxW uint8 0/1 of pasted pixels, None for authentic
    data: bytes  # the saved file
    suffix: str  # ".jpg" or ".png"
    variant: str  # "jpeg" | "png" | "resized"
    host: str
    donor: str | None
    qualities: tuple[int, int | None]  # the host's first JPEG save, and the final one (None for PNG)


def photo_paths() -> list[Path]:
    """The real photos installed here (see the module docstring), in a fixed order."""
    out = []
    try:
        import skimage

        root = Path(skimage.__file__).parent / "data"
        out += [root / n for n in SKIMAGE_PHOTOS if (root / n).is_file()]
    except ImportError:
        pass
    try:
        import sklearn.datasets

        root = Path(sklearn.datasets.__file__).parent / "images"
        out += [root / n for n in SKLEARN_PHOTOS if (root / n).is_file()]
    except ImportError:
        pass
    return out


@lru_cache(maxsize=1)
def load_photos() -> tuple[tuple[str, np.ndarray], ...]:
    """(name, RGB uint8) of every installed photo; grey ones are repeated into three channels."""
    photos = []
    for p in photo_paths():
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if img is None:
            continue
        if img.ndim == 2:
            img = np.dstack([img] * 3)
        else:
            img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
        photos.append((p.stem, np.ascontiguousarray(img)))
    if len(photos) < 2:
        raise RuntimeError("realistic splices need scikit-image (pip install 'xforge[dev]'): no photos found")
    return tuple(photos)


def _crop(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    # Shrink by a random factor (never enlarge): fresh pixels, and big photos get a varied field of view.
    f = float(rng.uniform(0.55, 1.0)) * min(1.0, 1.6 * max(CROP) / max(h, w))
    if f < 0.999:
        img = cv2.resize(img, (max(64, round(w * f)), max(64, round(h * f))), interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
    ch, cw = min(CROP[0], h), min(CROP[1], w)
    if h > w and CROP[0] < CROP[1]:  # portrait photos give portrait crops
        ch, cw = min(CROP[1], h), min(CROP[0], w)
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return np.ascontiguousarray(img[y : y + ch, x : x + cw])


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return buf.tobytes()


def make_real_sample(kind: str, seed: int) -> RealSample:
    """One ``"splice"`` or ``"authentic"`` sample (see the module docstring)."""
    if kind not in ("splice", "authentic"):
        raise ValueError(f"kind must be 'splice' or 'authentic', got {kind!r}")
    rng = np.random.default_rng(seed)
    photos = load_photos()
    hi = int(rng.integers(len(photos)))
    host_name, host_img = photos[hi]
    variant = str(rng.choice([v for v, _ in VARIANTS], p=[p for _, p in VARIANTS]))
    q1, q2 = int(rng.integers(Q1[0], Q1[1] + 1)), int(rng.integers(Q2[0], Q2[1] + 1))
    host = _crop(host_img, rng)
    host = decode_bytes(encode_jpeg(host, q1))
    mask, donor_name = None, None
    image = host
    if kind == "splice":
        di = int((hi + 1 + rng.integers(len(photos) - 1)) % len(photos))
        donor_name, donor_img = photos[di]
        for _ in range(5):
            try:
                forgery = splice(
                    Source(host_name, host), Source(donor_name, _crop(donor_img, rng)), rng, SPLICE_CONFIG
                )
                break
            except EditError:
                continue
        else:
            raise EditError(f"seed {seed}: no place for the spliced region")
        image, mask = forgery.image, forgery.mask.astype(np.uint8)
    if variant == "resized":
        f = float(rng.uniform(0.6, 0.9))
        h, w = image.shape[:2]
        size = (round(w * f), round(h * f))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        if mask is not None:
            mask = (cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) >= 0.5).astype(
                np.uint8
            )
    if variant == "png":
        data, suffix = _png(image), ".png"
    else:
        data, suffix = encode_jpeg(image, q2), ".jpg"
        image = decode_bytes(data)
    return RealSample(
        image, mask, data, suffix, variant, host_name, donor_name, (q1, None if variant == "png" else q2)
    )
