"""`xforge chat` driven through a pipe (non-interactive), with the classical default engine."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from xforge.cli import main


def _image(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    cv2.imwrite(str(path), cv2.GaussianBlur(rng.integers(0, 256, (72, 96, 3), dtype=np.uint8), (5, 5), 0))
    return path


def test_piped_chat_subprocess(tmp_path):
    first, second = _image(tmp_path / "first.png", 0), _image(tmp_path / "second.jpg", 1)
    out = tmp_path / "chat"
    script = "\n".join(
        [
            "Is this image edited?",
            "Where?",
            "",
            "/image nowhere.png",
            f"/image {second}",
            "Why?",
            "/save",
            "/quit",
        ]
    )
    proc = subprocess.run(
        [sys.executable, "-m", "xforge", "chat", str(first), "--out", str(out)],
        input=script + "\n",
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "engine: classical" in text
    assert text.count("xforge [classical]>") == 3
    assert "you> Where?" in text  # piped questions are echoed, so stdout reads as a transcript
    assert "nowhere.png" in proc.stderr and "still on" in proc.stderr
    for name in ("first_mask.png", "first_overlay.png", "second_mask.png", "second_overlay.png"):
        assert (out / name).is_file(), name
        assert str(out / name) in text  # says where it wrote them
    mask = cv2.imread(str(out / "first_mask.png"), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == (72, 96) and set(np.unique(mask)) <= {0, 255}
    saved = json.loads((out / "second_chat.json").read_text())
    assert [t["question"] for t in saved["turns"]] == ["Why?"]
    assert saved["engine"] == "classical" and saved["messages"][0]["role"] == "user"


def test_piped_chat_json_mode(tmp_path, monkeypatch, capsys):
    image = _image(tmp_path / "pic.png", 2)
    monkeypatch.setattr(sys, "stdin", io.StringIO("Is this image edited?\nHow sure are you?\n/help\n"))
    assert main(["chat", str(image), "--out", str(tmp_path / "o"), "--json"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["turn"] for r in rows] == [1, 2]
    assert all(r["engine"] == "classical" and r["verdict"] in ("tampered", "authentic") for r in rows)
    assert Path(rows[0]["overlay_path"]).is_file()
    assert "/image PATH" in captured.err  # help and messages go to stderr in JSON mode


def test_chat_unreadable_image_exits_2(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n"))
    assert main(["chat", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.jpg" in capsys.readouterr().err
