"""The classical engine's third verdict: an image generated as a whole, from the spectral cue.

The fusion of the localized cues (``fusion``) gives ``s``, the probability of an edited region; the spectral
cue (``spectral``) gives ``p``, the probability of image-wide generator traces. They are read as two
detectors of "not authentic" whose evidence is shared between the two explanations:

- ``P(authentic) = (1 - s) * (1 - p)``; the rest, ``1 - P(authentic)``, is split between ``tampered`` and
  ``synthetic`` in proportion ``s : p``;
- verdict: ``authentic`` while both stay below the engine's threshold (so with ``p`` below it the verdict is
  exactly the two-way engine's), else ``tampered`` when ``s >= p`` (a localized edit dominates) and
  ``synthetic`` otherwise.

A synthetic verdict marks nothing (empty mask and map, no regions) and its wording speaks of image-wide
traces only: no location words of ``xforge.location``, and none of its edit words either.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from xforge.forensics.explain import ENGINE_NOTE
from xforge.forensics.spectral import SpectralFinding, spectral_cue, synthetic_probability


def three_scores(s: float, p: float) -> dict[str, float]:
    """Authentic / tampered / synthetic probabilities from the edit score ``s`` and the generated score ``p``."""
    authentic = (1.0 - s) * (1.0 - p)
    rest = 1.0 - authentic
    share = s / (s + p) if s + p > 0 else 0.5
    return {"authentic": authentic, "tampered": rest * share, "synthetic": rest * (1.0 - share)}


def trace_sentence(finding: SpectralFinding) -> str:
    """What the spectral cue measured, in words (image-wide; no place named)."""
    if finding.period is None:
        return "The image is too small to measure its spectrum for generator traces."
    return (
        f"Spectral cue: the high-pass residual's spectrum peaks periodically at multiples of 1/{finding.period} "
        f"cycles per pixel (a {finding.period}-pixel period, {finding.cue:.1f} log units above the JPEG-grid "
        f"reference), the trace that the upsampling layers of image generators leave (Durall et al. 2020; "
        "Frank et al. 2020)."
    )


def synthetic_explanation(finding: SpectralFinding, p: float, s: float) -> str:
    """The engine's answer for a synthetic verdict."""
    return " ".join(
        [
            ENGINE_NOTE,
            f"Verdict: this image looks generated as a whole by a model (synthetic; probability {p:.2f}), "
            "not a camera photo.",
            trace_sentence(finding),
            "These traces run image-wide and belong to no particular part of it, so no region is marked.",
            f"The cues for pasted or copied content stay lower (score {s:.2f}).",
        ]
    )


def apply_generated_cue(result, rgb: np.ndarray, threshold: float):
    """``result`` (a ``ForensicResult``) with the spectral cue's probability (from which its three scores
    follow) and, when generator traces dominate, the synthetic verdict (empty mask, its own explanation)."""
    finding = spectral_cue(rgb)
    p = synthetic_probability(finding.cue)
    s = result.score
    evidence = dict(result.evidence)
    evidence["spectral"] = {
        "cue": finding.cue,
        "period": finding.period,
        "excess": {str(k): v for k, v in finding.excess.items()},
        "crop": list(finding.crop) if finding.crop else None,
        "probability": p,
    }
    changes = {"synthetic_score": p, "evidence": evidence}
    if p >= threshold and p > s:
        h, w = result.mask.shape
        changes.update(
            verdict="synthetic",
            prob_map=np.zeros((h, w), np.float32),
            mask=np.zeros((h, w), np.uint8),
            regions=[],
            explanation=synthetic_explanation(finding, p, s),
        )
    return dataclasses.replace(result, **changes)
