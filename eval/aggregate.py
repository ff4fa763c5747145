"""Per-image rows -> one flat table per dataset plus an average row (the keys metrics.json uses).

Per dataset: localization numbers are means over its tampered images that have a usable ground-truth
mask (authentic and generated -- ``synthetic`` -- images never enter them); an image whose prediction is missing or unusable enters every
number as an answer that found nothing (score 0, empty mask) unless ``skip_missing`` left it out; ``ciou`` / ``giou`` use the same images; detection
numbers use every image with a usable score; three-class numbers (``eval.metrics.classes``: the true class is
the manifest label, the predicted one the prediction's verdict, see ``eval.scoring.predicted_class``) every
counted image; explanation numbers every image with a reference and an
explanation; grounding rates every image whose explanation makes a claim. The average row is the unweighted
mean of the datasets' values (the "Avg" column of TruFor / IMDL-BenCo tables); counts are summed there, the
confusion matrices too.
A number that cannot be computed (no image qualifies) is None, written as null / "n/a".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from eval.metrics.classes import class_scores
from eval.metrics.detection import THRESHOLD, detection_scores
from eval.metrics.localization import ciou, giou, mean_defined
from eval.scoring import counted, predicted_class
from xforge.inference.result import CLASSES

LOC_BASE = ("pixel_f1", "pixel_iou", "pixel_precision", "pixel_recall", "pixel_auc", "pixel_f1_best")
LOC_SUFFIXES = ("", "_inv", "_border", "_border_inv")
DETECTION_KEYS = ("image_auc", "image_ap", "image_acc", "image_bacc", "image_f1")
CLASS_KEYS = ("class_acc", "class_macro_f1", *(f"class_f1_{c}" for c in CLASSES))
CONFUSION = "class_confusion"  # 3x3 counts, rows = true class, columns = predicted (CLASSES order)
EXPLANATION_KEYS = ("css", "rouge_l", "bleu4", "meteor", "cider")
GROUNDING_KEYS = ("grounding_pred", "grounding_gt")
QES_KEYS = ("qes", "qes_f1_spearman", "n_qes")
COUNT_KEYS = (
    "n_images",
    "n_tampered",
    "n_synthetic",
    "n_localized",
    "n_missing",
    "n_errors",
    "n_scored_as_failure",
    "n_left_out",
    "n_gt_resized",
    "n_auc_undefined",
)
AVERAGE = "average"


def metric_keys(inverted: bool = False, border: bool = False) -> list[str]:
    """Every metric key a table may hold, in report order."""
    keys = list(LOC_BASE)
    for on, suffix in ((inverted, "_inv"), (border, "_border"), (inverted and border, "_border_inv")):
        if on:
            keys += [k + suffix for k in LOC_BASE]
    return [
        *keys,
        "ciou",
        "giou",
        *DETECTION_KEYS,
        *CLASS_KEYS,
        *EXPLANATION_KEYS,
        *GROUNDING_KEYS,
        *QES_KEYS[:2],
    ]


def _rate(values: Iterable[Any]) -> float | None:
    vals = [bool(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def dataset_table(
    rows: Sequence[dict[str, Any]], explanation: dict[str, Any] | None = None, threshold: float = THRESHOLD
) -> dict[str, Any]:
    """The flat table of one dataset's rows (``explanation``: the corpus-level text scores of those rows;
    ``threshold``: the image-level decision threshold, the pixel one was applied when rows were scored)."""
    ok = [r for r in rows if counted(r)]
    loc = [r for r in ok if "pixel_f1" in r]
    table: dict[str, Any] = {
        "n_images": len(rows),
        "n_tampered": sum(1 for r in rows if r["y"] == 1),
        "n_synthetic": sum(1 for r in rows if r.get("label") == "synthetic"),
        "n_localized": len(loc),
        "n_missing": sum(1 for r in rows if r["status"] == "missing"),
        "n_errors": sum(1 for r in rows if r["status"] == "error"),
        "n_scored_as_failure": sum(1 for r in rows if r.get("scored_as_failure")),
        "n_left_out": len(rows) - len(ok),
        "n_gt_resized": sum(1 for r in rows if r.get("gt_resized_from")),
    }
    if loc:
        for suffix in LOC_SUFFIXES:
            for base in LOC_BASE:
                key = base + suffix
                if key in loc[0]:
                    value, skipped = mean_defined(r.get(key) for r in loc)
                    table[key] = value
                    if key == "pixel_auc":
                        table["n_auc_undefined"] = skipped
        inter = np.array([r["intersection"] for r in loc])
        union = np.array([r["union"] for r in loc])
        table["ciou"], table["giou"] = ciou(inter, union), giou(inter, union)
    scored = [r for r in ok if r.get("score") is not None]
    if scored:
        table.update(detection_scores([r["y"] for r in scored], [r["score"] for r in scored], threshold))
    classed = [r for r in ok if r.get("label") in CLASSES]
    if classed:
        table.update(
            class_scores([r["label"] for r in classed], [predicted_class(r, threshold) for r in classed])
        )
    if explanation:
        table.update(explanation)
    for key in GROUNDING_KEYS:
        if any(key in r for r in ok):
            table[key] = _rate(r.get(key) for r in ok)
    table.update(qes_table(ok, loc))
    return table


def qes_table(ok: Sequence[dict[str, Any]], loc: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean QES over the images with a predicted map, and Spearman's rho between QES and pixel F1 over the
    localization set (does the ground-truth-free score rank predictions as the ground truth does?)."""
    rated = [r["qes"] for r in ok if r.get("qes") is not None]
    if not rated:
        return {}
    out: dict[str, Any] = {"qes": float(np.mean(rated)), "n_qes": len(rated), "qes_f1_spearman": None}
    both = [(r["qes"], r["pixel_f1"]) for r in loc if r.get("qes") is not None]
    q, f1 = (np.array(v, float) for v in zip(*both)) if both else (np.zeros(0), np.zeros(0))
    if len(both) >= 3 and np.ptp(q) > 0 and np.ptp(f1) > 0:  # undefined when either is constant
        from scipy.stats import spearmanr

        out["qes_f1_spearman"] = float(spearmanr(q, f1).statistic)
    return out


def average_table(tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Unweighted mean over datasets of every metric, counts summed."""
    avg: dict[str, Any] = {}
    keys = [k for t in tables.values() for k in t]
    for key in dict.fromkeys(keys):
        values = [t.get(key) for t in tables.values()]
        if key.startswith("n_"):
            avg[key] = int(sum(v for v in values if v is not None))
            continue
        if key == CONFUSION:  # counts: the pooled matrix of all datasets
            avg[key] = np.sum([v for v in values if v is not None], axis=0).astype(int).tolist()
            continue
        defined = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
        avg[key] = float(np.mean(defined)) if defined else None
    return avg
