"""Per-image scoring: one manifest record + its prediction line -> one flat row of numbers.

A row holds what the dataset-level tables need, so tables, CSV and plots are all computed from rows and a
resumed run only re-reads rows: ``id``, ``dataset``, ``label``, ``y`` (1 edited / 0 authentic), ``status``
(``ok`` | ``missing`` -- no prediction line | ``error`` -- the prediction or a file could not be used, with
``error`` saying why), ``score`` (detection score used), ``verdict``, the localization keys of
:func:`eval.metrics.localization.localization_scores` (tampered images with a ground-truth mask only),
``grounding_pred`` / ``grounding_gt`` (True/False/None), ``qes`` (:func:`eval.metrics.qes.qes` of the
predicted map, any image with one, ground truth or not) and the paths the report's qualitative grid reads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from eval.metrics.detection import label_to_int, score_from_map
from eval.metrics.grounding import MIN_AGREEMENT, grounding_consistent
from eval.metrics.localization import THRESHOLD, localization_scores, resize_to_mask
from eval.metrics.qes import qes
from xforge.data.manifest import ManifestError, resolve_path, root_for
from xforge.data.schema import SampleRecord

log = logging.getLogger(__name__)

METRIC_GROUPS = ("localization", "detection", "explanation", "grounding")
SCORE_SOURCES = ("score", "mask_max")


@dataclass(frozen=True)
class EvalOptions:
    """What to compute and how (every choice that changes a number is here, and written to metrics.json)."""

    metrics: tuple[str, ...] = METRIC_GROUPS
    threshold: float = THRESHOLD
    inverted: bool = False  # also report the inverted-map variant (*_inv)
    border: bool = False  # also report TruFor's border-excluded variant (*_border)
    score_from: str = "score"  # detection score: the prediction's score, or the max of its predicted map
    css_model: str | None = None  # sentence-transformers model for CSS; None = packaged all-MiniLM-L6-v2
    device: str = "cpu"
    grounding_min_agreement: float = MIN_AGREEMENT
    workers: int = field(default_factory=lambda: min(8, 2 * (os.cpu_count() or 1)))

    def __post_init__(self) -> None:
        unknown = set(self.metrics) - set(METRIC_GROUPS)
        if unknown:
            raise ValueError(f"unknown metric groups {sorted(unknown)}; choose from {METRIC_GROUPS}")
        if self.score_from not in SCORE_SOURCES:
            raise ValueError(f"score_from must be one of {SCORE_SOURCES}, got {self.score_from!r}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")

    def fingerprint(self) -> str:
        """Options that change per-image rows (the worker count does not)."""
        d = asdict(self)
        d.pop("workers")
        d.pop("device")
        return json.dumps(d, sort_keys=True)


def _stat(path: Path | None) -> list:
    if path is None:
        return []
    try:
        st = path.stat()
    except OSError:
        return [str(path), None]
    return [str(path), st.st_size, st.st_mtime_ns]


def read_pred_map(pred_dir: Path, rel: str) -> np.ndarray:
    """A predicted map as stored (uint8 0..255) -- kept 8-bit so the metrics use 256-bin histograms."""
    path = pred_dir / rel
    arr = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if arr is None:
        raise ValueError(f"{path}: predicted mask missing or unreadable")
    return arr


def _decode_gt(rec: SampleRecord, root: Path) -> np.ndarray:
    from xforge.data.masks import decode_mask

    # The mask's own size is the ground truth's resolution; predictions are resized to it, never the reverse.
    return decode_mask(resolve_path(root, rec.mask), rec.mask_format)


@dataclass
class ImageJob:
    """Everything needed to score one image, resolved up front so the work itself is path-free."""

    record: SampleRecord
    root: Path | None
    prediction: dict[str, Any] | None
    pred_dir: Path
    fingerprint: str = ""

    @property
    def pred_mask_path(self) -> Path | None:
        rel = (self.prediction or {}).get("mask")
        return self.pred_dir / rel if rel else None

    @property
    def gt_mask_path(self) -> Path | None:
        if self.record.mask is None or self.root is None:
            return None
        try:
            return resolve_path(self.root, self.record.mask)
        except ManifestError:
            return None


def make_job(
    rec: SampleRecord, roots, prediction: dict | None, pred_dir: Path, options: EvalOptions
) -> ImageJob:
    """Resolve the record's root and fingerprint the inputs (prediction line, files' size and mtime, options)."""
    try:
        root = root_for(rec, roots) if roots else None
    except ManifestError:
        root = None
    job = ImageJob(rec, root, prediction, pred_dir)
    key = [
        rec.to_dict(),
        prediction,
        _stat(job.pred_mask_path),
        _stat(job.gt_mask_path),
        options.fingerprint(),
    ]
    job.fingerprint = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return job


def _base_row(job: ImageJob) -> dict[str, Any]:
    rec = job.record
    pred = job.prediction or {}
    return {
        "id": rec.id,
        "dataset": rec.dataset,
        "label": rec.label,
        "mask_format": rec.mask_format,
        "y": label_to_int(rec.label),
        "status": "ok",
        "error": None,
        "score": None,
        "verdict": pred.get("verdict"),
        "explanation": pred.get("explanation"),
        "image_path": str(resolve_path(job.root, rec.image)) if job.root is not None else None,
        "gt_mask_path": str(job.gt_mask_path) if job.gt_mask_path else None,
        "pred_mask_path": str(job.pred_mask_path) if job.pred_mask_path else None,
        "fp": job.fingerprint,
    }


def score_image(job: ImageJob, options: EvalOptions) -> dict[str, Any]:
    """Score one image; problems become ``status``/``error`` on the row instead of exceptions."""
    rec = job.record
    try:
        row = _base_row(job)
    except ManifestError as exc:
        return {
            "id": rec.id,
            "dataset": rec.dataset,
            "label": rec.label,
            "y": label_to_int(rec.label),
            "status": "error",
            "error": str(exc),
            "fp": job.fingerprint,
        }
    if job.prediction is None:
        row.update(status="missing", error="no prediction for this id")
        return row
    if job.prediction.get("error"):
        row.update(status="error", error=f"prediction error: {job.prediction['error']}")
        return row
    try:
        row.update(_score(job, options))
    except (ValueError, OSError, ManifestError) as exc:  # MaskError is a ValueError naming the file
        row.update(status="error", error=str(exc))
        log.warning("%s: %s", rec.id, exc)
    return row


def _score(job: ImageJob, options: EvalOptions) -> dict[str, Any]:
    rec, pred = job.record, job.prediction
    wants = set(options.metrics)
    localizable = rec.label != "authentic" and rec.mask is not None
    need_gt = localizable and bool(wants & {"localization", "grounding"})
    need_pred_map = (
        options.score_from == "mask_max"
        or ("localization" in wants and localizable)
        or ("grounding" in wants and bool(pred.get("explanation")))
    )
    if need_gt and job.root is None:
        raise ValueError(f"no dataset root given for {rec.dataset!r}: pass --root {rec.dataset}=PATH")
    gt = _decode_gt(rec, job.root) if need_gt else None
    pred_map = None
    if need_pred_map and job.pred_mask_path is not None:
        pred_map = read_pred_map(job.pred_dir, pred["mask"])
    out: dict[str, Any] = {}
    if options.score_from == "mask_max":
        out["score"] = score_from_map(pred_map) if pred_map is not None else 0.0
    else:
        s = pred.get("score")
        out["score"] = float(s) if isinstance(s, (int, float)) and math.isfinite(s) else None
    if "localization" in wants and pred_map is None and job.pred_mask_path is not None:
        # QES needs no ground truth: rate every predicted map there is (authentic images too).
        if job.pred_mask_path.is_file():
            pred_map = read_pred_map(job.pred_dir, pred["mask"])
    if "localization" in wants and pred_map is not None:
        out["qes"] = qes(pred_map)
    if gt is not None and pred_map is not None and pred_map.shape != gt.shape:
        # Recorded per image: a size mismatch can also mean the prediction belongs to another image.
        out["pred_resized_from"] = "x".join(str(v) for v in pred_map.shape)
        pred_map = resize_to_mask(pred_map, gt.shape)
    if "localization" in wants and localizable:
        # No predicted mask means the model marked nothing: score an all-zero map.
        shown = pred_map if pred_map is not None else np.zeros(gt.shape, np.uint8)
        out.update(
            localization_scores(
                shown, gt, threshold=options.threshold, inverted=options.inverted, border=options.border
            )
        )
    elif rec.label != "authentic" and rec.mask is None:
        out["note"] = "no ground-truth mask: left out of localization"
    if "grounding" in wants and pred.get("explanation"):
        text = pred["explanation"]
        cut = options.threshold * 255.0
        pred_bin = (pred_map > cut) if pred_map is not None else np.zeros((3, 3), bool)
        out["grounding_pred"] = grounding_consistent(text, pred_bin, options.grounding_min_agreement)
        if rec.label == "authentic":
            out["grounding_gt"] = grounding_consistent(
                text, np.zeros((3, 3), bool), options.grounding_min_agreement
            )
        elif gt is not None:
            out["grounding_gt"] = grounding_consistent(text, gt > 0, options.grounding_min_agreement)
    return out
