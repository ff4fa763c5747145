"""Three-class detection metrics: authentic / tampered (edited in a region) / synthetic (fully generated).

SIDA (Huang et al., "SIDA: Social Media Image Deepfake Detection, Localization and Explanation with Large
Multimodal Model", CVPR 2025) reports detection on its three classes (real, fully synthetic, tampered) as
accuracy and F1 per class and averaged; these are the standard multi-class definitions, as scikit-learn
computes them (``sklearn.metrics.confusion_matrix``, ``accuracy_score``, ``f1_score``), written here on the
confusion matrix so every number of a table comes from one matrix:

- :func:`confusion_counts`: ``C[i, j]`` = images of true class ``i`` predicted as class ``j`` (rows truth,
  columns prediction, classes in :data:`CLASSES` order) -- ``confusion_matrix(y, p, labels=CLASSES)``.
- :func:`class_accuracy`: ``trace(C) / sum(C)`` -- ``accuracy_score``.
- :func:`class_f1`: per class ``2 TP / (2 TP + FP + FN)``; None for a class in neither the truth nor the
  predictions (nothing to score) -- ``f1_score(average=None)``, with 0.0 where sklearn's ``zero_division``
  gives 0.
- :func:`macro_f1`: the unweighted mean of :func:`class_f1` over the classes present in the truth or the
  predictions -- ``f1_score(average="macro")``, which averages over exactly those labels. A set with no
  generated image and no "synthetic" answer is thus scored as the two-class problem it is.

An empty set gives None everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xforge.inference.result import CLASSES


def confusion_counts(truth: Sequence[str], predicted: Sequence[str]) -> np.ndarray:
    """The 3x3 confusion matrix (int64): rows = true class, columns = predicted class, in CLASSES order."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true classes but {len(predicted)} predicted ones")
    index = {c: i for i, c in enumerate(CLASSES)}
    cm = np.zeros((len(CLASSES), len(CLASSES)), np.int64)
    for t, p in zip(truth, predicted):
        if t not in index or p not in index:
            raise ValueError(f"classes must be one of {CLASSES}, got true {t!r}, predicted {p!r}")
        cm[index[t], index[p]] += 1
    return cm


def class_accuracy(cm: np.ndarray) -> float | None:
    """Share of images whose predicted class is their true class; None for an empty set."""
    cm = np.asarray(cm)
    n = int(cm.sum())
    return float(np.trace(cm)) / n if n else None


def class_f1(cm: np.ndarray) -> dict[str, float | None]:
    """Per-class F1 = 2 TP / (2 TP + FP + FN), one-vs-rest; None for a class neither true nor predicted."""
    cm = np.asarray(cm)
    out: dict[str, float | None] = {}
    for i, c in enumerate(CLASSES):
        tp = int(cm[i, i])
        fn = int(cm[i].sum()) - tp
        fp = int(cm[:, i].sum()) - tp
        den = 2 * tp + fp + fn
        out[c] = 2 * tp / den if den else None
    return out


def macro_f1(cm: np.ndarray) -> float | None:
    """Unweighted mean of the per-class F1 over the classes present in truth or predictions; None if empty."""
    defined = [v for v in class_f1(cm).values() if v is not None]
    return float(np.mean(defined)) if defined else None


def class_scores(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, object]:
    """Every three-class number of a set: ``class_acc``, ``class_macro_f1``, ``class_f1_<class>`` and
    ``class_confusion`` (the matrix as nested lists)."""
    cm = confusion_counts(truth, predicted)
    table: dict[str, object] = {"class_acc": class_accuracy(cm), "class_macro_f1": macro_f1(cm)}
    table.update({f"class_f1_{c}": v for c, v in class_f1(cm).items()})
    table["class_confusion"] = cm.tolist()
    return table
