"""What every engine answers: :class:`AnalysisResult` (verdict, score, mask, regions, explanation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

VERDICTS = ("authentic", "tampered", "synthetic")
#: the three detection classes, in the order of every probability vector (``AnalysisResult.scores``)
CLASSES = VERDICTS
MASK_THRESHOLD = 0.5  # the fixed threshold of the evaluation's pixel F1/IoU (eval.metrics.localization)


def regions_from_mask(mask: np.ndarray, min_area: int = 1) -> list[dict[str, Any]]:
    """Connected regions of a binary mask, largest first: ``{"box": [x0, y0, x1, y1], "area": pixels}``.

    Boxes are inclusive-exclusive pixel bounds (x1 = x0 + width), as in the predictions format.
    """
    import cv2

    m = (np.asarray(mask) > 0).astype(np.uint8)
    if not m.any():
        return []
    n, _, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    regions = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i, :5])
        if area >= min_area:
            regions.append({"box": [x, y, x + w, y + h], "area": area})
    return sorted(regions, key=lambda r: r["area"], reverse=True)


def scores_from_score(score: float, verdict: str | None = None) -> dict[str, float]:
    """The three class probabilities of a two-way answer: ``{authentic: 1 - score, tampered: score,
    synthetic: 0}``, or ``score`` on ``synthetic`` instead when the verdict is ``synthetic``. Results without
    ``scores`` and older predictions lines are completed by this one rule."""
    scores = {"authentic": 1.0 - score, "tampered": 0.0, "synthetic": 0.0}
    scores["synthetic" if verdict == "synthetic" else "tampered"] = score
    return scores


def normalized_scores(scores: dict[str, float]) -> dict[str, float]:
    """The three class probabilities in :data:`CLASSES` order, checked and renormalised to sum to 1."""
    unknown = set(scores) - set(CLASSES)
    if unknown:
        raise ValueError(f"scores has unknown classes {sorted(unknown)}; expected {CLASSES}")
    values = np.array([float(scores.get(c, 0.0)) for c in CLASSES])
    if not np.all(np.isfinite(values)) or (values < 0).any() or values.sum() <= 0:
        raise ValueError(f"scores must be non-negative finite probabilities, got {scores}")
    values = values / values.sum()
    return {c: float(v) for c, v in zip(CLASSES, values)}


@dataclass
class AnalysisResult:
    """One answer about one image.

    ``prob_map`` is float32 HxW in 0..1 at the image's size; ``mask`` is ``prob_map >= 0.5`` as uint8 0/1.
    ``verdict`` is one of :data:`VERDICTS`: ``authentic``, ``tampered`` (edited in a region, which the mask
    shows) or ``synthetic`` (generated as a whole by a model: no region, so the mask is empty).
    ``scores`` holds the three class probabilities (keys :data:`CLASSES`, summing to 1); an engine that
    only tells edited from authentic leaves it out and it is derived from ``score``
    (:func:`scores_from_score`). ``score`` is P(not authentic) = 1 - ``scores["authentic"]``, so two-way metrics keep
    their meaning. ``explanation`` is the text shown to people
    (``<SEG>`` removed); ``engine`` says which backend answered (``"model"`` or ``"classical"``).
    ``evidence`` holds what the answer rests on: the classical engine's cues; for the model, whether the
    verdict was forced by the score and whether the mask is a low-confidence one (``xforge.model.generation``).
    """

    verdict: str
    score: float
    prob_map: np.ndarray
    explanation: str
    engine: str
    mask: np.ndarray | None = None
    regions: list[dict[str, Any]] | None = None
    question: str | None = None
    downscaled: bool = False
    evidence: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")
        self.score = float(np.clip(self.score, 0.0, 1.0))
        if self.scores is None:
            self.scores = scores_from_score(self.score, self.verdict)
        else:
            self.scores = normalized_scores(self.scores)
            self.score = 1.0 - self.scores["authentic"]
        self.prob_map = np.asarray(self.prob_map, dtype=np.float32)
        if self.prob_map.ndim != 2:
            raise ValueError(f"prob_map must be HxW, got shape {self.prob_map.shape}")
        if self.verdict == "synthetic":
            # a generated image has no edited region: whatever map an engine made is not a location
            self.prob_map = np.zeros_like(self.prob_map)
            self.mask = np.zeros(self.prob_map.shape, np.uint8)
        elif self.mask is None:
            self.mask = (self.prob_map >= MASK_THRESHOLD).astype(np.uint8)
        else:
            self.mask = (np.asarray(self.mask) > 0).astype(np.uint8)
            if self.mask.shape != self.prob_map.shape:
                raise ValueError(f"mask shape {self.mask.shape} differs from prob_map {self.prob_map.shape}")
        if self.regions is None:
            self.regions = regions_from_mask(self.mask)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image the result is about."""
        h, w = self.prob_map.shape
        return w, h

    def rounded_scores(self) -> dict[str, float]:
        """``scores`` as JSON files hold them (6 digits): the predictions line, ``--json``, the page's download."""
        return {k: round(float(v), 6) for k, v in self.scores.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (no arrays): what ``--json`` prints and the predictions file stores."""
        return {
            "verdict": self.verdict,
            "score": round(self.score, 6),
            "scores": self.rounded_scores(),
            "explanation": self.explanation,
            "engine": self.engine,
            "regions": self.regions,
            "question": self.question,
            "downscaled": self.downscaled,
            "mask_area": int(self.mask.sum()),
            "width": self.size[0],
            "height": self.size[1],
        }
