"""CLI fuzz test: every command over a generated folder of hostile inputs (tests/bad_inputs.py).

For every run: no traceback, a non-zero exit where nothing useful was done, and in every --out folder no
temp file, no empty file, every PNG decodable and every JSON/JSONL file readable. For detect also: exactly
one line per input in predictions.jsonl, on the first run and on reruns.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from bad_inputs import BAD_MANIFESTS, GOOD_RECORD, make_bad_inputs
from test_eval_runner import make_dataset, write_predictions

from xforge.cli import main
from xforge.data.images import ImageReadError, read_image
from xforge.predictions import PREDICTIONS_FILE, read_predictions, write_mask_png

# The inputs xforge must answer (valid, if odd); every other input must get an error line.
VALID = {
    "tiny_1x1.png",
    "tiny_3x3.jpg",
    "line_1x500.png",
    "flat_grey.png",
    "black.jpg",
    "gray16.png",
    "rgba.png",
    "UPPER.JPG",
    "q1.jpg",
    "twin.jpg",
    "twin.png",
    "spaces and ünïcode.png",
    "new\nline.png",
    ("x" * 200) + ".png",
    ".hidden.png",
    "-dash.png",
    "palette.png",
    "cmyk.jpg",
    "anim.gif",
    "rotated.jpg",
    "bad_exif.jpg",
    "alias.jpg",
    "sub/inner.png",
    os.fsdecode(b"latin1_\xe9.png"),
}


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("fuzz") / "in"
    described = make_bad_inputs(folder)
    assert len(described) >= 40
    assert VALID <= set(described)
    return folder, described


def check_out_folder(out: Path) -> None:
    """No temp file, no empty file; PNGs decode, JSON and JSONL parse."""
    for path in out.rglob("*"):
        if path.is_dir():
            continue
        assert not path.name.endswith(".tmp"), f"temp file left: {path}"
        assert path.stat().st_size > 0, f"empty file: {path}"
        if path.suffix == ".png":
            assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is not None, f"unreadable PNG: {path}"
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                json.loads(line)


def no_traceback(err: str) -> None:
    assert "Traceback" not in err and "Logging error" not in err, err[-3000:]


def _lines_per_input(out: Path, folder: Path, described: dict[str, str]) -> dict[str, dict]:
    rows, problems = read_predictions(out)
    assert problems == []
    by_image = {}
    for row in rows:
        name = Path(row["image"]).relative_to(folder).as_posix()
        assert name not in by_image, f"two lines for {name!r}"
        by_image[name] = row
    assert set(by_image) == set(described), set(by_image) ^ set(described)
    assert len({r["id"] for r in rows}) == len(rows)
    return by_image


def test_detect_over_the_folder_one_line_per_input(bad, tmp_path, capsys):
    folder, described = bad
    out = tmp_path / "out"
    # A real process, so stderr is what a user sees (logging included).
    proc = subprocess.run(
        [sys.executable, "-m", "xforge", "detect", str(folder), "--out", str(out), "--overlays", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    no_traceback(proc.stderr)
    assert proc.returncode == 1  # some inputs are broken
    by_image = _lines_per_input(out, folder, described)
    for name, row in by_image.items():
        if name in VALID:
            assert row["error"] is None, (name, row["error"])
            h, w = read_image(folder / name).shape[:2]
            assert cv2.imread(str(out / row["mask"]), cv2.IMREAD_GRAYSCALE).shape == (h, w), name
        else:
            assert row["error"] and row["mask"] is None, name
            assert str(folder) in row["error"], row["error"]  # the message names the file
    check_out_folder(out)
    # Rerun in-process, in batches: errors retried, still one line per input.
    n_bad = len(described) - len(VALID)
    assert (
        main(["detect", str(folder), "--out", str(out), "--batch-size", "4", "--json", "--no-progress"]) == 1
    )
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert (summary["skipped"], summary["retried"], summary["errors"]) == (len(VALID), n_bad, n_bad)
    _lines_per_input(out, folder, described)
    check_out_folder(out)


def test_detect_each_input_alone(bad, tmp_path, capsys):
    folder, described = bad
    for k, name in enumerate(sorted(described)):
        out = tmp_path / f"o{k}"
        code = main(["detect", str(folder / name), "--out", str(out), "--no-progress"])
        no_traceback(capsys.readouterr().err)
        assert code == (0 if name in VALID else 1), name
        rows, _ = read_predictions(out)
        assert len(rows) == 1, name
        check_out_folder(out)


def test_bad_manifests_stop_every_command_with_one_line(tmp_path, capsys):
    (tmp_path / "g.png").write_bytes(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    for name, data in BAD_MANIFESTS.items():
        manifest = tmp_path / f"{name}.jsonl"
        manifest.write_bytes(GOOD_RECORD.encode() + b"\n" + data + b"\n" if data.strip() else data)
        root = f"d={tmp_path}"
        runs = {
            "detect": [
                "detect",
                str(manifest),
                "--root",
                root,
                "--out",
                str(tmp_path / "o"),
                "--no-progress",
            ],
            "eval": [
                "eval",
                "--manifest",
                str(manifest),
                "--root",
                root,
                "--predictions",
                str(tmp_path / "o"),
                "--out",
                str(tmp_path / "r"),
                "--metrics",
                "detection",
                "--no-progress",
            ],  # fmt: skip
            "stats": ["data", "stats", str(manifest)],
        }
        for command, argv in runs.items():
            code = main(argv)
            err = capsys.readouterr().err
            no_traceback(err)
            if name in ("empty", "blank_lines") and command == "stats":
                continue  # counting nothing is a valid answer
            assert code == 2, (name, command, code, err)
            assert manifest.name in err.strip().splitlines()[-1], (name, command, err)


def _toy_with_bad_predictions(tmp_path: Path) -> tuple[Path, Path, int]:
    manifest, truth = make_dataset(tmp_path / "data", n_tampered=12, n_authentic=2)
    pred = tmp_path / "pred"
    write_predictions(pred, truth, "perfect")
    path = pred / PREDICTIONS_FILE
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    (tmp_path / "data" / "secret.png").write_bytes(b"x")
    (pred / "masks" / "not_png.png").write_text("not a png")
    write_mask_png(pred, "wrong_size", np.ones((10, 10), np.float32))
    edits = [
        {"mask": "/etc/passwd"},
        {"mask": "../data/masks/000.png"},
        {"mask": "masks/../../data/secret.png"},
        {"mask": "masks/not_png.png"},
        {"mask": "masks/wrong_size.png"},
        {"mask": "masks/none_such.png"},
        {"mask": 17},
        {"score": "high"},
        {"score": None},
        {"error": "engine crashed", "mask": None},
    ]
    for row, edit in zip(rows[1:], edits):
        row.update(edit)
    lines = [json.dumps(r) for r in rows[1:]]  # toy/000 has no line at all
    lines += [
        json.dumps(rows[-1]),  # a repeated id
        json.dumps({**rows[-1], "id": "not/in/manifest"}),
        '{"id": "toy/011", "sco',  # torn
        "\x00" * 20,
        "[1, 2]",
        '{"id": 5}',
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'\xff\xfe{"id": "x"}\n')
    return manifest, pred, 14


def test_eval_over_bad_prediction_lines(tmp_path, capsys):
    manifest, pred, n = _toy_with_bad_predictions(tmp_path)
    out = tmp_path / "r"
    argv = [
        "eval",
        "--manifest",
        str(manifest),
        "--root",
        f"toy={tmp_path / 'data'}",
        "--predictions",
        str(pred),
    ]
    argv += ["--out", str(out), "--metrics", "localization,detection", "--json", "--no-progress"]
    assert main(argv) == 0  # every image is in the metrics, the bad ones as failures
    captured = capsys.readouterr()
    no_traceback(captured.err)
    avg = json.loads(captured.out[captured.out.index("{") :])
    assert avg["n_images"] == n and avg["n_left_out"] == 0 and avg["n_missing"] == 1
    assert avg["pixel_f1"] < 1.0  # the refused masks, the missing line and the error line count against
    assert "scored as failures" in captured.err
    check_out_folder(out)
    csv_text = (out / "per_image.csv").read_text()
    assert csv_text.count("refused") >= 3 and "unreadable" in csv_text


def _chat(monkeypatch, capsys, argv, script: bytes) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(script), encoding="utf-8"))
    code = main(["chat", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_chat_over_the_bad_inputs(bad, tmp_path, monkeypatch, capsys):
    folder, described = bad
    broken = sorted(set(described) - VALID)
    out = tmp_path / "chat"
    for name in broken:  # as the first image: nothing to talk about, exit 2 and one line
        code, _, err = _chat(monkeypatch, capsys, [folder / name, "--out", out], b"Is it edited?\n")
        no_traceback(err)
        assert code == 2 and len(err.strip().splitlines()) == 1 and str(folder) in err, (name, err)
    script = b"Is it edited?\n"
    for name in broken:
        script += b"/image " + bytes(folder / name) + b"\n"
    (tmp_path / "a_file").write_text("x")
    for target in (tmp_path, tmp_path / "a_file" / "x.json", tmp_path / "a_file"):
        script += b"/save " + bytes(target) + b"\n"
    script += b"\xff\xfe\n/bogus\nWhere?\n/quit\n"
    code, stdout, err = _chat(monkeypatch, capsys, [folder / "UPPER.JPG", "--out", out], script)
    no_traceback(err)
    assert code == 0
    assert err.count("still on") == len(broken)
    assert err.count("could not save the conversation") == 2  # a_file itself is a valid target
    assert stdout.count("xforge [classical]>") == 3  # answered before, through and after the bad lines
    check_out_folder(out)


@pytest.mark.slow  # imports transformers and peft
def test_bad_model_checkpoints_are_one_line(tmp_path, capsys):
    import torch
    from safetensors.torch import save_file

    img = tmp_path / "a.png"
    img.write_bytes(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    (tmp_path / "file.safetensors").write_bytes(b"x")
    cases = {"nowhere": tmp_path / "nowhere", "file": tmp_path / "file.safetensors"}
    for name, files in {
        "empty": {},
        "pickle": {"adapter/adapter_model.bin": b"\x80\x04"},
        "bad_json": {"xforge_config.json": b"{not json"},
        "wrong_types": {"xforge_config.json": b'{"family": 5, "base_model": ["x"]}'},
        "truncated": {"xforge_heads.safetensors": None},
        "garbage": {"adapter/adapter_model.safetensors": b"garbage, not a safetensors file"},
    }.items():
        ckpt = tmp_path / name
        ckpt.mkdir()
        for rel, data in files.items():
            (ckpt / rel).parent.mkdir(parents=True, exist_ok=True)
            if data is None:
                save_file({"w": torch.zeros(32, 32)}, str(ckpt / rel))
                data = (ckpt / rel).read_bytes()[:100]
            (ckpt / rel).write_bytes(data)
        cases[name] = ckpt
    for name, ckpt in cases.items():
        code = main(["detect", str(img), "--out", str(tmp_path / "o"), "--model", str(ckpt), "--no-progress"])
        err = capsys.readouterr().err
        no_traceback(err)
        assert code == 2 and len(err.strip().splitlines()) == 1 and str(ckpt) in err, (name, err)
    assert not (tmp_path / "o" / PREDICTIONS_FILE).exists()


def test_data_commands_over_bad_inputs(bad, tmp_path, capsys):
    folder, described = bad
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "empty").mkdir()
    refused = [
        ["data", "build", "no_such_dataset", "--root", str(folder), "--out", str(tmp_path / "m.jsonl")],
        ["data", "build", "casia2", "--root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.jsonl")],
        ["data", "build", "casia2", "--root", str(tmp_path / "a_file"), "--out", str(tmp_path / "m.jsonl")],
        ["data", "build", "casia2", "--root", str(folder), "--out", str(tmp_path / "empty")],
        ["data", "build", "casia2", "--root", str(folder), "--out", str(tmp_path / "a_file" / "m.jsonl")],
        ["data", "build", "casia2", "--root", str(tmp_path / "empty"), "--out", str(tmp_path / "m.jsonl")],
        [
            "data",
            "split",
            "--protocol",
            "mvss",
            "--root",
            f"casia2={tmp_path / 'nowhere'}",
            "--out",
            str(tmp_path / "s"),
        ],  # fmt: skip
        ["data", "split", "--protocol", "nope", "--root", f"casia2={folder}", "--out", str(tmp_path / "s")],
        [
            "data",
            "split",
            "--protocol",
            "mvss",
            "--root",
            f"casia2={folder}",
            "--out",
            str(tmp_path / "a_file"),
        ],
        ["data", "synth", "--images", str(tmp_path / "empty"), "--out", str(tmp_path / "y1"), "--n", "2"],
        ["data", "synth", "--images", str(folder), "--out", str(tmp_path / "a_file"), "--n", "2"],
        ["data", "synth", "--images", str(folder), "--out", str(tmp_path / "y2"), "--n", "0"],
        ["data", "synth", "--images", str(tmp_path / "nowhere"), "--out", str(tmp_path / "y3"), "--n", "2"],
    ]
    for argv in refused:
        code = main(argv)
        err = capsys.readouterr().err
        no_traceback(err)
        assert code == 2, (argv, err)
        assert "error" in err.strip().splitlines()[-1], (argv, err)
    assert not (tmp_path / "m.jsonl").exists()
    # synth over the hostile folder: the unreadable photos are skipped and listed, the rest is used
    out = tmp_path / "synth"
    argv = ["data", "synth", "--images", str(folder), "--out", str(out), "--n", "4"]
    assert main([*argv, "--kinds", "splice,copy-move,authentic"]) == 0
    err = capsys.readouterr().err
    no_traceback(err)
    report = json.loads((out / "report.json").read_text())
    assert report["written"] == 4 and report["skipped_sources"]  # photos are drawn lazily: not all tried
    for skip in report["skipped_sources"]:
        assert Path(skip["path"]).relative_to(folder).as_posix() in described and skip["reason"]
    check_out_folder(out)
    for rec in (json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()):
        try:
            read_image(out / rec["image"])
        except ImageReadError as exc:  # pragma: no cover - the assertion message is the point
            pytest.fail(str(exc))
