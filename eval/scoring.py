"""Per-image scoring: one manifest record + its prediction line -> one flat row of numbers.

A row holds what the dataset-level tables need, so tables, CSV and plots are all computed from rows and a
resumed run only re-reads rows: ``id``, ``dataset``, ``label``, ``y`` (1 edited / 0 authentic), ``status``
(``ok`` | ``missing`` -- no prediction line | ``error`` -- the prediction or a file could not be used, with
``error`` saying why), ``scored_as_failure`` (True when a missing or unusable prediction was scored as an
answer that found nothing: score 0 and an empty mask; the default, see :func:`counted`), ``gt_resized_from``
(a ground-truth mask resampled to its image's size with ``resize_masks``), ``score`` (detection score
used), ``verdict``, the localization keys of
:func:`eval.metrics.localization.localization_scores` (tampered images with a ground-truth mask only),
``grounding_pred`` / ``grounding_gt`` (True/False/None; a generated -- ``synthetic`` -- image never enters
localization, as it has no edited region), ``qes`` (:func:`eval.metrics.qes.qes` of the
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
from xforge.inference.result import CLASSES

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
    # A missing or unusable prediction is scored as "found nothing" (score 0, empty mask) unless this is
    # set, which leaves such images out of every metric (the older behaviour; metrics.md says so).
    skip_missing: bool = False
    # A ground-truth mask whose size differs from its image is refused unless this is set (then it is
    # resampled to the image's size, nearest neighbour, and the row records it).
    resize_masks: bool = False
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


class PredictionError(ValueError):
    """The prediction of an image cannot be used (its mask is missing, unreadable or outside its folder)."""


class GroundTruthError(ValueError):
    """The ground truth of an image cannot be used (mask unreadable, of another size than its image...)."""


def predicted_class(row: dict[str, Any], threshold: float = THRESHOLD) -> str:
    """The class (``authentic`` / ``tampered`` / ``synthetic``) a row's prediction gave its image.

    The prediction's ``verdict``; an image scored as a failure (no usable prediction) found nothing, so
    ``authentic``; a line without a verdict (a hand-made two-way file) is ``tampered`` when its score is
    above ``threshold``, else ``authentic``.
    """
    if row.get("scored_as_failure"):
        return "authentic"
    verdict = row.get("verdict")
    if verdict in CLASSES:
        return verdict
    score = row.get("score")
    return "tampered" if score is not None and score > threshold else "authentic"


def counted(row: dict[str, Any]) -> bool:
    """Does this row enter the metrics? Scored rows, and missing/unusable predictions scored as failures."""
    return row["status"] == "ok" or bool(row.get("scored_as_failure"))


def prediction_mask_path(pred_dir: Path, rel: Any) -> Path:
    """``pred_dir / rel`` for a prediction's ``mask`` field; refuses paths that are not inside ``pred_dir``
    (an absolute path or ``../`` could point at the ground truth and score it against itself)."""
    if not isinstance(rel, str) or not rel.strip():
        raise PredictionError(f"{pred_dir}: the prediction's mask field {rel!r} is not a relative path")
    if os.path.isabs(rel) or rel.startswith(("\\", "/")) or ":" in rel[:3]:
        raise PredictionError(f"{pred_dir}: the prediction's mask path {rel!r} is absolute; refused")
    base = os.path.realpath(pred_dir)
    full = os.path.realpath(os.path.join(base, rel))
    if os.path.commonpath([base, full]) != base:
        raise PredictionError(f"{pred_dir}: the prediction's mask path {rel!r} leaves the folder; refused")
    return Path(pred_dir) / rel


def read_pred_map(pred_dir: Path, rel: str) -> np.ndarray:
    """A predicted map as stored (uint8 0..255) -- kept 8-bit so the metrics use 256-bin histograms."""
    path = prediction_mask_path(pred_dir, rel)
    if not path.is_file():  # checked here, so OpenCV does not print its own warning
        raise PredictionError(f"{path}: predicted mask missing")
    arr = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if arr is None:
        raise PredictionError(f"{path}: predicted mask missing or unreadable")
    return arr


def _image_size(rec: SampleRecord, root: Path) -> tuple[int, int] | None:
    """The image's (width, height): from the record, else from the image header; None if unknown."""
    from xforge.data.images import ImageReadError, read_image_size

    if rec.width and rec.height:
        return rec.width, rec.height
    try:
        return read_image_size(resolve_path(root, rec.image))
    except (ImageReadError, ManifestError, OSError):
        return None


