"""Fusion of the forensic cues into one image-level score, one probability map and regions.

Calibration: the image-level score is a logistic model over a few scalar cue strengths (``FEATURES``),
``score = sigmoid(bias + sum_i coef_i * feature_i)``. The coefficients are fixed constants stored in
``calibration.json`` next to this module; ``scripts/eval_forensics.py --fit-calibration`` fits them
(L2-regularised logistic regression) on xforge's synthetic copy-move, splice and authentic sets and records
how. Classes are weighted equally, so a score of 0.8 means "about 80% of images with this evidence were
edited" on data of that kind at equal priors; the bias is then lowered where needed so that the default
threshold 0.5 lets through at most 5% of the fitting set's authentic images (the chosen operating point).

Caps (``max_contribution`` in ``calibration.json``, per cue): no cue adds more than its cap to the logit. A
weak cue (ELA, whose level follows content as much as editing), and a cue the fitting sets hardly exercise
(nonzero on too few images for its coefficient to be trusted, as the JPEG block grid on synthetic scenes), is
capped at half the distance from the bias to the decision threshold, so it can sharpen a verdict other cues
support but never make one alone; every other cue is capped at ``MAX_CUE_LOGIT``. This keeps a coefficient
blown up by a near-constant feature from deciding real photos.

Pixel map: the most specific strong cue (``SPECIFICITY``) supplies the shape (its region, 0/1), scaled by the
image score, so ``prob_map >= 0.5`` marks the strongest cue's region exactly when the image is judged edited.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np

FEATURES = ("copymove", "noise", "noise_peak", "noise_spectrum", "jpeg_grid", "ghost", "ela")
# The cue each feature belongs to: evidence, explanations and follow-up answers speak in cues.
CUE_OF = {"noise_peak": "noise", "noise_spectrum": "noise"}
CUES = ("copymove", "noise", "jpeg_grid", "ghost", "ela")
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


# Most specific first: a verified copy pins the exact pixels, JPEG traces follow block tiles, noise follows
# 32-pixel tiles, ELA is a weak cue. The first strong cue with a region shapes the map.
SPECIFICITY = ("copymove", "ghost", "jpeg_grid", "noise", "ela")


def fuse_maps(
    score: float,
    features: dict[str, float],
    cue_maps: dict[str, np.ndarray | None],
    shape,
    strong_logit: float = 1.0,
) -> tuple[np.ndarray, str | None]:
    """The probability map (float32 HxW) and the cue that shaped it (None when no cue has a region).

    ``cue_maps`` is keyed by cue (``CUES``).

    Cues whose logit contribution reaches ``strong_logit`` are tried in ``SPECIFICITY`` order; when none is
    strong, the largest positive contributor with a region is used.
    """
    parts = cue_contributions(features)
    strong = [c for c in SPECIFICITY if parts[c] >= strong_logit]
    rest = sorted((c for c in parts if parts[c] > 0 and c not in strong), key=lambda c: -parts[c])
    for cue in strong + rest:
        m = cue_maps.get(cue)
        if m is not None and m.any():
            return (np.clip(m.astype(np.float32), 0, 1) * score).astype(np.float32), cue
    return np.zeros(shape, np.float32), None
