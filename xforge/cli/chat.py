"""``xforge chat IMAGE``: ask about an image, turn after turn, in the terminal or from a pipe.

Interactive when stdin is a terminal (readline editing and history); otherwise every line of stdin is one
question or command, and each is echoed before its answer so the output reads as a transcript. After every
answer the mask and an overlay PNG are written to ``--out`` and their paths printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from xforge.cli.detect import add_model_arguments, detector_from_args, setup_logging

PROMPT = "you> "
HISTORY_ENV = "XFORGE_CHAT_HISTORY"
HELP = """Commands:
  /image PATH   switch to another image (starts a new conversation)
  /save [FILE]  save the conversation as JSON (default: OUT/<image>_chat.json)
  /help         this text
  /quit         leave (Ctrl-D works too)
Anything else is a question about the current image."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "chat",
        help="multi-turn chat about one image",
        description="Ask whether an image is edited, where and why.\n\n" + HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("image", metavar="IMAGE", help="the image to talk about")
    p.add_argument(
        "--out",
        default="xforge-chat",
        metavar="DIR",
        help="where masks and overlays go (default ./xforge-chat)",
    )
    p.add_argument(
        "--json", action="store_true", help="print each answer as one JSON line (messages on stderr)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    add_model_arguments(p)
    p.set_defaults(func=run)


class _Console:
    """Where lines come from (readline prompt or a pipe) and where text goes (human or JSON)."""

    def __init__(self, as_json: bool):
        self.interactive = sys.stdin.isatty()
        self.as_json = as_json
        if self.interactive:
            self._setup_readline()

    def _setup_readline(self) -> None:
        try:
            import readline
        except ImportError:  # Windows without pyreadline: plain input() still works
            return
        import atexit

        path = Path(os.environ.get(HISTORY_ENV) or Path.home() / ".xforge_chat_history")
        try:
            readline.read_history_file(path)
        except OSError:
            pass  # first run: no history yet
        readline.set_history_length(1000)
        atexit.register(_write_history, readline, path)

    def read(self) -> str | None:
        """The next line, or None at end of input."""
        if self.interactive:
            try:
                return _valid_text(input(PROMPT))
            except EOFError:
                print()
                return None
        raw = getattr(sys.stdin, "buffer", None)
        # Bytes, decoded here: a strict text stdin would raise on the first invalid UTF-8 line.
        line = (
            raw.readline().decode("utf-8", "replace")
            if raw is not None
            else _valid_text(sys.stdin.readline())
        )
        if not line:
            return None
        if line.strip() and not self.as_json:
            print(PROMPT + line.strip())
        return line

    def say(self, text: str) -> None:
        """Messages for people: stdout normally, stderr in JSON mode so stdout stays JSON lines."""
        print(text, file=sys.stderr if self.as_json else sys.stdout, flush=True)

    def error(self, text: str) -> None:
        print(f"error: {text}", file=sys.stderr, flush=True)


def _valid_text(line: str) -> str:
    """Undecodable input bytes (Python keeps them as lone surrogates) become U+FFFD, so every answer, file
    and saved conversation stays valid UTF-8."""
    return line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _write_history(readline, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        readline.write_history_file(path)
    except OSError:
        pass  # a read-only home must not turn a finished chat into a traceback


def _output_paths(session, out: Path) -> tuple[Path, Path]:
    return out / f"{session.image.name}_mask.png", out / f"{session.image.name}_overlay.png"


def _write_outputs(session, out: Path) -> None:
    from xforge.inference.overlay import write_overlay, write_png

    result, image = session.last_result, session.image
    mask_path, overlay_path = _output_paths(session, out)
    write_png(mask_path, result.mask * 255)
    write_overlay(overlay_path, image.array, result.mask)


def _save(session, out: Path, target: str | None) -> Path:
    """Write the conversation as JSON through a temp file: a failure leaves any existing file untouched."""
    from xforge.atomic import atomic_write, check_writable_file

    path = Path(target).expanduser() if target else out / f"{session.image.name}_chat.json"
    text = json.dumps(session.to_dict(), indent=2, ensure_ascii=False) + "\n"
    return atomic_write(check_writable_file(path), text)


def _same_finding(a, b) -> bool:
    return (a.verdict, round(a.score, 2)) == (b.verdict, round(b.score, 2)) and (a.mask == b.mask).all()


def _answer(console: _Console, session, question: str, out: Path) -> None:
    result = session.ask(question)
    previous = session.results[-2] if len(session.results) > 1 else None
    unchanged = previous is not None and _same_finding(previous, result)
    # The files hold the latest finding; an unchanged one is neither rewritten nor re-announced.
    if not unchanged:
        _write_outputs(session, out)
    mask_path, overlay_path = _output_paths(session, out)
    if console.as_json:
        row = {"turn": len(session.results), "image": session.image.source_path, **result.to_dict()}
        print(json.dumps({**row, "mask_path": str(mask_path), "overlay_path": str(overlay_path)}), flush=True)
        return
    print(f"xforge [{result.engine}]> {result.explanation}")
    if not unchanged:
        print(f"  verdict: {result.verdict}  score: {result.score:.2f}  regions: {len(result.regions)}")
        print(f"  mask: {mask_path}  overlay: {overlay_path}")
    sys.stdout.flush()


def _command(console: _Console, session, line: str, out: Path) -> bool:
    """Run a /command; returns False when the chat should end."""
    from xforge.data.images import ImageReadError

    name, _, arg = line.partition(" ")
    arg = arg.strip()
    if name in ("/quit", "/exit", "/q"):
        return False
    if name == "/help":
        console.say(HELP)
    elif name == "/image":
        if not arg:
            console.error("/image needs a path")
            return True
        arg = str(Path(arg.strip("'\"")).expanduser())  # paths pasted with quotes or ~ work too
        try:
            session.set_image(arg)
        except ImageReadError as exc:
            console.error(f"{exc} (still on {session.image.source_path or session.image.name})")
            return True
        h, w = session.image.array.shape[:2]
        console.say(f"now talking about {arg} ({w}x{h}); the conversation starts afresh")
    elif name == "/save":
        try:
            console.say(
                f"saved the conversation to {_save(session, out, arg.strip(chr(39) + chr(34)) or None)}"
            )
        except (OSError, ValueError) as exc:  # the chat goes on: the user can /save elsewhere
            console.error(f"could not save the conversation: {exc}")
    else:
        console.error(f"unknown command {name}; /help lists them")
    return True


def run(args: argparse.Namespace) -> int:
    """Exit code 0 after a chat; 2 when --out cannot be written or the engine or the first image cannot be
    loaded (nothing was answered)."""
    from xforge.data.images import ImageReadError

    setup_logging(args.verbose)
    from xforge.atomic import check_writable_dir

    console = _Console(args.json)
    out = Path(args.out)
    try:
        check_writable_dir(out)
        detector = detector_from_args(args)
        session = detector.chat(args.image)
    except (ImageReadError, OSError, ValueError) as exc:
        console.error(str(exc))
        return 2
    h, w = session.image.array.shape[:2]
    console.say(f"xforge chat: {args.image} ({w}x{h}), engine: {detector.describe()}. /help lists commands.")
    while True:
        try:
            line = console.read()
        except KeyboardInterrupt:
            print()
            break
        except UnicodeDecodeError:  # a terminal whose encoding is not UTF-8
            console.error("could not decode that line; please type it again")
            continue
        if line is None:
            break
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            if not _command(console, session, line, out):
                break
            continue
        try:
            _answer(console, session, line, out)
        except (OSError, ValueError, RuntimeError) as exc:
            console.error(f"could not answer: {exc}")
    return 0
