"""Fusion of the forensic cues into one image-level score, one probability map and regions.

Calibration: the image-level score is a logistic model over a few scalar cue strengths (``FEATURES``),
``score = sigmoid(bias + sum_i coef_i * feature_i)``. The coefficients are fixed constants stored in
``calibration.json`` next to this module; ``scripts/eval_forensics.py --fit-calibration`` fits them
(L2-regularised logistic regression) on xforge's synthetic copy-move, splice and authentic sets and records
how. Classes are weighted equally, so a score of 0.8 means "about 80% of images with this evidence were
edited" on data of that kind at equal priors; the bias is then lowered where needed so that the default
threshold 0.5 lets through at most 5% of the fitting set's authentic images (the chosen operating point).

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


def calibration_path() -> Path:
    return Path(__file__).with_name("calibration.json")


@lru_cache(maxsize=1)
def load_calibration() -> dict:
    data = json.loads(calibration_path().read_text())
    missing = [f for f in FEATURES if f not in data["features"]]
    if missing:
        raise ValueError(f"{calibration_path()}: calibration lacks coefficients for {missing}")
    return data


def contributions(features: dict[str, float], calibration: dict | None = None) -> dict[str, float]:
    """Each cue's additive share of the logit (coefficient times feature)."""
    cal = calibration or load_calibration()
    return {f: cal["features"][f] * float(features[f]) for f in FEATURES}


def cue_contributions(features: dict[str, float], calibration: dict | None = None) -> dict[str, float]:
    """Each cue's share of the logit (the sum over its features)."""
    out = dict.fromkeys(CUES, 0.0)
    for f, v in contributions(features, calibration).items():
        out[CUE_OF.get(f, f)] += v
    return out


def score_of(features: dict[str, float], calibration: dict | None = None) -> float:
    cal = calibration or load_calibration()
    logit = cal["bias"] + sum(contributions(features, cal).values())
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
