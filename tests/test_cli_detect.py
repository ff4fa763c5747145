"""`xforge detect` from the command line (classical default engine)."""

from __future__ import annotations

import json

import cv2
import numpy as np

from xforge.cli import main
from xforge.predictions import iter_predictions


def _folder(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    rng = np.random.default_rng(0)
    for name in ("one.png", "two.jpg"):
        cv2.imwrite(
            str(root / name), cv2.GaussianBlur(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8), (5, 5), 0)
        )
    (root / "three.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    return root


def test_detect_folder_reports_errors_and_resumes(tmp_path, capsys):
    root, out = _folder(tmp_path), tmp_path / "preds"
    argv = ["detect", str(root), "--out", str(out), "--overlays", "--json", "--no-progress"]
    assert main(argv) == 1  # one image could not be read
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["done"], summary["errors"], summary["skipped"]) == (2, 1, 0)
    rows = {r["id"]: r for r in iter_predictions(out)}
    assert "three.png" in rows["three"]["error"]
    assert rows["one"]["error"] is None and (out / rows["one"]["mask"]).is_file()
    assert (out / "overlays" / "one.png").is_file()

    assert main(argv) == 1  # the error line is retried, and the file is still bad
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["done"], summary["errors"], summary["skipped"], summary["retried"]) == (0, 1, 2, 1)
    assert len(list(iter_predictions(out))) == 3

    assert main([*argv, "--no-retry-errors"]) == 1  # the error line is kept, and still counts
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["done"], summary["errors"], summary["skipped"], summary["kept_errors"]) == (0, 0, 3, 1)

    cv2.imwrite(str(root / "three.png"), np.full((20, 30, 3), 128, np.uint8))  # the user repairs the file
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["done"], summary["errors"], summary["skipped"]) == (1, 0, 2)
    rows = list(iter_predictions(out))
    assert len(rows) == 3 and all(r["error"] is None for r in rows)


def test_detect_human_summary_and_bad_usage(tmp_path, capsys):
    root, out = _folder(tmp_path), tmp_path / "preds"
    (root / "three.png").unlink()
    assert main(["detect", str(root / "one.png"), "--out", str(out), "--no-progress"]) == 0
    assert "1 analysed, 0 with errors" in capsys.readouterr().out
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        '{"id": "x", "dataset": "d", "split": "test", "image": "one.png", "label": "authentic"}\n'
    )
    assert main(["detect", str(manifest), "--out", str(out), "--root", "nokey"]) == 2
    assert "KEY=PATH" in capsys.readouterr().err
    assert main(["detect", str(root), "--out", str(out), "--batch-size", "0"]) == 2
