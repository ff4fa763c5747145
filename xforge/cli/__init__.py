"""The `xforge` console script.

Each command group lives in its own module, which exposes ``register(subparsers)`` and sets
``func`` on the parsers it adds. Modules are imported lazily per group so ``xforge data …`` does not
pay for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# group -> (help, modules that register its subcommands; "" means the module registers the group itself)
GROUPS: dict[str, tuple[str, list[str]]] = {
    "data": (
        "build, split, synthesise and inspect manifests",
        ["xforge.cli.data_build", "xforge.cli.data_synth", "xforge.cli.data_annotate"],
    ),
    "chat": ("multi-turn chat about one image", ["xforge.cli.chat"]),
    "detect": ("analyse files, folders or a manifest into a predictions folder", ["xforge.cli.detect"]),
    "eval": ("score a predictions folder against a manifest", ["xforge.cli.evaluate"]),
    "serve": ("a web page and an HTTP API for people and programs", ["xforge.cli.serve"]),
    "bench": ("run a benchmark script from scripts/", ["xforge.cli.bench"]),
}


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xforge",
        description="Explainable image-forgery detection and localization.",
    )
    sub = parser.add_subparsers(dest="group", metavar="COMMAND")
    wanted = next((a for a in (argv or []) if not a.startswith("-")), None)
    for group, (help_text, modules) in GROUPS.items():
        present = [m for m in modules if _available(m)]
        if not present:
            continue
        if group == "data":
            gp = sub.add_parser(group, help=help_text, description=help_text)
            gsub = gp.add_subparsers(dest="command", metavar="SUBCOMMAND")
            if wanted in (None, group):
                for module in present:
                    importlib.import_module(module).register(gsub)
        elif wanted == group:
            importlib.import_module(present[0]).register(sub)
        else:
            # Placeholder so `xforge --help` lists the group without importing its module.
            sub.add_parser(group, help=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.parse_args([*argv, "--help"])
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        # Work already written stays (lines and masks are written whole); a rerun resumes from there.
        print("xforge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
