"""``xforge bench NAME [ARGS…]``: run ``scripts/bench_NAME.py`` from a source checkout; no NAME lists them."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import xforge

SCRIPTS_DIR = Path(xforge.__file__).resolve().parent.parent / "scripts"
PREFIX = "bench_"


def available() -> dict[str, Path]:
    """Benchmark name -> script, from the checkout's ``scripts/`` folder (empty outside a checkout)."""
    if not SCRIPTS_DIR.is_dir():
        return {}
    return {p.stem[len(PREFIX) :]: p for p in sorted(SCRIPTS_DIR.glob(f"{PREFIX}*.py"))}


def _first_doc_line(path: Path) -> str:
    import ast

    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except (OSError, SyntaxError):
        return ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="run a benchmark script from scripts/",
        description="Run scripts/bench_NAME.py (its last line holds its figures as name=value pairs).",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="benchmark to run; leave out to list them")
    p.add_argument("script_args", nargs=argparse.REMAINDER, metavar="ARGS", help="passed to the script")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    benches = available()
    if not args.name:
        if not benches:
            print(f"no benchmarks found (looked in {SCRIPTS_DIR}; they ship with a source checkout)")
            return 1
        print("available benchmarks:")
        for name, path in benches.items():
            print(f"  {name:<20} {_first_doc_line(path)}")
        return 0
    script = benches.get(args.name)
    if script is None:
        known = ", ".join(benches) or "none"
        print(f"error: no benchmark {args.name!r} in {SCRIPTS_DIR} (available: {known})", file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, str(script), *args.script_args])
