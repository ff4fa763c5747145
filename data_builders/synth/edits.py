"""The forgery operations: splice, copy-move, removal (inpainting) and multi-source composites.

Every operation returns a :class:`Forgery` whose mask is exact by construction: a pixel outside the mask is
the host's pixel, bit for bit (blending, feathering and inpainting are confined to the mask). Post-processing
(``postprocess.py``) comes after and changes every pixel, as real re-saving does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from data_builders.synth.config import SynthConfig
from data_builders.synth.shapes import fit_patch, object_shape, random_shape

TEXTURE_CANDIDATES = 4  # random places compared when a region should land on detailed content


class EditError(RuntimeError):
    """An edit that could not be placed (image too small for the region); the generator draws again."""


@dataclass
class Source:
    """One decoded authentic image and the object masks known for it (same size, 0/1)."""

    name: str
    image: np.ndarray
    objects: list[np.ndarray] = field(default_factory=list)
    object_labels: list[str | None] = field(default_factory=list)  # what each object is, when known

    _detail: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def label_of(self, index: int) -> str | None:
        return self.object_labels[index] if index < len(self.object_labels) else None

    def detail_integral(self) -> np.ndarray:
        """Integral image of |Laplacian| of the gray image: window sums of fine detail in O(1)."""
        if self._detail is None:
            gray = cv2.cvtColor(self.image, cv2.COLOR_RGB2GRAY)
            detail = np.abs(cv2.Laplacian(gray, cv2.CV_32F))
            self._detail = cv2.integral(detail, sdepth=cv2.CV_64F)
        return self._detail


@dataclass
class Forgery:
    image: np.ndarray  # HxWx3 uint8 RGB, before post-processing
    mask: np.ndarray | None  # HxW uint8: 0/1, or source indices 1..k for multi-source; None: no region
    manipulation: list[str]
    mask_format: str | None
    meta: dict[str, Any]
    label: str = "tampered"  # "synthetic" for a whole image re-rendered (``generated.py``)


def _box(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def _region(
    source: Source, rng: np.random.Generator, cfg: SynthConfig, area: tuple[float, float]
) -> tuple[np.ndarray, tuple[int, int], str, str | None]:
    """A shape patch, its top-left ``(x, y)`` in ``source``, the region kind and the object's label (if any):
    one of the source's objects, else a random shape."""
    h, w = source.image.shape[:2]
    if source.objects and rng.random() < cfg.p_object:
        index = int(rng.integers(len(source.objects)))
        patch, (x, y) = object_shape(source.objects[index])
        return patch, (x, y), "object", source.label_of(index)
    patch, kind = random_shape(rng, (h, w), area, cfg.shapes)
    patch = fit_patch(patch, (h, w))
    ph, pw = patch.shape
    xs = rng.integers(0, w - pw + 1, TEXTURE_CANDIDATES)
    ys = rng.integers(0, h - ph + 1, TEXTURE_CANDIDATES)
    best = 0
    if rng.random() < cfg.p_textured:
        # Prefer the candidate window with the most detail, so edits land on content rather than flat sky.
        ii = source.detail_integral()
        scores = ii[ys + ph, xs + pw] - ii[ys, xs + pw] - ii[ys + ph, xs] + ii[ys, xs]
        best = int(np.argmax(scores))
    return patch, (int(xs[best]), int(ys[best])), kind, None


def _alpha(shape: np.ndarray, rng: np.random.Generator, cfg: SynthConfig) -> tuple[np.ndarray, float | None]:
    """Blend weights inside ``shape``: hard, or feathered inwards (zero outside, so the mask stays exact)."""
    hard = shape.astype(np.float32)
    if rng.random() >= cfg.p_feather:
        return hard, None
    sigma = float(rng.uniform(*cfg.feather_sigma))
    soft = cv2.GaussianBlur(hard, (0, 0), sigma)
    # Blurring the hard shape gives ~0.5 on its outline and 1 deep inside; multiplying by the shape keeps
    # every weight outside it at 0.
    return soft * hard, sigma


