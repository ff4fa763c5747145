"""run_detect: inputs (files, folders, manifests), the predictions folder, errors, resuming, batching."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from inference_helpers import CountingEngine

from xforge import Detector
from xforge.data.manifest import ManifestError, write_jsonl
from xforge.inference.classical_backend import ClassicalBackend
from xforge.inference.detect import collect_inputs, run_detect
from xforge.predictions import PREDICTIONS_FILE, iter_predictions, read_mask_png


def _write(path, seed, size=(96, 128)):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 256, (*size, 3), dtype=np.uint8), (5, 5), 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return img


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "images"
    _write(root / "a.png", 0)
    _write(root / "b.jpg", 1, size=(80, 60))
    _write(root / "nested" / "c.png", 2)
    (root / "zz_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (root / "notes.txt").write_text("not an image")
    return root


def test_folder_run_writes_predictions_and_reports_the_corrupt_file(folder, tmp_path):
    out = tmp_path / "out"
    summary = run_detect([folder], out, Detector.default(), overlays=True, progress=False)
    assert summary["total"] == 4 and summary["done"] == 3 and summary["errors"] == 1
    rows = {r["id"]: r for r in iter_predictions(out)}
    assert set(rows) == {"a", "b", "nested/c", "zz_corrupt"}
    bad = rows["zz_corrupt"]
    assert bad["verdict"] is None and bad["mask"] is None
    assert "zz_corrupt.jpg" in bad["error"]
    for key, shape in (("a", (96, 128)), ("b", (80, 60)), ("nested/c", (96, 128))):
        row = rows[key]
        assert row["error"] is None and row["engine"] == "classical"
        assert row["verdict"] in ("tampered", "authentic") and 0 <= row["score"] <= 1
        assert read_mask_png(out, row["mask"]).shape == shape
        assert (out / "overlays" / row["mask"].split("/")[-1]).is_file()


def test_resume_skips_finished_images(folder, tmp_path):
    out = tmp_path / "out"
    engine = CountingEngine()
    detector = Detector(ClassicalBackend(engine))
    run_detect([folder], out, detector, progress=False)
    assert engine.calls == 3
    # Simulate a run killed while writing: drop the last finished line and leave a torn one.
    lines = (out / PREDICTIONS_FILE).read_text().splitlines()
    last_ok = max(i for i, line in enumerate(lines) if json.loads(line)["error"] is None)
    dropped = json.loads(lines[last_ok])["id"]
    kept = lines[:last_ok] + lines[last_ok + 1 :]
    (out / PREDICTIONS_FILE).write_text("\n".join(kept) + '\n{"id": "a", "ima')
    engine.calls = 0
    summary = run_detect([folder], out, detector, progress=False)
    assert engine.calls == 1
    # the corrupt file's error line is retried (and fails again); the torn line is dropped
    assert (summary["skipped"], summary["done"], summary["errors"], summary["retried"]) == (2, 1, 1, 1)
    assert summary["dropped_lines"] == 1
    ids = [r["id"] for r in iter_predictions(out)]
    assert sorted(ids) == ["a", "b", "nested/c", "zz_corrupt"] and dropped in ids


def test_batches_give_the_same_answers_as_single_images(folder, tmp_path):
    one = run_detect([folder], tmp_path / "one", Detector.default(), progress=False)
    three = run_detect([folder], tmp_path / "three", Detector.default(), batch_size=3, progress=False)
    assert one["done"] == three["done"] == 3
    by_id = {r["id"]: r for r in iter_predictions(tmp_path / "three")}
    for row in iter_predictions(tmp_path / "one"):
        assert by_id[row["id"]]["score"] == row["score"]
        assert by_id[row["id"]]["error"] == row["error"]


def test_manifest_input_uses_ids_and_roots(folder, tmp_path):
    manifest = tmp_path / "m.jsonl"
    write_jsonl(
        manifest,
        [
            {"id": "set/1", "dataset": "toy", "split": "test", "image": "a.png", "label": "authentic"},
            {"id": "set/2", "dataset": "toy", "split": "test", "image": "gone.png", "label": "tampered"},
            {"id": "set/3", "dataset": "toy", "split": "test", "image": "a.png", "label": "authentic"},
        ],
    )
    out = tmp_path / "out"
    summary = run_detect([manifest], out, Detector.default(), roots={"toy": folder}, progress=False)
    assert summary["done"] == 2 and summary["errors"] == 1  # one file under two ids: a line for each
    rows = {r["id"]: r for r in iter_predictions(out)}
    assert rows["set/1"]["image"] == "a.png" and rows["set/1"]["mask"].startswith("masks/")
    assert "gone.png" in rows["set/2"]["error"]
    with pytest.raises(ManifestError, match="--root toy"):
        run_detect([manifest], tmp_path / "o2", Detector.default(), progress=False)


def test_collect_inputs_dedupes_paths_and_ids(folder, tmp_path):
    _write(tmp_path / "other" / "a.png", 5)
    items = collect_inputs([folder / "a.png", folder / "a.png", tmp_path / "other" / "a.png"])
    assert [i.id for i in items] == ["a", "a-2"]
    _write(folder / "a.jpg", 6)
    ids = sorted(i.id for i in collect_inputs([folder]))
    assert "a.png" in ids and "a.jpg" in ids  # same stem side by side keeps the extension


def test_read_predictions_keeps_complete_lines_and_names_torn_ones(tmp_path):
    from xforge.predictions import PredictionAppender, read_predictions

    path = tmp_path / PREDICTIONS_FILE
    path.write_text('{"id": "a"}\n{"id": "b"}')  # complete, only the newline missing
    with PredictionAppender(tmp_path) as f:
        f.append({"id": "c"})
    rows, problems = read_predictions(tmp_path)
    assert [r["id"] for r in rows] == ["a", "b", "c"] and problems == []
    path.write_text('{"id": "a"}\n{"id": "b", "sc\n{"id": "c"}\n')
    rows, problems = read_predictions(tmp_path)
    assert [r["id"] for r in rows] == ["a", "c"]
    assert len(problems) == 1 and f"{PREDICTIONS_FILE}:2:" in problems[0]
