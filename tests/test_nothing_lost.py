"""Nothing lost, nothing silent (issue 16): one test per failure class, each failing on the code before it.

detect and chat run the classical engine in-process; eval uses the small toy set of test_eval_runner with
the detection and localization metrics only (no sentence model, no plots to wait for).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_eval_runner import make_dataset, write_predictions

from xforge.cli import main
from xforge.data.manifest import ManifestError, read_manifest, write_jsonl
from xforge.predictions import PREDICTIONS_FILE, read_predictions


def _image(path: Path, seed: int, size=(48, 64)) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.GaussianBlur(rng.integers(0, 256, (*size, 3), dtype=np.uint8), (5, 5), 0))
    return path


def _detect(*args) -> int:
    return main(["detect", *map(str, args), "--no-progress"])


def _rows(out: Path) -> list[dict]:
    rows, problems = read_predictions(out)
    assert problems == []
    return rows


def _no_temp_files(folder: Path) -> None:
    left = [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    assert left == [], left


# 1. resume keyed by the file, not its stem ------------------------------------------------------------


def test_two_files_with_one_name_are_two_images(tmp_path, capsys):
    a, b, out = _image(tmp_path / "A" / "x.jpg", 0), _image(tmp_path / "B" / "x.jpg", 1), tmp_path / "o"
    assert _detect(a, "--out", out) == 0
    assert _detect(b, "--out", out) == 0
    assert "1 analysed" in capsys.readouterr().out  # before: "0 analysed ... 1 already done"
    rows = {r["id"]: r for r in _rows(out)}
    assert set(rows) == {"x", "x-2"}
    assert {rows["x"]["image"], rows["x-2"]["image"]} == {str(a), str(b)}
    assert rows["x"]["mask"] != rows["x-2"]["mask"]  # one mask file per record
    assert all((out / r["mask"]).is_file() for r in rows.values())
    assert _detect(a, b, "--out", out, "--json") == 0  # both done now
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["skipped"], summary["done"]) == (2, 0)
    _image(a, 7, size=(40, 40))  # the file changes: analysed again under its id, still one line
    time.sleep(0.01)
    os.utime(a)
    assert _detect(a, "--out", out, "--json") == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["changed"], summary["done"]) == (1, 1)
    rows = {r["id"]: r for r in _rows(out)}
    assert len(rows) == 2 and cv2.imread(str(out / rows["x"]["mask"])).shape[:2] == (40, 40)


def test_an_out_folder_inside_the_input_folder_is_not_read_back(tmp_path, capsys):
    folder = tmp_path / "photos"
    _image(folder / "a.png", 0)
    for _ in range(2):
        assert _detect(folder, "--out", folder / "preds", "--overlays", "--json") == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["total"], summary["skipped"]) == (1, 1)  # before: its own mask and overlay were inputs
    assert [r["id"] for r in _rows(folder / "preds")] == ["a"]


# 2. error lines are retried (the CLI side is in test_cli_detect) ----------------------------------------


def test_a_repaired_file_is_analysed_on_rerun(tmp_path, capsys):
    bad, out = tmp_path / "in" / "late.png", tmp_path / "o"
    bad.parent.mkdir()
    bad.write_bytes(b"not yet")
    assert _detect(bad.parent, "--out", out) == 1
    _image(bad, 3)
    assert _detect(bad.parent, "--out", out) == 0  # before: exit 0 with the error line kept, never retried
    (row,) = _rows(out)
    assert row["error"] is None and row["verdict"] in ("tampered", "authentic")


# 3. a torn line in the middle of the file --------------------------------------------------------------


def test_a_torn_line_is_dropped_with_a_warning_and_the_file_rewritten(tmp_path, caplog):
    folder, out = tmp_path / "in", tmp_path / "o"
    for i in range(3):
        _image(folder / f"{i}.png", i)
    assert _detect(folder, "--out", out) == 0
    path = out / PREDICTIONS_FILE
    lines = path.read_text().splitlines()
    # A crash tore the last line (newline included), then a later run appended after it.
    path.write_text(lines[0] + "\n" + lines[1][:25] + "\n" + lines[2] + "\n")
    from eval.runner import load_predictions

    assert set(load_predictions(out)) == {"0", "2"}  # before: ValueError, the folder was unreadable
    caplog.clear()
    assert _detect(folder, "--out", out) == 0
    assert f"{PREDICTIONS_FILE}:2:" in caplog.text
    rows = _rows(out)
    assert sorted(r["id"] for r in rows) == ["0", "1", "2"] and len(path.read_text().splitlines()) == 3


# 4. outputs written through a temp file ----------------------------------------------------------------


@pytest.mark.slow
def test_a_killed_detect_leaves_no_truncated_mask_and_a_rerun_completes(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "o"
    n = 8
    for i in range(n):
        _image(folder / f"{i:02d}.png", i, size=(192, 256))
    proc = subprocess.Popen(
        [sys.executable, "-m", "xforge", "detect", str(folder), "--out", str(out), "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (out / PREDICTIONS_FILE).is_file() and (out / PREDICTIONS_FILE).stat().st_size:
            break
        time.sleep(0.02)
    proc.kill()  # SIGKILL: no cleanup runs
    proc.wait()
    for png in (out / "masks").glob("*.png"):
        assert cv2.imread(str(png), cv2.IMREAD_GRAYSCALE) is not None, png  # never 0 bytes or half written
    assert _detect(folder, "--out", out) == 0
    rows = _rows(out)
    assert len(rows) == n and len({r["id"] for r in rows}) == n
    _no_temp_files(out)


def test_a_crash_while_writing_a_mask_leaves_the_previous_mask_whole(tmp_path, monkeypatch):
    from xforge import Detector
    from xforge.inference.detect import run_detect

    img, out = _image(tmp_path / "x.png", 0), tmp_path / "o"
    run_detect([img], out, Detector.default(), progress=False)
    mask = out / _rows(out)[0]["mask"]
    before = mask.read_bytes()
    _image(img, 1, size=(40, 40))  # changed, so the rerun writes the mask again
    os.utime(img, ns=(time.time_ns() + 10**9,) * 2)

    def killed(*_):
        raise KeyboardInterrupt  # the process dies between writing the new mask and putting it in place

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):  # before: the mask was rewritten in place, nothing to interrupt
        run_detect([img], out, Detector.default(), progress=False)
    assert mask.read_bytes() == before
    _no_temp_files(out)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    from xforge import atomic

    target = tmp_path / "m.png"
    target.write_bytes(b"old")

    def killed(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        atomic.atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    _no_temp_files(tmp_path)


def _chat(monkeypatch, capsys, argv, script: bytes) -> tuple[int, str, str]:
    stdin = io.TextIOWrapper(io.BytesIO(script), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    code = main(["chat", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_chat_save_after_invalid_utf8_keeps_the_chat_and_the_file(tmp_path, monkeypatch, capsys):
    img, out = _image(tmp_path / "p.png", 0), tmp_path / "chat"
    target = tmp_path / "talk.json"
    target.write_text('{"earlier": true}\n')
    script = b"Is it edited?\n\xff\xfe where \xc3\n/save " + str(target).encode() + b"\n"
    script += b"/save " + str(tmp_path).encode() + b"\n"  # a folder
    script += b"/save " + str(target / "x.json").encode() + b"\n"  # below a file
    script += b"Why?\n/quit\n"
    code, stdout, stderr = _chat(monkeypatch, capsys, [img, "--out", out], script)
    assert code == 0 and "Traceback" not in stderr
    saved = json.loads(target.read_text(encoding="utf-8"))  # before: truncated to 0 bytes, chat ended
    assert len(saved["turns"]) == 2 and "\ufffd" in saved["turns"][1]["question"]
    assert stderr.count("could not save the conversation") == 2 and "is a folder" in stderr
    assert stdout.count("xforge [classical]>") == 3  # "Why?" still answered after the failed saves


# 5. eval: size mismatch, escaping mask paths, missing predictions ---------------------------------------


def _eval_argv(tmp_path, manifest, pred, out, *extra):
    return [
        "eval",
        "--manifest",
        str(manifest),
        "--root",
        f"toy={tmp_path / 'data'}",
        "--predictions",
        str(pred),
        "--out",
        str(out),
        "--metrics",
        "localization,detection",
        "--no-progress",
        "--json",
        *extra,
    ]


def _avg(capsys) -> tuple[dict, str]:
    captured = capsys.readouterr()
    return json.loads(captured.out[captured.out.index("{") :]), captured.err


def test_eval_refuses_a_ground_truth_of_another_size_unless_asked(tmp_path, capsys):
    manifest, truth = make_dataset(tmp_path / "data", n_tampered=2, n_authentic=1)
    write_predictions(tmp_path / "pred", truth, "perfect")
    m = cv2.imread(str(tmp_path / "data" / "masks" / "000.png"), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(tmp_path / "data" / "masks" / "000.png"), cv2.resize(m, (80, 60), cv2.INTER_NEAREST))
    assert main(_eval_argv(tmp_path, manifest, tmp_path / "pred", tmp_path / "r1")) == 1
    avg, err = _avg(capsys)
    assert avg["n_left_out"] == 1 and avg["n_localized"] == 1  # before: scored silently, pred resized
    assert "1 of 3 images are in no metric" in err
    csv_text = (tmp_path / "r1" / "per_image.csv").read_text()
    assert "ground-truth mask is 80x60 but its image is 64x48" in csv_text
    assert main(_eval_argv(tmp_path, manifest, tmp_path / "pred", tmp_path / "r2", "--resize-masks")) == 0
    avg, err = _avg(capsys)
    assert avg["n_gt_resized"] == 1 and avg["n_localized"] == 2 and "resampled" in err
    assert "80x60" in (tmp_path / "r2" / "per_image.csv").read_text()


@pytest.mark.parametrize("how", ["absolute", "escaping"])
def test_eval_refuses_a_prediction_mask_outside_its_folder(tmp_path, capsys, how):
    manifest, truth = make_dataset(tmp_path / "data", n_tampered=1, n_authentic=1)
    write_predictions(tmp_path / "pred", truth, "empty")
    gt = tmp_path / "data" / "masks" / "000.png"
    path = tmp_path / "pred" / PREDICTIONS_FILE
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["mask"] = str(gt) if how == "absolute" else "../data/masks/000.png"  # the ground truth itself
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(_eval_argv(tmp_path, manifest, tmp_path / "pred", tmp_path / "r")) == 0
    avg, err = _avg(capsys)
    assert avg["pixel_f1"] == 0.0 and avg["n_scored_as_failure"] == 1  # before: F1 1.0
    assert "refused" in (tmp_path / "r" / "per_image.csv").read_text()


def test_issue_12_item_7_missing_predictions_are_failures_not_left_out(tmp_path, capsys):
    manifest, truth = make_dataset(tmp_path / "data", n_tampered=4, n_authentic=2)
    write_predictions(tmp_path / "pred", truth, "perfect")
    path = tmp_path / "pred" / PREDICTIONS_FILE
    lines = path.read_text().splitlines()
    bad = json.loads(lines[1])
    bad.update(error="boom", mask=None, score=None, verdict=None)
    path.write_text("\n".join([json.dumps(bad), *lines[2:]]) + "\n")  # toy/000 missing, toy/001 errored
    assert main(_eval_argv(tmp_path, manifest, tmp_path / "pred", tmp_path / "r")) == 0
    avg, err = _avg(capsys)
    # Before: both were left out and the two perfect answers gave F1 1.0.
    assert avg["pixel_f1"] == pytest.approx(0.5) and avg["n_localized"] == 4
    assert avg["n_scored_as_failure"] == 2 and avg["image_acc"] == pytest.approx(4 / 6)
    assert "1 images have no prediction and 1 an unusable" in err and "2 scored as failures" in err
    assert main(_eval_argv(tmp_path, manifest, tmp_path / "pred", tmp_path / "s", "--skip-missing")) == 1
    avg, err = _avg(capsys)
    assert avg["pixel_f1"] == 1.0 and avg["n_left_out"] == 2 and "--skip-missing" in err
    assert "left out of every metric (--skip-missing)" in (tmp_path / "s" / "metrics.md").read_text()


# 6. runs that do no work -------------------------------------------------------------------------------


def test_runs_that_do_no_work_exit_non_zero(tmp_path, capsys):
    empty, manifest = tmp_path / "empty", tmp_path / "m.jsonl"
    empty.mkdir()
    manifest.write_text("")
    out = tmp_path / "o"
    assert _detect(empty, "--out", out) == 2
    assert "folder holds no image file" in capsys.readouterr().err
    assert _detect(manifest, "--out", out) == 2
    assert "manifest holds no record" in capsys.readouterr().err
    assert _detect(empty, "--out", out, "--allow-empty") == 0
    _image(tmp_path / "data" / "a.png", 0)
    manifest.write_text(
        '{"id": "a", "dataset": "d", "split": "test", "image": "a.png", "label": "authentic"}\n'
    )
    assert _detect(manifest, "--out", out, "--root", f"d={tmp_path / 'nowhere'}") == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["eval", "--manifest", str(empty / "none.jsonl"), "--predictions", str(out), "--out",
                 str(tmp_path / "r")]) == 2  # fmt: skip
    (empty / "none.jsonl").write_text("\n")
    assert main(["eval", "--manifest", str(empty / "none.jsonl"), "--predictions", str(out), "--out",
                 str(tmp_path / "r")]) == 2  # fmt: skip
    assert "hold no record" in capsys.readouterr().err
    split = ["data", "split", "--protocol", "mvss", "--out", str(tmp_path / "s")]
    assert main([*split, "--root", f"casia2={tmp_path / 'nowhere'}"]) == 2
    assert main([*split, "--root", f"nosuchkey={empty}"]) == 2  # no root the protocol reads
    assert "built no record" in capsys.readouterr().err


# 7. data build checks its outputs first and leaves no temp file ------------------------------------------


def test_data_build_checks_out_before_scanning(tmp_path, capsys, monkeypatch):
    from data_builders.adapters.base import DatasetAdapter

    def no_scan(*_a, **_k):
        raise AssertionError("scanned before checking --out")

    monkeypatch.setattr(DatasetAdapter, "build", no_scan)
    (tmp_path / "root").mkdir()
    (tmp_path / "file").write_text("x")
    argv = ["data", "build", "casia2", "--root", str(tmp_path / "root")]
    assert main([*argv, "--out", str(tmp_path)]) == 2  # a folder
    assert "is a folder" in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "file" / "m.jsonl")]) == 2  # below a file
    assert "a parent of it is a file" in capsys.readouterr().err


def test_write_jsonl_removes_its_temp_file_on_failure(tmp_path):
    target = tmp_path / "m.jsonl"
    target.write_text("old\n")

    def rows():
        yield {"id": "a"}
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        write_jsonl(target, rows())
    assert target.read_text() == "old\n"
    _no_temp_files(tmp_path)


# 8. one clear line naming the file instead of a traceback ------------------------------------------------


def test_broken_links_get_an_error_line_each_and_the_run_goes_on(tmp_path, capsys):
    folder, out = tmp_path / "in", tmp_path / "o"
    _image(folder / "good.png", 0)
    (folder / "dangling.png").symlink_to(tmp_path / "gone.png")
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    (tmp_path / "argloop.png").symlink_to(tmp_path / "argloop.png")
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to(folder)  # a folder loop is walked once
    assert _detect(folder, tmp_path / "argloop.png", "--out", out) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    rows = {r["id"]: r for r in _rows(out)}
    assert set(rows) == {"good", "dangling", "loop", "argloop"}  # before: links dropped, loops raised
    assert "dangling symbolic link" in rows["dangling"]["error"]
    assert "symbolic link loop" in rows["loop"]["error"] and "loop" in rows["argloop"]["error"]
    assert rows["good"]["error"] is None


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"id": 123, "dataset": "d", "split": "test", "image": "a.png", "label": "authentic"}', "'id'"),
        ('{"id": "a", "dataset": "d", "split": "test", "image": 5, "label": "authentic"}', "'image'"),
        (
            '{"id": "a", "dataset": "d", "split": "test", "image": "a.png", "label": "authentic", "meta": "abc"}',
            "'meta'",
        ),  # fmt: skip
        ('{"dataset": "d", "split": "test", "image": "a.png", "label": "authentic"}', "missing fields"),
        ('["a", "b"]', "expected a JSON object"),
        (
            '{"id": "a", "dataset": "d", "split": "test", "image": "a.png", "label": "authentic", "width": "9"}',
            "'width'",
        ),  # fmt: skip
    ],
)
def test_manifest_fields_of_the_wrong_type_name_file_and_line(tmp_path, line, problem):
    good = '{"id": "g", "dataset": "d", "split": "test", "image": "g.png", "label": "authentic"}'
    path = tmp_path / "m.jsonl"
    path.write_text(good + "\n\n" + line + "\n")
    with pytest.raises(ManifestError, match=rf"m\.jsonl:3: .*{problem}"):
        read_manifest(path)


@pytest.mark.slow  # imports transformers and peft
def test_a_corrupt_safetensors_in_model_is_named(tmp_path, capsys):
    import torch
    from safetensors.torch import save_file

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    save_file({"w": torch.zeros(64, 64)}, str(ckpt / "xforge_heads.safetensors"))
    data = (ckpt / "xforge_heads.safetensors").read_bytes()
    (ckpt / "xforge_heads.safetensors").write_bytes(data[: len(data) // 2])
    _image(tmp_path / "a.png", 0)
    assert _detect(tmp_path / "a.png", "--out", tmp_path / "o", "--model", ckpt) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert "xforge_heads.safetensors: corrupt or truncated safetensors file" in err.splitlines()[-1]


def test_chat_out_that_is_a_file_is_one_line(tmp_path, monkeypatch, capsys):
    img = _image(tmp_path / "p.png", 0)
    (tmp_path / "taken").write_text("x")
    code, _, err = _chat(monkeypatch, capsys, [img, "--out", tmp_path / "taken"], b"Is it edited?\n")
    assert code == 2 and err.strip() == f"error: {tmp_path / 'taken'}: is a file, expected a folder"


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (no pixel data: opening reads the header only)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_decompression_bomb_gets_xforges_message_not_pillows_warning(tmp_path):
    import warnings

    from xforge.data.images import ImageReadError, read_image

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(10_000, 9_000))  # 90 MP: over Pillow's warning threshold, under its error
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageReadError, match=r"bomb\.png: .*possible decompression bomb"):
            read_image(bomb)
    assert [w for w in caught if "DecompressionBomb" in type(w.message).__name__] == []


def test_ctrl_c_is_one_line_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    import xforge.inference.detect as detect_mod

    folder, out = tmp_path / "in", tmp_path / "o"
    for i in range(3):
        _image(folder / f"{i}.png", i)
    real = detect_mod._analyse
    calls = []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(detect_mod, "_analyse", interrupted)
    assert _detect(folder, "--out", out) == 130
    assert capsys.readouterr().err.strip() == "xforge: interrupted"  # before: a traceback
    assert len(_rows(out)) == 1
    monkeypatch.setattr(detect_mod, "_analyse", real)
    assert _detect(folder, "--out", out) == 0
    assert sorted(r["id"] for r in _rows(out)) == ["0", "1", "2"]
    _no_temp_files(out)
