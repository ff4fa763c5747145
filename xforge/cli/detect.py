"""``xforge detect INPUT… --out DIR``: analyse files, folders or manifests into a predictions folder."""

from __future__ import annotations

import argparse
import json
import logging
import sys

logger = logging.getLogger(__name__)

EXIT_CODES = """exit codes:
  0  every image has an answer (this run's or an earlier one's)
  1  some images have an 'error' line (listed in predictions.jsonl and on stderr)
  2  nothing was analysed: bad usage, no image in the inputs, a bad manifest or root,
     an unwritable --out, or an engine that cannot be loaded"""


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose and load an engine (shared by ``chat`` and ``detect``)."""
    group = parser.add_argument_group("engine")
    group.add_argument(
        "--model",
        metavar="PATH_OR_ID",
        help="XForge checkpoint folder or Hub id; without it the classical forensic engine answers",
    )
    group.add_argument(
        "--device",
        help="torch device for the model, e.g. cuda, cuda:1, cpu (default: the GPU if there is one)",
    )
    group.add_argument(
        "--dtype",
        choices=("auto", "bfloat16", "float16", "float32"),
        help="model dtype (default auto: bfloat16 on a GPU, float32 on the CPU)",
    )
    quant = group.add_mutually_exclusive_group()
    quant.add_argument(
        "--load-in-4bit", action="store_true", help="quantise the language model (bitsandbytes)"
    )
    quant.add_argument("--load-in-8bit", action="store_true", help="8-bit quantisation (bitsandbytes)")
    group.add_argument("--max-new-tokens", type=int, default=None, help="longest answer in tokens")
    group.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow code from the checkpoint's repository to run (off by default)",
    )


def load_options(args: argparse.Namespace):
    """The engine options of the command line as one ``xforge.model.LoadOptions``."""
    from xforge.model.loading import LoadOptions

    return LoadOptions(
        device=args.device,
        torch_dtype=args.dtype,
        load_in_4bit=args.load_in_4bit,
        load_in_8bit=args.load_in_8bit,
        trust_remote_code=args.trust_remote_code,
    )


def detector_from_args(args: argparse.Namespace):
    """Build the Detector the engine options ask for."""
    from xforge.inference import Detector

    if not args.model:
        return Detector.default()
    try:
        return Detector.from_pretrained(args.model, load_options(args), max_new_tokens=args.max_new_tokens)
    except (OSError, ValueError):
        raise  # these already name the file and the problem
    except (TypeError, KeyError, AttributeError, RuntimeError, ImportError) as exc:
        # A hand-edited config or a checkpoint from another version fails deep inside the loaders:
        # one line naming the checkpoint (-v logs the traceback).
        logger.info("loading %s failed", args.model, exc_info=True)
        raise ValueError(f"{args.model}: cannot load the checkpoint ({type(exc).__name__}: {exc})") from None


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "detect",
        help="analyse files, folders or a manifest into a predictions folder",
        description=(
            "Analyse images and write DIR/predictions.jsonl (one line per image) and DIR/masks/<id>.png "
            "(probability map x 255). A rerun into the same DIR resumes: images already done are skipped, "
            "images whose file changed are analysed again, and images with an 'error' line are retried. An "
            "unreadable image gets a line with 'error' set and the run goes on.\n\n" + EXIT_CODES
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders, or .jsonl manifests")
    p.add_argument("--out", required=True, metavar="DIR", help="predictions folder (created if missing)")
    p.add_argument("--question", help="the question asked about every image (default: the standard one)")
    p.add_argument("--overlays", action="store_true", help="also write DIR/overlays/<id>.png")
    p.add_argument(
        "--root",
        action="append",
        default=[],
        metavar="KEY=PATH",
        help="dataset root for manifest inputs (repeatable; XFORGE_ROOT_<KEY> works too)",
    )
    p.add_argument("--batch-size", type=int, default=1, metavar="N", help="images per model call (default 1)")
    p.add_argument(
        "--no-retry-errors",
        action="store_true",
        help="on a rerun, keep the error lines of an earlier run instead of analysing those images again",
    )
    p.add_argument(
        "--allow-empty", action="store_true", help="exit 0 when the inputs hold no image (default: exit 2)"
    )
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    add_model_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit codes: see EXIT_CODES."""
    from xforge.data.manifest import ManifestError, parse_roots
    from xforge.inference.detect import NoInputError, run_detect

    setup_logging(args.verbose)
    if args.batch_size < 1:
        print(f"error: --batch-size must be >= 1, got {args.batch_size}", file=sys.stderr)
        return 2
    try:
        roots = parse_roots(args.root, must_exist=True)
        detector = detector_from_args(args)
        summary = run_detect(
            args.inputs,
            args.out,
            detector,
            question=args.question,
            overlays=args.overlays,
            roots=roots,
            batch_size=args.batch_size,
            progress=not args.no_progress,
            retry_errors=not args.no_retry_errors,
            allow_empty=args.allow_empty,
        )
    except (ManifestError, NoInputError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary))
    else:
        extra = f", {summary['retried']} retried" if summary["retried"] else ""
        print(
            f"{summary['done']} analysed, {summary['errors']} with errors, {summary['skipped']} already done"
            f"{extra} (engine: {summary['engine']}) -> {summary['predictions']}"
        )
    return 1 if summary["errors"] or summary["kept_errors"] else 0
