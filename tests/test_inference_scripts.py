"""`xforge bench` dispatch and the README example script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

from xforge.cli import main

REPO = Path(__file__).resolve().parent.parent


def test_bench_lists_and_refuses_unknown_names(capsys):
    assert main(["bench"]) == 0
    assert "inference" in capsys.readouterr().out
    assert main(["bench", "no-such-bench"]) == 2
    assert "available: " in capsys.readouterr().err


def test_readme_example_script_regenerates_transcript_and_overlay(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_readme_example.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    transcript = (tmp_path / "chat_transcript.txt").read_text()
    assert transcript.startswith("$ xforge chat astronaut_copymove.jpg")
    assert transcript.count("you> ") == 5 and transcript.count("xforge [classical]> ") == 5
    assert str(tmp_path) not in transcript and str(REPO) not in transcript  # no machine paths
    with Image.open(tmp_path / "overlay.png") as overlay:
        assert max(overlay.size) <= 384
