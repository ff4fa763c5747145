"""QES (MIML) against its formula, and as a column of the evaluation report."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from eval.metrics.qes import qes
from eval.runner import evaluate
from eval.scoring import EvalOptions
from tests.test_eval_runner import H, W, make_dataset
from xforge.predictions import append_prediction, write_mask_png


def _formula(p: np.ndarray) -> float:
    return np.count_nonzero(p > 15 / 16) / (np.count_nonzero(p > 1 / 16) + 1e-8)


def test_qes_matches_the_formula_on_hand_made_maps():
    crisp = np.zeros((8, 8), np.float32)
    crisp[2:6, 2:6] = 1.0  # 16 confident pixels, nothing hesitant
    assert qes(crisp) == pytest.approx(1.0)

    hesitant = crisp.copy()
    hesitant[0, :] = 0.5  # 8 marked but unsure pixels
    assert qes(hesitant) == pytest.approx(16 / 24)

    # The two bounds are strict: exactly 15/16 is not confident, exactly 1/16 is not marked.
    edges = np.array([[15 / 16, 1 / 16, 0.95, 0.07, 0.0, 1.0]], np.float32)
    assert qes(edges) == pytest.approx(2 / 4)

    assert qes(np.zeros((5, 5))) == 0.0  # nothing marked: 0 / (0 + 1e-8)
    rng = np.random.default_rng(0)
    for _ in range(5):
        p = rng.random((17, 23)) ** rng.uniform(0.2, 5)
        assert qes(p) == pytest.approx(_formula(p), abs=1e-12)


def test_qes_reads_8_bit_maps_as_value_over_255():
    p8 = np.array([[0, 15, 16, 239, 240, 255]], np.uint8)
    # 15/255 < 1/16 < 16/255; 239/255 < 15/16 < 240/255
    assert qes(p8) == pytest.approx(_formula(p8.astype(np.float64) / 255))
    assert qes(p8) == pytest.approx(2 / 4)


def test_eval_reports_qes_per_image_and_its_correlation_with_f1(tmp_path):
    manifest, truth = make_dataset(tmp_path / "data", n_tampered=6, n_authentic=2)
    pred = tmp_path / "pred"
    expected = {}
    for k, (sid, (y, m, _)) in enumerate(sorted(truth.items())):
        if y:
            # Worse predictions are also less decided: the ground-truth square shrinks and is faded.
            prob = np.zeros((H, W), np.float32)
            ys, xs = np.nonzero(m)
            keep = (ys - ys.min()) < max(1, (ys.max() - ys.min() + 1) * (6 - k) // 6)
            prob[ys, xs] = np.where(keep, 1.0, 0.4)
        else:
            prob = np.full((H, W), 0.3, np.float32)  # authentic: a faint, undecided map
        rel = write_mask_png(pred, sid, prob)
        expected[sid] = qes(np.round(prob * 255).astype(np.uint8))
        append_prediction(
            pred,
            {
                "id": sid,
                "image": sid,
                "verdict": "tampered",
                "score": 0.5,
                "explanation": None,
                "mask": rel,
                "engine": "test",
                "regions": [],
                "error": None,
            },
        )
    opts = EvalOptions(metrics=("localization", "detection"))
    doc = evaluate(
        [manifest], {"toy": tmp_path / "data"}, pred, tmp_path / "out", options=opts, progress=False
    )
    table = doc["datasets"]["toy"]
    assert table["n_qes"] == 8  # authentic images are rated too: QES needs no ground truth
    assert table["qes"] == pytest.approx(np.mean(list(expected.values())))
    assert table["qes_f1_spearman"] > 0.9  # QES falls with F1 here, by construction
    with open(tmp_path / "out" / "per_image.csv", newline="") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    for sid, value in expected.items():
        assert float(rows[sid]["qes"]) == pytest.approx(value)
    md = (tmp_path / "out" / "metrics.md").read_text()
    assert "QES" in md and "rho(QES, px F1)" in md
