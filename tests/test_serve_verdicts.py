"""The page's verdict card and viewer for the three verdicts (no browser: the HTML and pixels directly)."""

from __future__ import annotations

import json

import numpy as np

from xforge.inference.inputs import ImageInput
from xforge.inference.result import AnalysisResult
from xforge.predictions import prediction_problem
from xforge.serve.ui import PageState, answer_record, render_view, verdict_html


def _result(verdict: str, scores: dict[str, float]) -> AnalysisResult:
    prob = np.zeros((40, 60), np.float32)
    prob[5:20, 10:30] = 0.9  # an engine's map; a synthetic verdict must not show it as a region
    return AnalysisResult(verdict, 0.0, prob, "text", "model", scores=scores)


def test_generated_image_gets_its_own_heading_and_no_region():
    res = _result("synthetic", {"authentic": 0.1, "tampered": 0.2, "synthetic": 0.7})
    card = verdict_html(res, "trained model")
    assert "Generated image" in card and "xf-synthetic" in card and "Edited" not in card
    assert "no region marked" in card and "synthetic 0.70" in card and "score: <b>0.90</b>" in card
    edited = verdict_html(_result("tampered", {"authentic": 0.1, "tampered": 0.8, "synthetic": 0.1}), "m")
    assert "Edited" in edited and "1 region marked" in edited
    assert "No edit found" in verdict_html(_result("authentic", {"authentic": 0.9, "tampered": 0.1}), "m")


def test_generated_image_views_show_the_image_without_overlay():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
    image = ImageInput(array=pixels, source_path=None, name="x.png")
    res = _result("synthetic", {"authentic": 0.1, "tampered": 0.2, "synthetic": 0.7})
    for view in ("overlay", "mask", "original"):
        assert np.array_equal(render_view(image, res, view, 0.45), pixels), view
    edited = _result("tampered", {"authentic": 0.1, "tampered": 0.8, "synthetic": 0.1})
    assert not np.array_equal(render_view(image, edited, "overlay", 0.45), pixels)


def test_answer_download_is_a_valid_predictions_record():
    res = _result("synthetic", {"authentic": 0.1, "tampered": 0.2, "synthetic": 0.7})
    state = PageState(name="x.png", turns=[("Is it edited?", res)])
    record = json.loads(json.dumps(answer_record(state, "m")))
    assert record["record"]["verdict"] == "synthetic" and record["record"]["regions"] == []
    assert prediction_problem(record["record"]) is None
    assert record["conversation"][0]["scores"]["synthetic"] == 0.7
