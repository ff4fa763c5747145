"""Fusion of the forensic cues into one image-level score, one probability map and regions.

The engine hands over a list of :class:`Cue` (one per cue module: a name, scalar strengths, a region); the
fusion knows the cues only through ``CUE_FEATURES`` and ``calibration.json``.

Calibration: the image-level score is a logistic model over the cues' scalar strengths (``FEATURES``),
``score = sigmoid(bias + sum_i coef_i * feature_i)``. The coefficients are fixed constants stored in
``calibration.json`` next to this module; ``scripts/eval_forensics.py --fit-calibration`` fits them
(L2-regularised logistic regression, non-negative weights) on xforge's synthetic copy-move and splice sets,
the realistic splices rebuilt from real photos (``data_builders.synth.real_splices``) and their authentic
counterparts, and records how. A cue whose fitted weight is 0 is "reported only": it never adds to a score,
never shapes a mask, and the explanations say so. Classes are weighted equally, so a score of 0.8 means "about 80% of images with this evidence were
edited" on data of that kind at equal priors; the bias is then lowered where needed so that the default
threshold 0.5 lets through at most 5% of the fitting set's authentic images (the chosen operating point).

Caps (``max_contribution`` in ``calibration.json``, per cue): no cue adds more than its cap to the logit. A
weak cue (ELA, whose level follows content as much as editing), and a cue the fitting sets hardly exercise
(nonzero on too few images for its coefficient to be trusted, as the JPEG block grid on synthetic scenes), is
capped at half the distance from the bias to the decision threshold, so it can sharpen a verdict other cues
support but never make one alone; every other cue is capped at ``MAX_CUE_LOGIT``. This keeps a coefficient
blown up by a near-constant feature from deciding real photos.

Pixel map (``fuse_maps``): each pixel gets the logit the image would get from the evidence placed there, the
bias plus each weighted cue's contribution times its region's value at that pixel, so the mask is fused from
the cues that carry weight (weak cues add their share everywhere) and never exceeds the image score.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np


@dataclass
class Cue:
    """What one cue module hands to the fusion: its scalar strengths and where it places the edit.

    A new cue is one module that returns a ``Cue`` and one entry in ``CUE_FEATURES`` (then refit the
    calibration); the fusion reads the list of cues and knows nothing else about them.
    """

    name: str
    features: dict[str, float]  # scalar strengths, keyed as in CUE_FEATURES[name]
    region: np.ndarray | None  # float/bool HxW in 0..1 at the working size: where the cue puts the edit


# Each cue and the features the calibration weighs for it.
CUE_FEATURES: dict[str, tuple[str, ...]] = {
    "copymove": ("copymove",),
    "djpeg": ("djpeg",),
    "ghost": ("ghost",),
    "jpeg_grid": ("jpeg_grid",),
    "cfa": ("cfa",),
    "noise": ("noise",),
    "ela": ("ela",),
}
CUES = tuple(CUE_FEATURES)
FEATURES = tuple(f for feats in CUE_FEATURES.values() for f in feats)
# The cue each feature belongs to: evidence, explanations and follow-up answers speak in cues.
CUE_OF = {f: c for c, feats in CUE_FEATURES.items() for f in feats}
WEAK_CUES = ("ela",)  # never proof alone (see ela.py)
MAX_CUE_LOGIT = 8.0  # the most any cue adds to the logit
MIN_SUPPORT = (
    0.05  # share of fitting images on which a cue must be nonzero for its fitted weight to count fully
)


def calibration_path() -> Path:
    return Path(__file__).with_name("calibration.json")


@lru_cache(maxsize=1)
def load_calibration() -> dict:
    data = json.loads(calibration_path().read_text())
    missing = [f for f in FEATURES if f not in data["features"]]
    missing += [c for c in CUES if c not in data.get("max_contribution", {})]
    if missing:
        raise ValueError(f"{calibration_path()}: calibration lacks coefficients or caps for {missing}")
    return data


def cue_caps(bias: float, support: dict[str, float]) -> dict[str, float]:
    """Per-cue logit caps (see the module docstring) from the bias and each cue's share of nonzero images."""
    half = max(0.0, -bias) / 2
    return {c: half if c in WEAK_CUES or support[c] < MIN_SUPPORT else MAX_CUE_LOGIT for c in CUES}


def contributions(features: dict[str, float], calibration: dict | None = None) -> dict[str, float]:
    """Each feature's additive share of the logit (coefficient times feature), before the cue caps."""
    cal = calibration or load_calibration()
    return {f: cal["features"][f] * float(features[f]) for f in FEATURES}


def cue_contributions(features: dict[str, float], calibration: dict | None = None) -> dict[str, float]:
    """Each cue's share of the logit: the sum over its features, capped at the cue's ``max_contribution``."""
    cal = calibration or load_calibration()
    out = dict.fromkeys(CUES, 0.0)
    for f, v in contributions(features, cal).items():
        out[CUE_OF.get(f, f)] += v
    caps = cal.get("max_contribution", {})
    return {c: min(v, caps.get(c, math.inf)) for c, v in out.items()}


def score_of(features: dict[str, float], calibration: dict | None = None) -> float:
    cal = calibration or load_calibration()
    logit = cal["bias"] + sum(cue_contributions(features, cal).values())
    return 1.0 / (1.0 + math.exp(-float(np.clip(logit, -50, 50))))


def weighted_cues(calibration: dict | None = None) -> set[str]:
    """Cues with a nonzero fitted weight: the others are reported only and never shape a verdict or mask."""
    cal = calibration or load_calibration()
    return {CUE_OF[f] for f in FEATURES if cal["features"][f] > 0}


def fuse_maps(score: float, cues: list[Cue], shape) -> tuple[np.ndarray, str | None]:
    """The probability map (float32 HxW) and the cue that shaped most of its marked pixels (or None).

    Each pixel gets the logit the image would get from the evidence placed there: the bias plus, for every
    cue that carries weight, its (capped) contribution times its region's value at the pixel (0..1); weak
    cues (``WEAK_CUES``) add theirs everywhere. A pixel inside every weighted cue's region thus gets the image
    score, one outside all of them at most the prior plus the weak cues (below 0.5 by their cap), and the map
    never exceeds the image score. When the image is judged edited but its evidence is spread over
    disjoint regions so that no pixel reaches 0.5, the strongest cue's region, scaled by the score, is used.
    """
    features = dict.fromkeys(FEATURES, 0.0) | {f: v for c in cues for f, v in c.features.items()}
    cal = load_calibration()
    parts = cue_contributions(features, cal)
    logit = np.full(shape, cal["bias"], np.float32)
    # A weak cue sharpens the verdict but does not place the edit: it adds its (capped) share everywhere,
    # which its cap keeps below the threshold on its own.
    logit += sum(parts[c.name] for c in cues if c.name in WEAK_CUES and parts[c.name] > 0)
    placed = [
        c
        for c in cues
        if c.name not in WEAK_CUES and c.region is not None and parts[c.name] > 0 and np.any(c.region)
    ]
    for c in placed:
        logit += parts[c.name] * np.clip(c.region.astype(np.float32), 0, 1)
    prob = (1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))).astype(np.float32)
    if score >= 0.5 and not (prob >= 0.5).any() and placed:
        top = max(placed, key=lambda c: parts[c.name])
        prob = (np.clip(top.region.astype(np.float32), 0, 1) * score).astype(np.float32)
    marked = prob >= 0.5
    if not marked.any() or not placed:
        return prob, None
    best = max(placed, key=lambda c: parts[c.name] * float((np.asarray(c.region)[marked] > 0.5).mean()))
    return prob, best.name
