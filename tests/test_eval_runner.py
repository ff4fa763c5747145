"""End-to-end evaluation: a generated dataset + predictions folder -> metrics.json, metrics.md, CSV, plots."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from eval.runner import EvalError, evaluate
from eval.scoring import EvalOptions
from xforge.data.manifest import write_jsonl
from xforge.predictions import append_prediction, write_mask_png

ISSUE_KEYS = (
    "pixel_f1 pixel_iou pixel_precision pixel_recall pixel_auc pixel_f1_best ciou giou image_auc image_ap "
    "image_acc image_bacc image_f1 css rouge_l bleu4 meteor cider grounding_pred grounding_gt n_images n_tampered"
).split()

H, W = 48, 64


def _mask(corner: str) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    if corner == "upper left":
        m[2:14, 3:18] = 1
    else:
        m[34:46, 46:62] = 1
    return m


def make_dataset(root, name="toy", n_tampered=4, n_authentic=3):
    """Images, masks and a manifest; tampered ones alternate upper left / lower right."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    records, truth = [], {}
    for i in range(n_tampered + n_authentic):
        sid = f"{name}/{i:03d}"
        img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "images" / f"{i:03d}.png"), img)
        rec = {
            "id": sid,
            "dataset": name,
            "split": "test",
            "image": f"images/{i:03d}.png",
            "width": W,
            "height": H,
        }
        if i < n_tampered:
            corner = "upper left" if i % 2 == 0 else "lower right"
            m = _mask(corner)
            cv2.imwrite(str(root / "masks" / f"{i:03d}.png"), m * 255)
            rec.update(label="tampered", mask=f"masks/{i:03d}.png", mask_format="white_forged")
            rec["meta"] = {"explanation": f"The image was edited: a spliced object in the {corner}."}
            truth[sid] = (1, m, corner)
        else:
            rec.update(label="authentic")
            rec["meta"] = {"explanation": "No signs of editing were found; the image appears authentic."}
            truth[sid] = (0, None, None)
        records.append(rec)
    write_jsonl(root / f"{name}.jsonl", records)
    return root / f"{name}.jsonl", truth


def write_predictions(pred_dir, truth, how="perfect"):
    for sid, (y, m, corner) in truth.items():
        if y:
            prob = {"perfect": m, "inverted": 1 - m, "empty": np.zeros_like(m)}[how].astype(np.float32)
            rel = write_mask_png(pred_dir, sid, prob)
            text = f"The image was edited: a spliced object in the {corner}."
        else:
            rel = write_mask_png(pred_dir, sid, np.zeros((H, W), np.float32)) if how != "empty" else None
            text = "No signs of editing were found; the image appears authentic."
        score = float(y) if how == "perfect" else 1.0 - y
        append_prediction(
            pred_dir,
            {
                "id": sid,
                "image": sid,
                "verdict": "tampered" if y else "authentic",
                "score": score,
                "explanation": text,
                "mask": rel,
                "engine": "test",
                "regions": [],
                "error": None,
            },
        )


@pytest.fixture
def toy(tmp_path):
    manifest, truth = make_dataset(tmp_path / "data")
    return tmp_path, manifest, truth


def test_perfect_predictions_score_one_with_issue_keys(toy):
    tmp, manifest, truth = toy
    write_predictions(tmp / "pred", truth, "perfect")
    doc = evaluate([manifest], {"toy": tmp / "data"}, tmp / "pred", tmp / "out", progress=False)
    table = doc["datasets"]["toy"]
    for key in ISSUE_KEYS:
        assert key in table, key
    assert table["n_images"] == 7 and table["n_tampered"] == 4
    for key in ISSUE_KEYS[:13]:
        assert table[key] == pytest.approx(1.0), key
    assert table["grounding_pred"] == 1.0 and table["grounding_gt"] == 1.0
    assert table["css"] == pytest.approx(1.0, abs=1e-5) and table["rouge_l"] == 1.0 and table["bleu4"] == 1.0
    assert table["meteor"] > 0.99
    saved = json.loads((tmp / "out" / "metrics.json").read_text())
    assert saved["datasets"]["toy"]["pixel_f1"] == 1.0 and "definitions" in saved
    for name in ("metrics.md", "per_image.csv", "roc.png", "pr.png", "f1_hist.png", "qualitative.png"):
        assert (tmp / "out" / name).is_file(), name
    md = (tmp / "out" / "metrics.md").read_text()
    assert "oracle" in md and "WordNet" in md and "| toy |" in md


def test_inverted_predictions_and_inverted_option(toy):
    tmp, manifest, truth = toy
    write_predictions(tmp / "pred", truth, "inverted")
    opts = EvalOptions(metrics=("localization", "detection"), inverted=True, border=True)
    doc = evaluate([manifest], {"toy": tmp / "data"}, tmp / "pred", tmp / "out", options=opts, progress=False)
    t = doc["datasets"]["toy"]
    assert t["pixel_f1"] == 0.0 and t["pixel_auc"] == 0.0 and t["ciou"] == 0.0
    assert t["pixel_f1_inv"] == 1.0 and t["pixel_auc_inv"] == 1.0
    assert "pixel_f1_border" in t and "pixel_f1_border_inv" in t
    assert t["image_auc"] == 0.0 and t["image_acc"] == 0.0


