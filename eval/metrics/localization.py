"""Pixel-level localization metrics, per image, as IMDL-BenCo, MVSS-Net and TruFor compute them.

Every metric takes a predicted map and a ground-truth mask for ONE tampered image. Maps are either ``uint8``
(0..255, the predictions-folder PNG; probability = value / 255) or floats in 0..1; masks are anything whose
non-zero pixels are forged. All metrics of an image are read from two histograms -- how many forged and how
many pristine pixels fall at each distinct map level (:class:`LevelHistogram`) -- so one pass over the pixels
serves F1, IoU, precision, recall at 0.5, the best-threshold F1 and the AUC, plain and inverted.

Definitions (TP, FP, FN, TN counted over pixels; "positive" = forged):

- fixed threshold: a pixel is predicted forged when ``p > 0.5`` (IMDL-BenCo ``predict > threshold``,
  TruFor ``map > 0.5``). On an 8-bit map this is ``value >= 128``.
- ``pixel_f1 = 2TP / (2TP + FP + FN)``, ``pixel_iou = TP / (TP + FP + FN)``, ``pixel_precision = TP / (TP + FP)``,
  ``pixel_recall = TP / (TP + FN)``.
- ``pixel_f1_best``: the maximum F1 over every threshold of the image's own map (an oracle: the threshold
  is chosen with the ground truth; TruFor's ``F1_best``). Thresholds are every distinct level ``p >= level``;
  TruFor's sweep (``p > level``) omits only the "everything forged" threshold, which is included here.
- ``pixel_auc``: area under the pixel ROC curve, the Mann-Whitney statistic with ties counted half, which
  equals ``sklearn.metrics.roc_auc_score`` on the flattened pixels.
- inverted-map variant (TruFor's ``max(f1, f1i)``): each metric is also computed on ``1 - map`` and the larger
  value is kept. It is reported under its own key (``*_inv``), never mixed with the plain value.
- border exclusion (TruFor ``extractGTs``): positives are the mask eroded with a 15x15 square, negatives the
  pixels outside the mask dilated with an 11x11 square; the band in between is ignored. Reported as
  ``*_border``.

Degenerate cases (no NaN ever comes out of the ratio metrics):

- A ratio whose denominator is 0 is 0.0: an empty mask with an empty prediction gives F1 = IoU = precision
  = recall = 0.0, as TruFor (``2TP / max(2TP+FN+FP, 1e-32)``) and IMDL-BenCo (``+ 1e-8`` in the
  denominator) return. The evaluator never feeds authentic images here (localization is tampered-only).
- An all-forged mask: F1 / IoU / precision / recall are well defined; ``pixel_f1_best`` is 1.0 if some
  threshold marks every pixel (always true: the lowest level does).
- A constant prediction: F1 at 0.5 is 0.0 when the constant is <= 0.5, else ``2P / (2P + N)``; the AUC is 0.5.
- ``pixel_auc`` of a mask that is all forged or all pristine is undefined (sklearn raises): it returns
  ``nan`` and :func:`mean_defined` leaves it out of averages, counting it instead.

Predicted maps of another size than the mask are resized to the mask (bilinear, :func:`resize_to_mask`),
never the reverse, so the ground truth is scored at its own resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

THRESHOLD = 0.5
ERODE_KERNEL = 15  # TruFor extractGTs: positives eroded 15x15
DILATE_KERNEL = 11  # TruFor extractGTs: negatives outside the mask dilated 11x11


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else 0.0


@dataclass(frozen=True)
class LevelHistogram:
    """Forged (``pos``) and pristine (``neg``) pixel counts at each distinct map level (ascending, 0..1)."""

    levels: np.ndarray
    pos: np.ndarray
    neg: np.ndarray

    @property
    def n_pos(self) -> int:
        return int(self.pos.sum())

    @property
    def n_neg(self) -> int:
        return int(self.neg.sum())

    def inverted(self) -> LevelHistogram:
        """The histogram of ``1 - map``."""
        return LevelHistogram(1.0 - self.levels[::-1], self.pos[::-1], self.neg[::-1])


# calcHist counts in float32, exact only below 2**24 pixels; larger maps use np.bincount.
_CALCHIST_EXACT_LIMIT = 1 << 24
_UINT8_LEVELS = np.arange(256, dtype=np.float64) / 255.0


def _as_bool_mask(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {m.shape}")
    return m if m.dtype == bool else m > 0


def _selector(mask: np.ndarray) -> np.ndarray:
    """A uint8 view/array whose non-zero pixels are selected -- what cv2.calcHist takes, without a copy
    for the 0/1 uint8 masks ``decode_mask`` returns or for bool masks."""
    m = np.asarray(mask)
    if m.dtype == np.uint8:
        return m
    if m.dtype == bool:
        return m.view(np.uint8)
    return (m > 0).view(np.uint8)


def _hist_uint8(pred: np.ndarray, select: np.ndarray | None) -> np.ndarray:
    if pred.size >= _CALCHIST_EXACT_LIMIT:
        values = pred if select is None else pred[_selector(select) > 0]
        return np.bincount(values.ravel(), minlength=256).astype(np.int64)
    # cv2.calcHist is one C pass that releases the GIL, so a thread pool scales over images.
    m = None if select is None else np.ascontiguousarray(_selector(select))
    h = cv2.calcHist([np.ascontiguousarray(pred)], [0], m, [256], [0, 256])
    return np.rint(h.reshape(-1)).astype(np.int64)


def level_histogram(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> LevelHistogram:
    """Histograms of the map's levels over forged and pristine pixels (``valid`` limits the pixels counted).

    ``uint8`` maps use their 256 levels; float maps use their exact distinct values (so results equal
    scikit-learn's on the same floats).
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if gt.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {gt.shape}")
    if pred.shape != gt.shape:
        raise ValueError(
            f"prediction shape {pred.shape} differs from mask shape {gt.shape}: resize_to_mask first"
        )
    if pred.dtype == np.uint8:
        if valid is None:
            pos = _hist_uint8(pred, gt)
            allc = _hist_uint8(pred, None)
        else:
            v = _as_bool_mask(valid)
            pos = _hist_uint8(pred, _as_bool_mask(gt) & v)
            allc = _hist_uint8(pred, v)
        return LevelHistogram(_UINT8_LEVELS, pos, allc - pos)
    g = _as_bool_mask(gt)
    v = None if valid is None else _as_bool_mask(valid)
    p = pred.astype(np.float64, copy=False)
    if not np.isfinite(p).all():
        raise ValueError("prediction map holds NaN or infinite values")
    if v is not None:
        p, g = p[v], g[v]
    levels, inverse = np.unique(p.ravel(), return_inverse=True)
    pos = np.bincount(inverse, weights=g.ravel(), minlength=len(levels)).astype(np.int64)
    allc = np.bincount(inverse, minlength=len(levels)).astype(np.int64)
    return LevelHistogram(levels, pos, allc - pos)


def confusion_at(hist: LevelHistogram, threshold: float = THRESHOLD) -> tuple[int, int, int, int]:
    """(TP, FP, FN, TN) with a pixel predicted forged when its level is ``> threshold``."""
    above = hist.levels > threshold
    tp = int(hist.pos[above].sum())
    fp = int(hist.neg[above].sum())
    return tp, fp, hist.n_pos - tp, hist.n_neg - fp


def f1_from_counts(tp: int, fp: int, fn: int) -> float:
    return _ratio(2 * tp, 2 * tp + fp + fn)


def iou_from_counts(tp: int, fp: int, fn: int) -> float:
    return _ratio(tp, tp + fp + fn)


def best_f1_from_hist(hist: LevelHistogram) -> float:
    """Max F1 over the thresholds ``p >= level`` for every level (see the module docstring)."""
    tp = np.cumsum(hist.pos[::-1])
    fp = np.cumsum(hist.neg[::-1])
    fn = hist.n_pos - tp
    den = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, den, out=np.zeros(len(den), dtype=np.float64), where=den > 0)
    return float(f1.max()) if len(f1) else 0.0