def _decode_gt(rec: SampleRecord, root: Path, options: EvalOptions) -> tuple[np.ndarray, str | None]:
    """The ground-truth mask at its image's size, and the size it was resampled from (or None).

    The mask must have its image's size: a mask of another size is refused (the F1 against a misaligned
    mask means nothing) unless ``options.resize_masks``, or the manifest records the dataset's documented
    fix (``meta.mask_resize == "nearest"``).
    """
    from xforge.data.masks import MaskError, decode_mask, fit_mask

    path = resolve_path(root, rec.mask)
    try:
        gt = decode_mask(path, rec.mask_format)
    except MaskError as exc:
        raise GroundTruthError(str(exc)) from None
    size = _image_size(rec, root)
    if size is None or gt.shape[:2] == (size[1], size[0]):
        return gt, None
    if options.resize_masks or rec.meta.get("mask_resize") == "nearest":
        return fit_mask(gt, size, resize_policy="nearest", path=path), f"{gt.shape[1]}x{gt.shape[0]}"
    raise GroundTruthError(
        f"{path}: ground-truth mask is {gt.shape[1]}x{gt.shape[0]} but its image is {size[0]}x{size[1]} "
        "(width x height); refused -- pass --resize-masks to resample it to the image (nearest neighbour)"
    )


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
        if not rel:
            return None
        try:
            return prediction_mask_path(self.pred_dir, rel)
        except PredictionError:
            return None  # refused when scored, with the reason on the row

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
    """Score one image; problems become ``status``/``error`` on the row instead of exceptions.

    A missing or unusable prediction is scored as an answer that found nothing (score 0, empty mask, no
    explanation) and flagged ``scored_as_failure``, unless ``options.skip_missing``. A ground-truth problem
    leaves the image out of the metrics (it is no fault of the prediction) with the reason on the row.
    """
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
    pred = job.prediction
    if pred is None:
        row.update(status="missing", error="no prediction for this id")
    elif pred.get("error"):
        row.update(status="error", error=f"prediction error: {pred['error']}")
    else:
        try:
            row.update(_score(job, options, pred))
            return row
        except (GroundTruthError, ManifestError) as exc:
            row.update(status="error", error=str(exc))
            log.warning("%s: %s", rec.id, exc)
            return row
        except (ValueError, OSError) as exc:  # the prediction's own files: PredictionError and the like
            row.update(status="error", error=str(exc))
            log.warning("%s: %s", rec.id, exc)
    if not options.skip_missing:
        nothing = {"score": 0.0, "mask": None, "verdict": None, "explanation": None}
        try:
            row.update(_score(job, options, nothing), scored_as_failure=True, verdict=None, explanation=None)
        except (GroundTruthError, ManifestError, ValueError, OSError) as exc:
            row["error"] = f"{row['error']}; and its ground truth cannot be used: {exc}"
    return row


def _score(job: ImageJob, options: EvalOptions, pred: dict[str, Any]) -> dict[str, Any]:
    rec = job.record
    wants = set(options.metrics)
    # Only an edited image has a region; a generated one (``synthetic``) never enters localization.
    localizable = rec.label == "tampered" and rec.mask is not None
    need_gt = localizable and bool(wants & {"localization", "grounding"})
    need_pred_map = (
        options.score_from == "mask_max"
        or ("localization" in wants and localizable)
        or ("grounding" in wants and bool(pred.get("explanation")))
    )
    if need_gt and job.root is None:
        raise GroundTruthError(f"no dataset root given for {rec.dataset!r}: pass --root {rec.dataset}=PATH")
    out: dict[str, Any] = {}
    gt = None
    if need_gt:
        gt, resized_from = _decode_gt(rec, job.root, options)
        if resized_from:
            out["gt_resized_from"] = resized_from
    pred_map = None
    if pred.get("mask"):
        # Checked even when no metric needs the map: a line naming a file outside its folder is refused.
        prediction_mask_path(job.pred_dir, pred["mask"])
        if need_pred_map:
            pred_map = read_pred_map(job.pred_dir, pred["mask"])
    if options.score_from == "mask_max":
        out["score"] = score_from_map(pred_map) if pred_map is not None else 0.0
    else:
        s = pred.get("score")
        out["score"] = float(s) if isinstance(s, (int, float)) and math.isfinite(s) else None
    if "localization" in wants and pred_map is None and pred.get("mask") and job.pred_mask_path is not None:
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
    elif rec.label == "tampered" and rec.mask is None:
        out["note"] = "no ground-truth mask: left out of localization"
    elif rec.label == "synthetic":
        out["note"] = "generated image (no edited region): left out of localization"
    if "grounding" in wants and pred.get("explanation"):
        text = pred["explanation"]
        cut = options.threshold * 255.0
        pred_bin = (pred_map > cut) if pred_map is not None else np.zeros((3, 3), bool)
        out["grounding_pred"] = grounding_consistent(
            text, pred_bin, options.grounding_min_agreement, verdict=pred.get("verdict")
        )
        if rec.label == "authentic":
            out["grounding_gt"] = grounding_consistent(
                text, np.zeros((3, 3), bool), options.grounding_min_agreement
            )
        elif gt is not None:
            out["grounding_gt"] = grounding_consistent(text, gt > 0, options.grounding_min_agreement)
    return out