def test_authentic_images_never_enter_localization(toy):
    tmp, manifest, truth = toy
    write_predictions(tmp / "pred", truth, "perfect")
    # a wildly wrong map on every authentic image must not change any localization average
    for sid, (y, _, _) in truth.items():
        if not y:
            write_mask_png(tmp / "pred", sid, np.ones((H, W), np.float32))
    doc = evaluate([manifest], {"toy": tmp / "data"}, tmp / "pred", tmp / "out", progress=False)
    t = doc["datasets"]["toy"]
    assert t["n_localized"] == 4
    assert t["pixel_f1"] == 1.0 and t["pixel_precision"] == 1.0 and t["ciou"] == 1.0
    assert t["grounding_pred"] < 1.0  # the "no edit" answers now come with a non-empty mask


def test_missing_and_broken_predictions_are_reported_not_fatal(toy):
    tmp, manifest, truth = toy
    write_predictions(tmp / "pred", truth, "perfect")
    lines = (tmp / "pred" / "predictions.jsonl").read_text().splitlines()
    (tmp / "pred" / "predictions.jsonl").write_text("\n".join(lines[1:]) + "\n")  # toy/000 has no prediction
    (tmp / "pred" / json.loads(lines[1])["mask"]).unlink()  # toy/001's mask file is gone
    doc = evaluate([manifest], {"toy": tmp / "data"}, tmp / "pred", tmp / "out", progress=False)
    t = doc["datasets"]["toy"]
    assert t["n_missing"] == 1 and t["n_errors"] == 1 and t["n_scored_as_failure"] == 2
    assert t["n_localized"] == 4 and t["n_left_out"] == 0  # both enter the metrics as failures
    csv_text = (tmp / "out" / "per_image.csv").read_text()
    assert "predicted mask missing" in csv_text and "no prediction for this id" in csv_text


def test_several_manifests_give_tables_and_an_average(tmp_path):
    m1, t1 = make_dataset(tmp_path / "a", name="a")
    m2, t2 = make_dataset(tmp_path / "b", name="b")
    write_predictions(tmp_path / "pred", t1, "perfect")
    write_predictions(tmp_path / "pred", t2, "empty")
    opts = EvalOptions(metrics=("localization", "detection"))
    doc = evaluate(
        [m1, m2],
        {"a": tmp_path / "a", "b": tmp_path / "b"},
        tmp_path / "pred",
        tmp_path / "out",
        options=opts,
        progress=False,
    )
    assert set(doc["datasets"]) == {"a", "b"}
    assert doc["datasets"]["a"]["pixel_f1"] == 1.0 and doc["datasets"]["b"]["pixel_f1"] == 0.0
    assert doc["average"]["pixel_f1"] == 0.5 and doc["average"]["n_images"] == 14
    with pytest.raises(EvalError, match="unique"):
        evaluate([m1, m1], {"a": tmp_path / "a"}, tmp_path / "pred", tmp_path / "out2", progress=False)


def test_resume_reuses_cached_rows_and_rescoring_follows_changes(toy, monkeypatch):
    tmp, manifest, truth = toy
    write_predictions(tmp / "pred", truth, "perfect")
    opts = EvalOptions(metrics=("localization", "detection"))
    evaluate([manifest], {"toy": tmp / "data"}, tmp / "pred", tmp / "out", options=opts, progress=False)
    import eval.runner as runner

    calls = []
    original = runner.score_image
    monkeypatch.setattr(runner, "score_image", lambda job, o: calls.append(job.record.id) or original(job, o))
    doc = evaluate([manifest], {"toy": tmp / "data"}, tmp / "pred", tmp / "out", options=opts, progress=False)
    assert calls == [] and doc["datasets"]["toy"]["pixel_f1"] == 1.0
    sid = next(s for s, (y, _, _) in truth.items() if y)
    write_mask_png(tmp / "pred", sid, np.zeros((H, W), np.float32))  # the prediction changed on disk
    doc = evaluate([manifest], {"toy": tmp / "data"}, tmp / "pred", tmp / "out", options=opts, progress=False)
    assert calls == [sid] and doc["datasets"]["toy"]["pixel_f1"] == pytest.approx(0.75)


def test_metrics_json_has_no_nan(toy):
    tmp, manifest, truth = toy
    write_predictions(tmp / "pred", truth, "empty")
    evaluate([manifest], {"toy": tmp / "data"}, tmp / "pred", tmp / "out", progress=False)
    text = (tmp / "out" / "metrics.json").read_text()
    assert "NaN" not in text

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, float):
            assert math.isfinite(v)

    walk(json.loads(text))


def test_score_from_mask_max(toy):
    tmp, manifest, truth = toy
    write_predictions(tmp / "pred", truth, "perfect")
    # every line's score says the opposite; the maps are perfect, so their maxima detect perfectly
    path = tmp / "pred" / "predictions.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({**r, "score": 1.0 - r["score"]}) + "\n" for r in rows))
    opts = EvalOptions(metrics=("detection",), score_from="mask_max")
    doc = evaluate([manifest], {"toy": tmp / "data"}, tmp / "pred", tmp / "out", options=opts, progress=False)
    assert doc["datasets"]["toy"]["image_auc"] == 1.0 and doc["datasets"]["toy"]["image_acc"] == 1.0
    plain = evaluate(
        [manifest],
        {"toy": tmp / "data"},
        tmp / "pred",
        tmp / "out2",
        options=EvalOptions(metrics=("detection",)),
    )
    assert plain["datasets"]["toy"]["image_auc"] == 0.0


def test_threshold_reaches_image_decisions():
    from eval.aggregate import dataset_table

    rows = [{"status": "ok", "y": 1, "score": 0.4}, {"status": "ok", "y": 0, "score": 0.1}]
    assert dataset_table(rows)["image_acc"] == 0.5
    assert dataset_table(rows, threshold=0.3)["image_acc"] == 1.0
