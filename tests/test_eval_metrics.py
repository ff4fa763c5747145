"""Metric functions against independent computations (scikit-learn, scipy, plain numpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import maximum_filter, minimum_filter
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    jaccard_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

from eval.metrics import detection as det
from eval.metrics import localization as loc


def _case(seed: int, h: int = 40, w: int = 50, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    gt = np.zeros((h, w), np.uint8)
    y, x = rng.integers(0, h - 10), rng.integers(0, w - 10)
    gt[y : y + rng.integers(3, 10), x : x + rng.integers(3, 10)] = 1
    noise = rng.random((h, w))
    prob = np.clip(0.6 * gt + 0.5 * noise, 0, 1)
    pred = (prob * 255).round().astype(np.uint8) if dtype == np.uint8 else prob.astype(dtype)
    return pred, gt


def _as_prob(pred):
    return pred.astype(np.float64) / 255.0 if pred.dtype == np.uint8 else pred.astype(np.float64)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_fixed_threshold_metrics_match_sklearn(seed, dtype):
    pred, gt = _case(seed, dtype=dtype)
    y, p = gt.ravel(), (_as_prob(pred) > 0.5).ravel()
    assert loc.pixel_f1(pred, gt) == pytest.approx(f1_score(y, p, zero_division=0))
    assert loc.pixel_iou(pred, gt) == pytest.approx(jaccard_score(y, p, zero_division=0))
    assert loc.pixel_precision(pred, gt) == pytest.approx(precision_score(y, p, zero_division=0))
    assert loc.pixel_recall(pred, gt) == pytest.approx(recall_score(y, p, zero_division=0))
    assert loc.pixel_auc(pred, gt) == pytest.approx(roc_auc_score(y, _as_prob(pred).ravel()))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_best_f1_matches_precision_recall_curve(seed, dtype):
    pred, gt = _case(seed, dtype=dtype)
    prec, rec, _ = precision_recall_curve(gt.ravel(), _as_prob(pred).ravel())
    den = prec + rec
    expected = np.max(np.where(den > 0, 2 * prec * rec / np.where(den > 0, den, 1), 0))
    assert loc.pixel_f1_best(pred, gt) == pytest.approx(expected)


def test_perfect_prediction_scores_one_and_inverted_scores_zero():
    _, gt = _case(3)
    perfect = (gt * 255).astype(np.uint8)
    s = loc.localization_scores(perfect, gt, inverted=True)
    for key in ("pixel_f1", "pixel_iou", "pixel_precision", "pixel_recall", "pixel_f1_best", "pixel_auc"):
        assert s[key] == 1.0
    inverted = 255 - perfect
    s = loc.localization_scores(inverted, gt, inverted=True)
    assert s["pixel_f1"] == 0.0 and s["pixel_iou"] == 0.0 and s["pixel_auc"] == 0.0
    for key in ("pixel_f1", "pixel_iou", "pixel_precision", "pixel_recall", "pixel_f1_best", "pixel_auc"):
        assert s[key + "_inv"] == 1.0


def test_inverted_variant_is_max_of_map_and_complement():
    pred, gt = _case(1)
    s = loc.localization_scores(pred, gt, inverted=True)
    flipped = loc.localization_scores(255 - pred, gt)
    assert s["pixel_f1_inv"] == pytest.approx(max(s["pixel_f1"], flipped["pixel_f1"]))
    assert s["pixel_auc_inv"] == pytest.approx(max(s["pixel_auc"], 1 - s["pixel_auc"]))
    assert s["pixel_f1_best_inv"] == pytest.approx(max(s["pixel_f1_best"], flipped["pixel_f1_best"]))


def test_degenerate_cases_are_documented_values_not_nan():
    h, w = 20, 30
    empty = np.zeros((h, w), np.uint8)
    full = np.ones((h, w), np.uint8)
    zeros = np.zeros((h, w), np.uint8)
    # empty mask, empty prediction: TruFor / IMDL-BenCo give 0 for the ratios
    s = loc.localization_scores(zeros, empty, inverted=True, border=True)
    for key in ("pixel_f1", "pixel_iou", "pixel_precision", "pixel_recall", "pixel_f1_best"):
        assert s[key] == 0.0
    assert math.isnan(s["pixel_auc"])  # one-class mask: AUC undefined, left out of averages
    # all-forged mask
    const = np.full((h, w), 200, np.uint8)
    s = loc.localization_scores(const, full)
    assert s["pixel_f1"] == 1.0 and s["pixel_f1_best"] == 1.0 and math.isnan(s["pixel_auc"])
    # constant prediction on a mixed mask
    gt = empty.copy()
    gt[:5] = 1
    s = loc.localization_scores(np.full((h, w), 100, np.uint8), gt)
    assert s["pixel_f1"] == 0.0 and s["pixel_auc"] == 0.5
    s = loc.localization_scores(const, gt)
    p, n = gt.sum(), gt.size - gt.sum()
    assert s["pixel_f1"] == pytest.approx(2 * p / (2 * p + n))
    for v in s.values():
        assert not math.isnan(v)


def test_border_exclusion_matches_trufor_scipy_definition():
    pred, gt = _case(4, h=60, w=70)
    gt[0:20, 0:25] = 1  # a region touching the image border
    pos, neg = loc.border_regions(gt)
    assert np.array_equal(pos, minimum_filter(gt, 15) > 0)
    assert np.array_equal(neg, ~(maximum_filter(gt, 11) > 0))
    valid = pos | neg
    y, p = pos[valid].astype(int), (_as_prob(pred)[valid] > 0.5)
    s = loc.localization_scores(pred, gt, border=True)
    assert s["pixel_f1_border"] == pytest.approx(f1_score(y, p, zero_division=0))
    assert s["pixel_auc_border"] == pytest.approx(roc_auc_score(y, _as_prob(pred)[valid]))


def test_prediction_is_resized_to_the_mask():
    gt = np.zeros((40, 60), np.uint8)
    gt[10:30, 20:40] = 1
    small = np.zeros((20, 30), np.uint8)
    small[5:15, 10:20] = 255
    s = loc.localization_scores(small, gt)
    assert s["pixel_f1"] > 0.9
    with pytest.raises(ValueError, match="resize_to_mask"):
        loc.pixel_f1(small, gt)


def test_ciou_and_giou_follow_lisa():
    inter = np.array([5.0, 0.0, 10.0])
    union = np.array([10.0, 0.0, 40.0])
    assert loc.ciou(inter, union) == pytest.approx(15 / 50)
    assert loc.giou(inter, union) == pytest.approx((0.5 + 1.0 + 0.25) / 3)
    assert loc.ciou([], []) == 0.0 and loc.giou([], []) == 0.0


def test_mean_defined_skips_and_counts_undefined():
    assert loc.mean_defined([1.0, math.nan, 0.0, None]) == (0.5, 2)
    assert loc.mean_defined([math.nan]) == (None, 1)


@pytest.mark.parametrize("seed", range(4))
def test_detection_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 50)
    s = np.clip(0.3 * y + rng.random(50) * 0.7, 0, 1)
    out = det.detection_scores(y, s)
    p = s > 0.5
    assert out["image_auc"] == pytest.approx(roc_auc_score(y, s))
    assert out["image_ap"] == pytest.approx(average_precision_score(y, s))
    assert out["image_acc"] == pytest.approx((p == y).mean())
    assert out["image_bacc"] == pytest.approx(balanced_accuracy_score(y, p))
    assert out["image_f1"] == pytest.approx(f1_score(y, p))


def test_detection_degenerate_cases():
    out = det.detection_scores([1, 1, 1], [0.9, 0.2, 0.7])
    assert out["image_auc"] is None and out["image_ap"] is None
    assert out["image_acc"] == pytest.approx(2 / 3) and out["image_bacc"] == pytest.approx(2 / 3)
    assert det.detection_scores([0, 0], [0.1, 0.2])["image_f1"] == 0.0
    assert all(v is None for v in det.detection_scores([], []).values())
    perfect = det.detection_scores([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8])
    assert all(v == 1.0 for v in perfect.values())
    with pytest.raises(ValueError, match="finite"):
        det.image_auc([0, 1], [0.1, float("nan")])


def test_score_from_map_and_labels():
    assert det.score_from_map(np.array([[0, 255]], np.uint8)) == 1.0
    assert det.score_from_map(np.array([[0.2, 0.4]])) == pytest.approx(0.4)
    assert [det.label_to_int(x) for x in ("authentic", "tampered", "synthetic")] == [0, 1, 1]


def test_large_map_histogram_path_agrees(monkeypatch):
    pred, gt = _case(5)
    expected = loc.localization_scores(pred, gt, inverted=True)
    monkeypatch.setattr(loc, "_CALCHIST_EXACT_LIMIT", 0)
    assert loc.localization_scores(pred, gt, inverted=True) == expected
