"""Settings of the synthetic forgery generator, as one dataclass (loadable from YAML, overridable from the CLI).

Ranges are ``(low, high)`` pairs drawn uniformly per sample. Probabilities are per sample. Every value is
recorded in the manifest's ``meta`` of the samples it shaped, so an evaluation can be sliced by parameter.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = ("splice", "copy-move", "removal", "multi", "authentic", "generated")
UPSAMPLINGS = ("transposed", "nearest", "bilinear")
GEN_FACTORS = (2, 4, 8)
SHAPES = ("polygon", "ellipse", "blob")
INPAINT_METHODS = ("telea", "ns")
COPY_MOVE_MASKS = ("target", "both")


_CHOICES = ("kinds", "shapes", "gen_upsampling", "gen_factors")  # lists to draw from, not (low, high) ranges


class SynthConfigError(ValueError):
    """A generator setting out of range; the message names the setting."""


@dataclass
class SynthConfig:
    kinds: tuple[str, ...] = ("splice", "copy-move", "removal", "multi")
    # Sources are shrunk so their longer side is at most this (0 keeps the original size).
    max_side: int = 1024
    # Shapes: the edited area as a fraction of the image, and which random shapes to draw when no
    # object mask is available.
    area: tuple[float, float] = (0.01, 0.12)
    shapes: tuple[str, ...] = SHAPES
    # Probability of using an object mask (from the source manifest) instead of a random shape, when the
    # image has one.
    p_object: float = 0.8
    # Probability of placing a random shape on the most detailed of a few random places (else anywhere).
    p_textured: float = 0.7

    # Splice: donor region transform, colour matching and feathered edges.
    splice_scale: tuple[float, float] = (0.75, 1.3)
    splice_rotation: tuple[float, float] = (-15.0, 15.0)
    p_colour_match: float = 0.5
    p_feather: float = 0.5
    feather_sigma: tuple[float, float] = (0.8, 2.5)
    # "Another camera": before pasting, the donor is JPEG-compressed at a quality from this range (with
    # probability p_donor_jpeg) and given extra sensor-like noise, so its compression and noise traces differ.
    p_donor_jpeg: float = 0.5
    donor_jpeg_quality: tuple[int, int] = (50, 90)
    donor_noise_sigma: tuple[float, float] = (0.0, 3.0)

    # Copy-move: transform of the copied region; the mask marks the pasted copy ("target") or both the
    # copy and where it came from ("both").
    copy_move_rotation: tuple[float, float] = (-30.0, 30.0)
    copy_move_scale: tuple[float, float] = (0.8, 1.2)
    copy_move_mask: str = "target"
    copy_move_max_overlap: float = 0.0

    # Removal: OpenCV inpainting.
    inpaint_method: str = "telea"
    inpaint_radius: int = 3  # OpenCV's documented example value; cost grows with its square

    # Multi-source: number of donors pasted into one host (SafireMS-style labelled mask, host = 0).
    multi_sources: tuple[int, int] = (2, 4)

    # Generated (whole image re-rendered by the upsampling-artefact simulator, ``generated.py``): the
    # upsampling kinds and factors drawn from (uniformly per sample), and the transposed convolution's random
    # weights relative to its bilinear tent's peak. Post-processing below applies as for every kind.
    gen_upsampling: tuple[str, ...] = UPSAMPLINGS
    gen_factors: tuple[int, ...] = (2, 4)
    gen_kernel_jitter: tuple[float, float] = (0.02, 0.1)

    # Post-processing after the edit, in this order: resize, blur, noise, JPEG (the JPEG is the saved file).
    p_resize: float = 0.2
    resize_scale: tuple[float, float] = (0.5, 0.9)
    p_blur: float = 0.15
    blur_sigma: tuple[float, float] = (0.3, 1.2)
    p_noise: float = 0.15
    noise_sigma: tuple[float, float] = (1.0, 4.0)
    p_jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (60, 95)

    split: str = "train"

    def __post_init__(self) -> None:
        self.kinds = tuple(self.kinds)
        self.shapes = tuple(self.shapes)
        self.gen_upsampling = tuple(self.gen_upsampling)
        self.gen_factors = tuple(int(f) for f in self.gen_factors)
        self.validate()

    def validate(self) -> None:
        for name, allowed in (
            ("kinds", KINDS),
            ("shapes", SHAPES),
            ("gen_upsampling", UPSAMPLINGS),
            ("gen_factors", GEN_FACTORS),
        ):
            chosen = getattr(self, name)
            bad = [c for c in chosen if c not in allowed]
            if not chosen or bad:
                raise SynthConfigError(f"{name}: {bad or 'none given'}; choose from {allowed}")
        lo, hi = self.gen_kernel_jitter
        if not 0.0 <= lo <= hi <= 1.0:
            raise SynthConfigError(f"gen_kernel_jitter = {self.gen_kernel_jitter}: weights lie in 0..1")
        if self.inpaint_method not in INPAINT_METHODS:
            raise SynthConfigError(f"inpaint_method {self.inpaint_method!r}: choose from {INPAINT_METHODS}")
        if self.copy_move_mask not in COPY_MOVE_MASKS:
            raise SynthConfigError(f"copy_move_mask {self.copy_move_mask!r}: choose from {COPY_MOVE_MASKS}")
        if self.max_side < 0 or 0 < self.max_side < 64:
            raise SynthConfigError(f"max_side {self.max_side}: use 0 (keep) or at least 64")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("p_") and not 0.0 <= value <= 1.0:
                raise SynthConfigError(f"{f.name} = {value}: a probability must lie in [0, 1]")
            if isinstance(value, tuple) and len(value) == 2 and f.name not in _CHOICES:
                lo, hi = value
                if lo > hi:
                    raise SynthConfigError(f"{f.name} = {value}: low end above high end")
        lo, hi = self.area
        if not 0.0 < lo <= hi <= 0.5:
            raise SynthConfigError(f"area = {self.area}: fractions must satisfy 0 < low <= high <= 0.5")
        lo, hi = self.multi_sources
        if not 2 <= lo <= hi <= 5:
            raise SynthConfigError(f"multi_sources = {self.multi_sources}: 2..5 sources (mask levels 50*i)")
        for name in ("jpeg_quality", "donor_jpeg_quality"):
            lo, hi = getattr(self, name)
            if not 1 <= lo <= hi <= 100:
                raise SynthConfigError(f"{name} = {(lo, hi)}: JPEG qualities lie in 1..100")
        lo, hi = self.resize_scale
        if not 0.05 <= lo <= hi <= 4.0:
            raise SynthConfigError(f"resize_scale = {self.resize_scale}: factors lie in 0.05..4")

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SynthConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SynthConfigError(f"unknown settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    @classmethod
    def from_yaml(cls, path: str | Path) -> SynthConfig:
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SynthConfigError(f"{path}: cannot read the config ({exc})") from None
        if not isinstance(data, dict):
            raise SynthConfigError(f"{path}: expected a mapping of settings")
        try:
            return cls.from_dict(data)
        except SynthConfigError as exc:
            raise SynthConfigError(f"{path}: {exc}") from None

    def replace(self, **changes: Any) -> SynthConfig:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
