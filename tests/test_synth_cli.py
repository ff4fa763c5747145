"""`xforge data synth` and `xforge data convos` end to end through the console entry point."""

import json

import cv2
import numpy as np

from data_builders.synth.scene import render_scene
from xforge.cli import main
from xforge.data.conversations import SEG_TOKEN, read_conversations
from xforge.data.manifest import read_manifest


def _photos(folder, n=4):
    folder.mkdir()
    for i in range(n):
        cv2.imwrite(str(folder / f"p{i}.jpg"), render_scene(np.random.default_rng(i), (128, 96))[..., ::-1])
    return folder


def test_synth_then_convos(tmp_path, capsys):
    src = _photos(tmp_path / "photos")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    out = tmp_path / "synth"
    rc = main(
        [
            "data",
            "synth",
            "--images",
            str(src),
            "--out",
            str(out),
            "--n",
            "8",
            "--seed",
            "1",
            "--kinds",
            "splice,copy-move,removal,multi,authentic",
            "--cm-rotation=-5,5",
            "--jpeg-quality",
            "80",
            "--p-jpeg",
            "1",
            "--max-side",
            "0",
        ]
    )
    assert rc == 0
    captured = capsys.readouterr()
    assert "wrote 8/8 samples" in captured.out and "broken.png" in captured.err
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["copy_move_rotation"] == [-5.0, 5.0] and report["config"]["jpeg_quality"] == [
        80,
        80,
    ]
    records = read_manifest(out / "manifest.jsonl")
    assert all(r.image.endswith(".jpg") for r in records)
    for r in records:
        if r.meta["kind"] == "copy-move":
            assert -5 <= r.meta["rotation_deg"] <= 5
    convos = tmp_path / "s2.jsonl"
    assert (
        main(
            [
                "data",
                "convos",
                "--stage",
                "2",
                "--manifest",
                str(out / "manifest.jsonl"),
                "--out",
                str(convos),
            ]
        )
        == 0
    )
    rows = read_conversations(convos)
    assert len(rows) == 8
    for row in rows:
        answer = row.messages[1]["content"][0]["text"]
        assert (SEG_TOKEN in answer) == (row.label == "tampered")
    assert (tmp_path / "s2.jsonl.report.json").is_file()


def test_synth_bad_input_exit_codes(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["data", "synth", "--images", str(empty), "--out", str(tmp_path / "o"), "--n", "2"]) == 2
    assert "no images found" in capsys.readouterr().err
    src = _photos(tmp_path / "photos", n=2)
    assert (
        main(
            [
                "data",
                "synth",
                "--images",
                str(src),
                "--out",
                str(tmp_path / "o"),
                "--n",
                "2",
                "--kinds",
                "smudge",
            ]
        )
        == 2
    )
    assert "kinds" in capsys.readouterr().err


def test_convos_argument_errors(tmp_path, capsys):
    out = str(tmp_path / "c.jsonl")
    assert main(["data", "convos", "--out", out]) == 2
    assert "exactly one of --stage or --import" in capsys.readouterr().err
    assert (
        main(["data", "convos", "--stage", "2", "--manifest", str(tmp_path / "none.jsonl"), "--out", out])
        == 2
    )
    assert "manifest not found" in capsys.readouterr().err


def test_convos_import(tmp_path):
    corpus = tmp_path / "sida.json"
    corpus.write_text(
        json.dumps([{"image": "real/1.png", "label": 0, "description": "The photo appears authentic."}])
    )
    out = tmp_path / "imported.jsonl"
    assert main(["data", "convos", "--import", "sida", "--corpus", str(corpus), "--out", str(out)]) == 0
    assert read_conversations(out)[0].label == "authentic"
