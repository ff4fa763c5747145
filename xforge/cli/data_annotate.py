"""``xforge data annotate``: masks for (edited, original) pairs by constrained localization, rated by QES."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ANNOTATE_HELP = """\
Auto-annotate edits whose original photo is known (MIML, Qu et al. CVPR 2024): register the original onto
the edit (SIFT + RANSAC homography, ECC refinement; crops, resizes, small rotations, mirror flips and
re-compression are handled), take a soft difference robust to JPEG noise and colour shifts, refine it with
morphology, and rate the mask with QES (share of confident pixels among those marked). Writes OUT/images,
OUT/originals, OUT/masks, OUT/manifest.jsonl (dataset --dataset, meta.qes, meta.annotation "auto-ciml"),
OUT/manifest.skipped.jsonl (every pair not kept, with the reason) and OUT/report.json. Pairs that cannot be
aligned are skipped, never guessed.

pairs layouts:
  FOLDER with X.jpg next to X_original.jpg (or _orig, _source, _src), searched recursively
  FOLDER with edited/ and original/ subfolders, files matched by name
  FILE.csv with columns edited,original[,id]; FILE.jsonl with {"edited": ..., "original": ..., "id": ...}
  (paths relative to the file's folder)

example:
  xforge data annotate --pairs psbattles/ --out data/psb --min-qes 0.5
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "annotate",
        help="masks for (edited, original) pairs by registration + difference, rated by QES",
        description=ANNOTATE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--pairs", required=True, metavar="PAIRS", help="folder, CSV or JSONL of pairs")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="dataset folder to write")
    p.add_argument(
        "--min-qes",
        type=float,
        default=0.0,
        metavar="Q",
        help="skip masks whose QES is under Q (e.g. 0.5; default 0 keeps every mask)",
    )
    p.add_argument("--dataset", default="pairs", help="dataset name in the manifest (default: pairs)")
    p.add_argument("--split", default="train", choices=("train", "valid", "test"))
    p.add_argument(
        "--work-side",
        type=int,
        default=None,
        metavar="PX",
        help="longer side the pair is analysed at (default 1024); masks come back at full size",
    )
    p.set_defaults(func=run_annotate)


def run_annotate(args: argparse.Namespace) -> int:
    from data_builders.annotate.build import annotate_pairs
    from data_builders.annotate.ciml import WORK_SIDE
    from data_builders.annotate.pairs import PairsError, find_pairs

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not 0.0 <= args.min_qes <= 1.0:
        print(
            f"xforge data annotate: error: --min-qes must be in [0, 1], got {args.min_qes}", file=sys.stderr
        )
        return 2
    try:
        pairs, skipped = find_pairs(args.pairs)
        report = annotate_pairs(
            pairs,
            args.out,
            dataset=args.dataset,
            split=args.split,
            min_qes=args.min_qes,
            work_side=args.work_side or WORK_SIDE,
            skipped=skipped,
        )
    except (PairsError, ValueError, OSError) as exc:
        print(f"xforge data annotate: error: {exc}", file=sys.stderr)
        return 2
    mean = f", mean QES {report['mean_qes']:.3f}" if report["mean_qes"] is not None else ""
    print(f"annotated {report['annotated']}/{report['pairs']} pairs{mean} into {args.out / 'manifest.jsonl'}")
    if report["skipped"]:
        print(
            f"skipped {report['skipped']} pair(s); reasons in {args.out / 'manifest.skipped.jsonl'}",
            file=sys.stderr,
        )
    return 0
