"""Three-way verdicts in the evaluation: metrics vs scikit-learn, generated images out of localization,
old predictions files, the confusion plot."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from eval.metrics.classes import class_accuracy, class_f1, class_scores, confusion_counts, macro_f1
from eval.runner import evaluate
from eval.scoring import EvalOptions
from tests.test_eval_runner import H, W, make_dataset, write_predictions
from xforge.data.manifest import read_manifest, write_jsonl
from xforge.inference.result import CLASSES
from xforge.predictions import append_prediction, write_mask_png


@pytest.mark.parametrize("seed", range(12))
def test_three_class_metrics_agree_with_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    # Some cases leave a class out of the predictions, or out of the truth, or both.
    true_pool = list(CLASSES) if seed % 3 else ["authentic", "tampered"]
    pred_pool = list(CLASSES) if seed % 4 else list(CLASSES[: 1 + seed % 2])
    truth = list(rng.choice(true_pool, n))
    pred = list(rng.choice(pred_pool, n))
    cm = confusion_counts(truth, pred)
    assert cm.tolist() == confusion_matrix(truth, pred, labels=list(CLASSES)).tolist()
    assert class_accuracy(cm) == pytest.approx(accuracy_score(truth, pred))
    assert macro_f1(cm) == pytest.approx(f1_score(truth, pred, average="macro", zero_division=0))
    present = sorted(set(truth) | set(pred))  # sklearn's labels when none are given
    per_class = f1_score(truth, pred, average=None, labels=present, zero_division=0)
    mine = class_f1(cm)
    for label, value in zip(present, per_class):
        assert mine[label] == pytest.approx(value), label
    for label in set(CLASSES) - set(present):
        assert mine[label] is None  # neither true nor predicted: nothing to score


def test_three_class_degenerate_cases():
    empty = class_scores([], [])
    assert empty["class_acc"] is None and empty["class_macro_f1"] is None
    assert empty["class_confusion"] == [[0, 0, 0]] * 3
    only_missed = class_scores(["synthetic", "synthetic"], ["authentic", "authentic"])
    assert only_missed["class_f1_synthetic"] == 0.0 and only_missed["class_f1_authentic"] == 0.0
    assert only_missed["class_macro_f1"] == 0.0 and only_missed["class_f1_tampered"] is None
    with pytest.raises(ValueError, match="classes must be one of"):
        confusion_counts(["edited"], ["tampered"])


def _add_generated(root, manifest, n=3):
    """Append n fully generated images (label synthetic, no mask) to the toy manifest."""
    rng = np.random.default_rng(1)
    records = [r.to_dict() for r in read_manifest(manifest)]
    ids = []
    for i in range(n):
        name = f"gen{i}.png"
        cv2.imwrite(str(root / "images" / name), rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
        sid = f"toy/gen{i}"
        records.append(
            {
                "id": sid,
                "dataset": "toy",
                "split": "test",
                "image": f"images/{name}",
                "width": W,
                "height": H,
                "label": "synthetic",
                "manipulation": ["full-synthetic"],
            }
        )
        ids.append(sid)
    write_jsonl(manifest, records)
    return ids


def _new_line(sid, verdict, scores, mask=None, explanation=""):
    return {
        "id": sid,
        "image": sid,
        "verdict": verdict,
        "score": round(1.0 - scores["authentic"], 6),
        "scores": scores,
        "explanation": explanation,
        "mask": mask,
        "engine": "test",
        "regions": [],
        "error": None,
    }


def test_generated_images_stay_out_of_localization_and_fill_the_confusion_matrix(tmp_path):
    manifest, truth = make_dataset(tmp_path / "data")
    generated = _add_generated(tmp_path / "data", manifest)
    pred = tmp_path / "pred"
    write_predictions(pred, truth, "perfect")
    # Two generated images found; the third called tampered WITH a full-image map: were it scored for
    # localization, the perfect pixel F1 of the tampered images would drop.
    syn = {"authentic": 0.05, "tampered": 0.05, "synthetic": 0.9}
    for sid in generated[:2]:
        append_prediction(
            pred, _new_line(sid, "synthetic", syn, explanation="The whole picture is AI-generated.")
        )
    full = write_mask_png(pred, generated[2], np.ones((H, W), np.float32))
    append_prediction(
        pred, _new_line(generated[2], "tampered", {"authentic": 0.1, "tampered": 0.8, "synthetic": 0.1}, full)
    )
    opts = EvalOptions(metrics=("localization", "detection", "grounding"))
    doc = evaluate(
        [manifest], {"toy": tmp_path / "data"}, pred, tmp_path / "out", options=opts, progress=False
    )
    t = doc["datasets"]["toy"]
    assert t["n_localized"] == 4 and t["n_synthetic"] == 3 and t["n_tampered"] == 7
    assert t["pixel_f1"] == 1.0 and t["pixel_precision"] == 1.0 and t["ciou"] == 1.0
    # rows: authentic, tampered, synthetic; columns: predicted
    assert t["class_confusion"] == [[3, 0, 0], [0, 4, 0], [0, 1, 2]]
    truth_cls = ["authentic"] * 3 + ["tampered"] * 4 + ["synthetic"] * 3
    pred_cls = ["authentic"] * 3 + ["tampered"] * 5 + ["synthetic"] * 2
    assert t["class_acc"] == pytest.approx(accuracy_score(truth_cls, pred_cls))
    assert t["class_macro_f1"] == pytest.approx(f1_score(truth_cls, pred_cls, average="macro"))
    assert t["class_f1_synthetic"] == pytest.approx(0.8)
    assert t["image_auc"] == 1.0  # two-way detection unchanged: every generated image scored as not authentic
    rows = {r["id"]: r for r in _csv(tmp_path / "out")}
    assert "left out of localization" in rows[generated[2]]["note"] and rows[generated[2]]["pixel_f1"] == ""
    assert rows[generated[0]]["grounding_pred"] == "True"  # a generated-image answer claims no region
    assert doc["average"]["class_confusion"] == t["class_confusion"]
    md = (tmp_path / "out" / "metrics.md").read_text()
    assert "Three-way verdict" in md and "| synthetic | 0 | 1 | 2 |" in md and "![confusion.png]" in md
    image = cv2.imread(str(tmp_path / "out" / "confusion.png"))
    assert image is not None and image.shape[0] > 100


def _csv(out):
    import csv

    with open(out / "per_image.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_old_two_way_predictions_file_still_evaluates(tmp_path):
    manifest, truth = make_dataset(tmp_path / "data")
    pred = tmp_path / "pred"
    pred.mkdir()
    lines = []
    for sid, (y, m, _) in truth.items():
        rel = write_mask_png(pred, sid, (m if y else np.zeros((H, W))).astype(np.float32))
        # the format before three verdicts: no "scores" key at all
        lines.append(
            json.dumps(
                {
                    "id": sid,
                    "image": sid,
                    "verdict": "tampered" if y else "authentic",
                    "score": 0.9 if y else 0.2,
                    "explanation": "",
                    "mask": rel,
                    "engine": "model",
                    "regions": [],
                    "error": None,
                    "source": None,
                }
            )
        )
    (pred / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    opts = EvalOptions(metrics=("localization", "detection"))
    doc = evaluate(
        [manifest], {"toy": tmp_path / "data"}, pred, tmp_path / "out", options=opts, progress=False
    )
    t = doc["datasets"]["toy"]
    assert t["pixel_f1"] == 1.0 and t["image_auc"] == 1.0 and t["image_acc"] == 1.0
    assert t["class_acc"] == 1.0 and t["class_macro_f1"] == 1.0 and t["class_f1_synthetic"] is None
    assert t["class_confusion"] == [[3, 0, 0], [0, 4, 0], [0, 0, 0]]
    md = (tmp_path / "out" / "metrics.md").read_text()
    assert "two-class (authentic / tampered) evaluation" in md
    assert "| true \\ predicted | authentic | tampered |" in md  # no synthetic column to show
    assert (tmp_path / "out" / "confusion.png").is_file()


def test_a_line_breaking_the_format_is_an_error_naming_file_and_line(tmp_path):
    manifest, truth = make_dataset(tmp_path / "data")
    pred = tmp_path / "pred"
    write_predictions(pred, truth, "perfect")
    bad = _new_line("toy/000", "generated", {"authentic": 0.2, "tampered": 0.2, "synthetic": 0.6})
    append_prediction(pred, bad)
    opts = EvalOptions(metrics=("detection",))
    doc = evaluate(
        [manifest], {"toy": tmp_path / "data"}, pred, tmp_path / "out", options=opts, progress=False
    )
    assert doc["datasets"]["toy"]["n_errors"] == 0  # toy/000's earlier valid line is used
    lines = (pred / "predictions.jsonl").read_text().splitlines()
    (pred / "predictions.jsonl").write_text("\n".join(lines[1:]) + "\n")  # now only the bad line remains
    doc = evaluate(
        [manifest], {"toy": tmp_path / "data"}, pred, tmp_path / "out2", options=opts, progress=False
    )
    assert doc["datasets"]["toy"]["n_errors"] == 1 and doc["datasets"]["toy"]["n_scored_as_failure"] == 1
    row = next(r for r in _csv(tmp_path / "out2") if r["id"] == "toy/000")
    assert "predictions.jsonl:7: verdict 'generated' is not one of" in row["error"]
