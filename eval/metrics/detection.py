"""Image-level detection metrics over a whole set, tampered (edited) as the positive class.

Labels are 1 for an edited image (``tampered`` or ``synthetic``) and 0 for ``authentic``; scores are the
probability that the image is edited (the prediction's ``score``, or the maximum of its predicted map when
asked -- :func:`score_from_map`, the convention of MVSS-Net and IMDL-BenCo for models without a
classification head).

- ``image_auc``: ROC AUC, ``sklearn.metrics.roc_auc_score`` (ties half).
- ``image_ap``: average precision, ``sklearn.metrics.average_precision_score`` (step-wise, no interpolation).
- ``image_acc``: accuracy with an image called edited when ``score > 0.5`` (IMDL-BenCo's
  ``predict > threshold``).
- ``image_bacc``: balanced accuracy, the mean of the true-positive and true-negative rates at 0.5
  (``sklearn.metrics.balanced_accuracy_score``; with one class present it is that class's recall, as sklearn).
- ``image_f1``: F1 at 0.5 with edited positive.

Degenerate cases: AUC and AP are undefined when the set holds one class only -- they return ``None`` (JSON
null) rather than a made-up number; ``image_f1`` is 0.0 when there are no true positives (sklearn's
``zero_division=0``); an empty set gives ``None`` everywhere. Scores must be finite.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

THRESHOLD = 0.5
POSITIVE_LABELS = ("tampered", "synthetic")


def label_to_int(label: str) -> int:
    """1 for an edited image (``tampered``/``synthetic``), 0 for ``authentic``."""
    if label == "authentic":
        return 0
    if label in POSITIVE_LABELS:
        return 1
    raise ValueError(f"unknown label {label!r}")


def score_from_map(prob_map: np.ndarray) -> float:
    """Image score read from a predicted map: its maximum, in 0..1 (uint8 maps are divided by 255)."""
    m = np.asarray(prob_map)
    if m.size == 0:
        return 0.0
    top = float(m.max())
    return top / 255.0 if m.dtype == np.uint8 else top


def _check(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{y.size} labels but {s.size} scores")
    if not np.isfinite(s).all():
        raise ValueError("detection scores must be finite")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (authentic) or 1 (edited)")
    return y, s


def image_auc(labels, scores) -> float | None:
    """ROC AUC over images (sklearn ``roc_auc_score``); None when only one class is present."""
    y, s = _check(labels, scores)
    if y.size == 0 or y.min() == y.max():
        return None
    return float(roc_auc_score(y, s))


def image_ap(labels, scores) -> float | None:
    """Average precision over images (sklearn ``average_precision_score``); None without both classes."""
    y, s = _check(labels, scores)
    if y.size == 0 or y.min() == y.max():
        return None
    return float(average_precision_score(y, s))


def _confusion(labels, scores, threshold: float) -> tuple[int, int, int, int]:
    y, s = _check(labels, scores)
    p = s > threshold
    tp = int((p & (y == 1)).sum())
    fp = int((p & (y == 0)).sum())
    fn = int((~p & (y == 1)).sum())
    tn = int((~p & (y == 0)).sum())
    return tp, fp, fn, tn


def image_acc(labels, scores, threshold: float = THRESHOLD) -> float | None:
    """Accuracy at ``score > threshold``; None for an empty set."""
    tp, fp, fn, tn = _confusion(labels, scores, threshold)
    n = tp + fp + fn + tn
    return (tp + tn) / n if n else None


def image_bacc(labels, scores, threshold: float = THRESHOLD) -> float | None:
    """Balanced accuracy at ``score > threshold``: mean recall of the classes present; None for an empty set."""
    tp, fp, fn, tn = _confusion(labels, scores, threshold)
    recalls = []
    if tp + fn:
        recalls.append(tp / (tp + fn))
    if tn + fp:
        recalls.append(tn / (tn + fp))
    return float(np.mean(recalls)) if recalls else None


def image_f1(labels, scores, threshold: float = THRESHOLD) -> float | None:
    """F1 of the edited class at ``score > threshold``; 0.0 without true positives, None for an empty set."""
    tp, fp, fn, tn = _confusion(labels, scores, threshold)
    if tp + fp + fn + tn == 0:
        return None
    den = 2 * tp + fp + fn
    return 2 * tp / den if den else 0.0


def detection_scores(labels, scores, threshold: float = THRESHOLD) -> dict[str, float | None]:
    """All detection numbers of a set: ``image_auc``, ``image_ap``, ``image_acc``, ``image_bacc``, ``image_f1``."""
    return {
        "image_auc": image_auc(labels, scores),
        "image_ap": image_ap(labels, scores),
        "image_acc": image_acc(labels, scores, threshold),
        "image_bacc": image_bacc(labels, scores, threshold),
        "image_f1": image_f1(labels, scores, threshold),
    }
