"""The predictions format with three verdicts: ``scores`` written by detect, derived for old files, checked."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from xforge.inference.detect import run_detect
from xforge.inference.result import AnalysisResult
from xforge.predictions import read_mask_png, read_predictions


class ThreeWayStub:
    """A detector whose answer depends on the file name: g* generated, t* edited, else authentic."""

    engine = "stub"

    def analyze_batch(self, images, question, source_paths=()):
        out = []
        for img, path in zip(images, source_paths):
            prob = np.zeros(img.shape[:2], np.float32)
            prob[:10, :10] = 0.95
            name = path.rsplit("/", 1)[-1]
            if name.startswith("g"):
                res = AnalysisResult(
                    "synthetic", 0, prob, "Generated.", "stub", scores={"authentic": 0.1, "synthetic": 0.9}
                )
            elif name.startswith("t"):
                res = AnalysisResult(
                    "tampered",
                    0,
                    prob,
                    "Edited.",
                    "stub",
                    scores={"authentic": 0.2, "tampered": 0.7, "synthetic": 0.1},
                )
            else:
                res = AnalysisResult("authentic", 0.1, prob * 0, "No edit.", "stub")
            out.append(res)
        return out


def test_detect_writes_verdict_and_three_scores(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("g1.png", "t1.png", "a1.png"):
        cv2.imwrite(str(tmp_path / name), rng.integers(0, 255, (32, 40, 3), dtype=np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    run_detect([tmp_path], tmp_path / "out", ThreeWayStub(), progress=False)
    rows, problems = read_predictions(tmp_path / "out")
    assert problems == []
    by_id = {r["id"]: r for r in rows}
    raw = [json.loads(x) for x in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert all("scores" in r for r in raw)  # the key is always written, null on an error line
    g, t, a = by_id["g1"], by_id["t1"], by_id["a1"]
    assert g["verdict"] == "synthetic" and g["scores"] == {
        "authentic": 0.1,
        "tampered": 0.0,
        "synthetic": 0.9,
    }
    assert g["score"] == pytest.approx(0.9) and g["regions"] == []
    assert not read_mask_png(tmp_path / "out", g["mask"]).any()  # a generated image gets no mask
    assert t["verdict"] == "tampered" and t["score"] == pytest.approx(0.8) and t["regions"]
    assert a["scores"] == {"authentic": 0.9, "tampered": 0.1, "synthetic": 0.0}
    assert by_id["broken"]["error"] and by_id["broken"]["scores"] is None


def _old_line(sid, verdict, score, **extra):
    return {"id": sid, "image": sid, "verdict": verdict, "score": score, "mask": None, "error": None, **extra}


def test_old_lines_get_scores_derived_from_score(tmp_path):
    lines = [
        _old_line("a", "authentic", 0.25),
        _old_line("t", "tampered", 0.75),
        _old_line("g", "synthetic", 0.6),  # a new verdict written without scores
        _old_line("e", None, None, error="unreadable"),
        _old_line("x", "tampered", "high"),  # no usable score: scores stay null, as score is for eval
    ]
    (tmp_path / "predictions.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    rows, problems = read_predictions(tmp_path)
    assert problems == []
    scores = {r["id"]: r["scores"] for r in rows}
    assert scores["a"] == {"authentic": 0.75, "tampered": 0.25, "synthetic": 0.0}
    assert scores["t"] == {"authentic": 0.25, "tampered": 0.75, "synthetic": 0.0}
    assert scores["g"] == pytest.approx({"authentic": 0.4, "tampered": 0.0, "synthetic": 0.6})
    assert scores["e"] is None and scores["x"] is None


@pytest.mark.parametrize(
    "line, why",
    [
        ({"verdict": "fake", "score": 0.5}, "verdict 'fake' is not one of authentic, tampered, synthetic"),
        ({"verdict": "tampered", "score": 0.5, "scores": {"authentic": 0.5, "tampered": 0.5}}, "the keys"),
        ({"verdict": "tampered", "score": 0.5, "scores": [0.5, 0.5, 0]}, "the keys"),
        (
            {
                "verdict": "tampered",
                "score": 0.5,
                "scores": {"authentic": 0.5, "tampered": 0.9, "synthetic": 0},
            },
            "must sum to 1",
        ),
        (
            {
                "verdict": "tampered",
                "score": 1.5,
                "scores": {"authentic": -0.5, "tampered": 1.5, "synthetic": 0},
            },
            "probabilities in 0..1",
        ),
        (
            {
                "verdict": "tampered",
                "score": 0.2,
                "scores": {"authentic": 0.5, "tampered": 0.5, "synthetic": 0},
            },
            "'score' 0.2 is not 1 - scores.authentic (0.5)",
        ),
    ],
)
def test_lines_breaking_the_format_are_dropped_naming_file_and_line(tmp_path, line, why):
    good = {"id": "ok", "verdict": "authentic", "score": 0.0}
    text = json.dumps(good) + "\n" + json.dumps({"id": "bad", **line}) + "\n"
    (tmp_path / "predictions.jsonl").write_text(text)
    invalid = {}
    rows, problems = read_predictions(tmp_path, invalid=invalid)
    assert [r["id"] for r in rows] == ["ok"]
    assert len(problems) == 1 and problems[0].startswith(f"{tmp_path / 'predictions.jsonl'}:2: ")
    assert why in problems[0] and problems[0].endswith("line dropped")
    assert list(invalid) == ["bad"] and why in invalid["bad"]
