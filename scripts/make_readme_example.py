"""Regenerate the README's chat example: a transcript and an overlay from the default (classical) engine.

Runs the real ``xforge chat`` command on the shipped example image with piped questions, exactly as a user
would, and writes ``chat_transcript.txt`` and ``overlay.png`` (downscaled, to keep the repository small) next
to the example image in ``xforge/assets/examples/`` (the copy-move forgery the synthetic generator made).

    python scripts/make_readme_example.py [--image PATH] [--out DIR]

Prints the written files last, on one line of name=value pairs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "xforge" / "assets" / "examples"
DEFAULT_IMAGE = EXAMPLES / "astronaut_copymove.jpg"  # made by the synthetic generator (see its README)
QUESTIONS = (
    "Is this image edited? If so, where?",
    "Where exactly?",
    "Why do you think so?",
    "What kind of edit is it?",
    "How sure are you?",
)
OVERLAY_MAX_SIDE = 384


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--image", type=Path, default=DEFAULT_IMAGE, help="image to talk about (default: %(default)s)"
    )
    ap.add_argument("--out", type=Path, default=EXAMPLES, help="where the transcript and overlay go")
    args = ap.parse_args()
    image = args.image.resolve()
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        # Run where the image sits, under its plain name, so the transcript shows no machine paths.
        work = Path(tmp)
        (work / image.name).write_bytes(image.read_bytes())
        proc = subprocess.run(
            [sys.executable, "-m", "xforge", "chat", image.name, "--out", "xforge-chat"],
            input="\n".join(QUESTIONS) + "\n",
            capture_output=True,
            text=True,
            cwd=work,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"xforge chat failed ({proc.returncode}):\n{proc.stderr}")
        # Piped questions are echoed after the prompt, so this reads as the interactive session would.
        command = f"$ xforge chat {image.name}\n"
        transcript = args.out / "chat_transcript.txt"
        transcript.write_text(command + proc.stdout, encoding="utf-8")

        overlay = Image.open(work / "xforge-chat" / f"{image.stem}_overlay.png").convert("RGB")
        overlay.thumbnail((OVERLAY_MAX_SIDE, OVERLAY_MAX_SIDE), Image.Resampling.LANCZOS)
        overlay_path = args.out / "overlay.png"
        # A 256-colour palette keeps the README's PNG near 100 kB instead of 350 kB.
        overlay.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(overlay_path, optimize=True)
    print(f"image={image.name} transcript={transcript} overlay={overlay_path}")


if __name__ == "__main__":
    main()