def _composite(dst: np.ndarray, patch: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """Blend ``patch`` into ``dst`` at ``(x, y)`` in place, writing only pixels where ``alpha > 0``."""
    ph, pw = alpha.shape
    region = dst[y : y + ph, x : x + pw]
    a = alpha[..., None]
    blended = np.rint(region.astype(np.float32) * (1.0 - a) + patch.astype(np.float32) * a).astype(np.uint8)
    inside = alpha > 0
    region[inside] = blended[inside]


def _colour_match(patch: np.ndarray, shape: np.ndarray, host: np.ndarray, strength: float) -> np.ndarray:
    """Move the patch's Lab mean/std towards the host's (Reinhard et al. 2001, "Color transfer")."""
    src = cv2.cvtColor(patch, cv2.COLOR_RGB2LAB)
    # Every 4th pixel of the host is plenty for a global mean and spread.
    ref = cv2.cvtColor(np.ascontiguousarray(host[::4, ::4]), cv2.COLOR_RGB2LAB)
    mu_s, sd_s = (v.ravel() for v in cv2.meanStdDev(src, mask=shape))
    mu_r, sd_r = (v.ravel() for v in cv2.meanStdDev(ref))
    gain = sd_r / (sd_s + 1e-3)
    src = src.astype(np.float32)
    matched = (src - mu_s) * gain + mu_r
    out = src + strength * (matched - src)
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def _transform_patch(
    pixels: np.ndarray, shape: np.ndarray, scale: float, angle: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate/scale a patch and its shape about the centre onto a canvas that holds the result."""
    ph, pw = shape.shape
    m = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, scale)
    corners = np.array([[0, 0, 1], [pw, 0, 1], [0, ph, 1], [pw, ph, 1]], np.float64) @ m.T
    lo = np.floor(corners.min(0))
    hi = np.ceil(corners.max(0))
    m[:, 2] -= lo
    size = (int(hi[0] - lo[0]), int(hi[1] - lo[1]))
    warped = cv2.warpAffine(pixels, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    warped_shape = cv2.warpAffine(shape.astype(np.float32), m, size, flags=cv2.INTER_LINEAR) >= 0.5
    ys, xs = np.nonzero(warped_shape)
    if ys.size == 0:
        raise EditError("the transformed region vanished")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return warped[y0:y1, x0:x1], warped_shape[y0:y1, x0:x1].astype(np.uint8)


def _jpeg_roundtrip(pixels: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise EditError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _place(
    rng: np.random.Generator, shape: np.ndarray, occupied: np.ndarray, tries: int = 30
) -> tuple[int, int]:
    """A top-left corner where ``shape`` fits in the image without touching ``occupied`` pixels."""
    h, w = occupied.shape
    ph, pw = shape.shape
    for _ in range(tries):
        x = int(rng.integers(0, w - pw + 1))
        y = int(rng.integers(0, h - ph + 1))
        if not (occupied[y : y + ph, x : x + pw] & shape).any():
            return x, y
    raise EditError("no free place for the region")


def paste_from(
    host: np.ndarray,
    labels: np.ndarray,
    donor: Source,
    rng: np.random.Generator,
    cfg: SynthConfig,
    *,
    label: int,
    area: tuple[float, float],
) -> dict[str, Any]:
    """Cut a region from ``donor`` and blend it into ``host`` (in place) where ``labels`` is still 0.

    ``labels`` receives ``label`` on the pasted pixels. Returns the parameters used.
    """
    shape, (x, y), region_kind, object_label = _region(donor, rng, cfg, area)
    ph, pw = shape.shape
    pixels = donor.image[y : y + ph, x : x + pw].copy()
    # Another camera: the donor's own compression and noise differ from the host's.
    donor_quality = None
    if rng.random() < cfg.p_donor_jpeg:
        donor_quality = int(rng.integers(cfg.donor_jpeg_quality[0], cfg.donor_jpeg_quality[1] + 1))
        pixels = _jpeg_roundtrip(pixels, donor_quality)
    noise_sigma = float(rng.uniform(*cfg.donor_noise_sigma))
    if noise_sigma > 0:
        noise = rng.standard_normal(pixels.shape, dtype=np.float32) * noise_sigma
        pixels = np.clip(pixels + noise, 0, 255).astype(np.uint8)
    scale = float(rng.uniform(*cfg.splice_scale))
    angle = float(rng.uniform(*cfg.splice_rotation))
    pixels, shape = _transform_patch(pixels, shape, scale, angle)
    fitted = fit_patch(shape, labels.shape)
    if fitted.shape != shape.shape:
        pixels = cv2.resize(pixels, fitted.shape[::-1], interpolation=cv2.INTER_AREA)
        shape = fitted
    px, py = _place(rng, shape, labels > 0)
    colour = rng.random() < cfg.p_colour_match
    if colour:
        pixels = _colour_match(pixels, shape, host, float(rng.uniform(0.3, 0.8)))
    alpha, feather = _alpha(shape, rng, cfg)
    _composite(host, pixels, alpha, px, py)
    labels[py : py + shape.shape[0], px : px + shape.shape[1]][shape > 0] = label
    return {
        "donor": donor.name,
        "region": region_kind,
        "object_label": object_label,
        "scale": round(scale, 4),
        "rotation_deg": round(angle, 3),
        "colour_match": bool(colour),
        "feather_sigma": None if feather is None else round(feather, 3),
        "donor_jpeg_quality": donor_quality,
        "donor_noise_sigma": round(noise_sigma, 3),
        "box": [px, py, px + shape.shape[1], py + shape.shape[0]],
    }


def splice(host: Source, donor: Source, rng: np.random.Generator, cfg: SynthConfig) -> Forgery:
    """A region of another image pasted in (object or free-form; resized, rotated, colour-matched, feathered)."""
    image = host.image.copy()
    labels = np.zeros(image.shape[:2], np.uint8)
    meta = paste_from(image, labels, donor, rng, cfg, label=1, area=cfg.area)
    return Forgery(image, labels, ["splice"], "white_forged", {"host": host.name, **meta})


def multi_source(host: Source, donors: list[Source], rng: np.random.Generator, cfg: SynthConfig) -> Forgery:
    """2-4 regions from different donors, labelled 1..k in a SafireMS-style mask (gray 50*i; host is 0)."""
    image = host.image.copy()
    labels = np.zeros(image.shape[:2], np.uint8)
    k = len(donors)
    area = (cfg.area[0], max(cfg.area[0], cfg.area[1] * 2 / k))  # keep the total edited area comparable
    sources = [paste_from(image, labels, d, rng, cfg, label=i, area=area) for i, d in enumerate(donors, 1)]
    # A later region can hide an earlier one only where it overlaps, and placement forbids overlap.
    return Forgery(
        image,
        labels,
        ["splice", "multi-source"],
        "multi_source_gray",
        {"host": host.name, "n_sources": k, "sources": sources},
    )


def copy_move(host: Source, rng: np.random.Generator, cfg: SynthConfig, tries: int = 30) -> Forgery:
    """A region of the image copied elsewhere in it, optionally rotated and scaled.

    ``meta["matrix"]`` is the 2x3 affine map from source to target pixel coordinates (OpenCV convention).
    """
    h, w = host.image.shape[:2]
    shape, (sx, sy), region_kind, label = _region(host, rng, cfg, cfg.area)
    src_mask = np.zeros((h, w), np.uint8)
    src_mask[sy : sy + shape.shape[0], sx : sx + shape.shape[1]] = shape
    src_c = np.array([sx + shape.shape[1] / 2, sy + shape.shape[0] / 2])
    for _ in range(tries):
        angle = float(rng.uniform(*cfg.copy_move_rotation))
        scale = float(rng.uniform(*cfg.copy_move_scale))
        dst_c = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        m = cv2.getRotationMatrix2D((float(src_c[0]), float(src_c[1])), angle, scale)
        m[:, 2] += dst_c - src_c
        dst_mask = (cv2.warpAffine(src_mask * 255, m, (w, h), flags=cv2.INTER_LINEAR) >= 128).astype(np.uint8)
        area = int(dst_mask.sum())
        # The whole copy must land inside the frame and stay off its own source.
        if area < 0.9 * scale**2 * shape.sum() or area == 0:
            continue
        if (dst_mask & src_mask).sum() > cfg.copy_move_max_overlap * area:
            continue
        break
    else:
        raise EditError("no place for the copy inside the frame and off the source")
    warped = cv2.warpAffine(host.image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    image = host.image.copy()
    x0, y0, x1, y1 = _box(dst_mask)
    alpha, feather = _alpha(dst_mask[y0:y1, x0:x1], rng, cfg)
    _composite(image, warped[y0:y1, x0:x1], alpha, x0, y0)
    mask = dst_mask | src_mask if cfg.copy_move_mask == "both" else dst_mask
    return Forgery(
        image,
        mask,
        ["copy-move"],
        "white_forged",
        {
            "host": host.name,
            "region": region_kind,
            "object_label": label,
            "rotation_deg": round(angle, 3),
            "scale": round(scale, 4),
            "offset": [round(float(v), 2) for v in dst_c - src_c],
            "source_box": _box(src_mask),
            "target_box": [x0, y0, x1, y1],
            "matrix": np.round(m, 6).tolist(),
            "mask_marks": cfg.copy_move_mask,
            "feather_sigma": None if feather is None else round(feather, 3),
        },
    )


def removal(host: Source, rng: np.random.Generator, cfg: SynthConfig) -> Forgery:
    """A region erased and filled from its surroundings with OpenCV inpainting (Telea 2004 or Navier-Stokes)."""
    h, w = host.image.shape[:2]
    shape, (x, y), region_kind, label = _region(host, rng, cfg, cfg.area)
    mask = np.zeros((h, w), np.uint8)
    mask[y : y + shape.shape[0], x : x + shape.shape[1]] = shape
    if region_kind == "object":
        # Object outlines are drawn tight; a thin ring keeps the object's edge pixels out of the fill.
        mask = cv2.dilate(mask, np.ones((5, 5), np.uint8))
    # Inpainting reads only pixels within its radius of the hole, so a crop with that margin is enough.
    r = cfg.inpaint_radius
    x0, y0, x1, y1 = _box(mask)
    cx0, cy0, cx1, cy1 = max(0, x0 - r - 2), max(0, y0 - r - 2), min(w, x1 + r + 2), min(h, y1 + r + 2)
    crop = host.image[cy0:cy1, cx0:cx1]
    hole = mask[cy0:cy1, cx0:cx1]
    flag = cv2.INPAINT_TELEA if cfg.inpaint_method == "telea" else cv2.INPAINT_NS
    filled = cv2.inpaint(crop, hole, r, flag)
    image = host.image.copy()
    image[cy0:cy1, cx0:cx1][hole > 0] = filled[hole > 0]
    return Forgery(
        image,
        mask,
        ["removal"],
        "white_forged",
        {
            "host": host.name,
            "region": region_kind,
            "object_label": label,
            "inpaint_method": cfg.inpaint_method,
            "inpaint_radius": r,
            "box": [x0, y0, x1, y1],
        },
    )