def auc_from_hist(hist: LevelHistogram) -> float:
    """Mann-Whitney AUC (ties half), ``nan`` when the pixels hold one class only."""
    n_pos, n_neg = hist.n_pos, hist.n_neg
    if n_pos == 0 or n_neg == 0:
        return math.nan
    neg_below = np.cumsum(hist.neg) - hist.neg
    u = float(np.dot(hist.pos, neg_below + 0.5 * hist.neg))
    return u / (float(n_pos) * float(n_neg))


def pixel_f1(pred: np.ndarray, gt: np.ndarray, threshold: float = THRESHOLD) -> float:
    """Pixel F1 at a fixed threshold (IMDL-BenCo ``PixelF1``, TruFor ``F1_th``); 0.0 when undefined."""
    tp, fp, fn, _ = confusion_at(level_histogram(pred, gt), threshold)
    return f1_from_counts(tp, fp, fn)


def pixel_iou(pred: np.ndarray, gt: np.ndarray, threshold: float = THRESHOLD) -> float:
    """Pixel IoU (Jaccard) of the forged class at a fixed threshold (IMDL-BenCo ``PixelIOU``); 0.0 when undefined."""
    tp, fp, fn, _ = confusion_at(level_histogram(pred, gt), threshold)
    return iou_from_counts(tp, fp, fn)


def pixel_precision(pred: np.ndarray, gt: np.ndarray, threshold: float = THRESHOLD) -> float:
    """Pixel precision TP / (TP + FP) at a fixed threshold; 0.0 when nothing is predicted forged."""
    tp, fp, _, _ = confusion_at(level_histogram(pred, gt), threshold)
    return _ratio(tp, tp + fp)


def pixel_recall(pred: np.ndarray, gt: np.ndarray, threshold: float = THRESHOLD) -> float:
    """Pixel recall TP / (TP + FN) at a fixed threshold; 0.0 when the mask is empty."""
    tp, _, fn, _ = confusion_at(level_histogram(pred, gt), threshold)
    return _ratio(tp, tp + fn)


def pixel_f1_best(pred: np.ndarray, gt: np.ndarray) -> float:
    """Per-image best-threshold F1 (TruFor ``F1_best``; an oracle, report it as such)."""
    return best_f1_from_hist(level_histogram(pred, gt))


def pixel_auc(pred: np.ndarray, gt: np.ndarray) -> float:
    """Per-image pixel ROC AUC (equals ``sklearn.metrics.roc_auc_score``); ``nan`` for a one-class mask."""
    return auc_from_hist(level_histogram(pred, gt))


def border_regions(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TruFor's ``extractGTs``: (positives eroded 15x15, negatives outside the mask dilated 11x11), both bool.

    ``scipy.ndimage.minimum_filter`` (TruFor) and ``cv2.erode`` with a square kernel agree here: the
    reflected border pixels scipy adds all lie inside the window already.
    """
    g = _as_bool_mask(gt).astype(np.uint8)
    pos = cv2.erode(g, np.ones((ERODE_KERNEL, ERODE_KERNEL), np.uint8)) > 0
    neg = cv2.dilate(g, np.ones((DILATE_KERNEL, DILATE_KERNEL), np.uint8)) == 0
    return pos, neg


def resize_to_mask(pred: np.ndarray, mask_shape: tuple[int, int]) -> np.ndarray:
    """Resize a predicted map to the mask's (height, width), bilinear; the mask is never resized."""
    pred = np.asarray(pred)
    if pred.shape[:2] == tuple(mask_shape):
        return pred
    h, w = mask_shape
    if pred.dtype == np.uint8:
        return cv2.resize(pred, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(pred.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def _scores(hist: LevelHistogram, threshold: float) -> dict[str, float]:
    tp, fp, fn, _ = confusion_at(hist, threshold)
    return {
        "pixel_f1": f1_from_counts(tp, fp, fn),
        "pixel_iou": iou_from_counts(tp, fp, fn),
        "pixel_precision": _ratio(tp, tp + fp),
        "pixel_recall": _ratio(tp, tp + fn),
        "pixel_f1_best": best_f1_from_hist(hist),
        "pixel_auc": auc_from_hist(hist),
    }


def _inverted_best(hist: LevelHistogram, threshold: float) -> dict[str, float]:
    """TruFor's inverted-map variant: each score is the better of the map and ``1 - map``.

    The fixed-threshold scores of ``1 - map`` are those of the complement of the plain decision
    (TruFor's ``f1i = computeF1(TN, FN, TP, FP)``); precision, recall and IoU follow the orientation whose
    F1 at the threshold is higher, so the four fixed-threshold numbers describe one decision.
    """
    plain = _scores(hist, threshold)
    tp, fp, fn, tn = confusion_at(hist, threshold)
    flipped = {
        "pixel_f1": f1_from_counts(fn, tn, tp),
        "pixel_iou": iou_from_counts(fn, tn, tp),
        "pixel_precision": _ratio(fn, fn + tn),
        "pixel_recall": _ratio(fn, fn + tp),
    }
    fixed = flipped if flipped["pixel_f1"] > plain["pixel_f1"] else plain
    auc = plain["pixel_auc"]
    return {
        "pixel_f1": fixed["pixel_f1"],
        "pixel_iou": fixed["pixel_iou"],
        "pixel_precision": fixed["pixel_precision"],
        "pixel_recall": fixed["pixel_recall"],
        "pixel_f1_best": max(plain["pixel_f1_best"], best_f1_from_hist(hist.inverted())),
        "pixel_auc": auc if math.isnan(auc) else max(auc, 1.0 - auc),
    }


def localization_scores(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    threshold: float = THRESHOLD,
    inverted: bool = False,
    border: bool = False,
) -> dict[str, float]:
    """Every per-image localization number of one tampered image, from one histogram pass.

    Keys: ``pixel_f1``, ``pixel_iou``, ``pixel_precision``, ``pixel_recall``, ``pixel_f1_best``,
    ``pixel_auc``; ``intersection`` and ``union`` (pixel counts at the threshold, for cIoU / gIoU); with
    ``inverted`` the same six keys suffixed ``_inv`` (max of map and 1 - map); with ``border`` suffixed
    ``_border`` (TruFor's border exclusion; with both, also ``_border_inv``).
    """
    g = np.asarray(gt)
    pred = resize_to_mask(pred, g.shape)
    hist = level_histogram(pred, g)
    out = _scores(hist, threshold)
    tp, fp, fn, _ = confusion_at(hist, threshold)
    out["intersection"] = float(tp)
    out["union"] = float(tp + fp + fn)
    variants: list[tuple[str, LevelHistogram]] = []
    if inverted:
        variants.append(("_inv", hist))
    if border:
        pos, neg = border_regions(g)
        bhist = level_histogram(pred, pos, valid=pos | neg)
        out.update({k + "_border": v for k, v in _scores(bhist, threshold).items()})
        if inverted:
            variants.append(("_border_inv", bhist))
    for suffix, h in variants:
        out.update({k + suffix: v for k, v in _inverted_best(h, threshold).items()})
    return out


def lisa_iou_terms(pred: np.ndarray, gt: np.ndarray, threshold: float = THRESHOLD) -> tuple[float, float]:
    """(intersection, union) of the forged class, the terms LISA sums for cIoU and averages for gIoU."""
    tp, fp, fn, _ = confusion_at(level_histogram(resize_to_mask(pred, np.shape(gt)), gt), threshold)
    return float(tp), float(tp + fp + fn)


def ciou(intersections: np.ndarray, unions: np.ndarray) -> float:
    """Cumulative IoU (LISA ``ciou = intersection_meter.sum / (union_meter.sum + 1e-10)``): sum I / sum U.

    0.0 when every union is empty.
    """
    return _ratio(float(np.sum(intersections)), float(np.sum(unions)))


def giou(intersections: np.ndarray, unions: np.ndarray) -> float:
    """Generalized IoU as LISA reports it: the mean of per-image IoU, an image with an empty union (empty
    mask, empty prediction) counting 1.0 (LISA's ``acc_iou[union == 0] += 1.0``). 0.0 for no images."""
    i = np.asarray(intersections, dtype=np.float64)
    u = np.asarray(unions, dtype=np.float64)
    if i.size == 0:
        return 0.0
    per = np.divide(i, u, out=np.ones_like(i), where=u > 0)
    return float(per.mean())


def mean_defined(values) -> tuple[float | None, int]:
    """Mean of the finite values and how many were left out (``nan``/``None``); None when none is defined."""
    arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    ok = np.isfinite(arr)
    skipped = int((~ok).sum())
    return (float(arr[ok].mean()) if ok.any() else None), skipped
