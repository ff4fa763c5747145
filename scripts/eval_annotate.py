"""How good are the pair annotator's masks, and does QES tell the good ones from the bad?

Pairs come from :mod:`data_builders.annotate.synthetic`: the project's forgery generator edits host photos
(real sample photos shipped in scikit-image / scikit-learn, cropped and scaled), the original is the host,
and one side is resized, cropped, maybe rotated a few degrees or mirrored, and re-saved as JPEG in between.
Each pair is annotated by :func:`data_builders.annotate.ciml.annotate_arrays` and its mask compared with the
generator's ground truth.

Figures: ``iou`` mean IoU over all pairs (a pair the annotator refuses to align counts as IoU 0, as it yields
no mask), ``spearman`` Spearman's rho between QES and IoU over the annotated pairs, ``kept`` the share of
pairs that ``--min-qes`` keeps, ``iou_kept`` their mean IoU. Also printed: refusals, per-kind IoU and time.

    python scripts/eval_annotate.py --n 240 [--seed 2] [--min-qes 0.5] [--out per_pair.jsonl]

Where the original side was cropped, the ground truth leaves out the part of the edit the original no longer
shows (see :mod:`data_builders.annotate.synthetic`); the script prints the share left out.

Seeds: the annotator's settings were developed on seeds 0 and 1; seed 2 was held out for reporting and is
the default, seed 3 is a second check. Report figures from a seed no setting was tuned on. Measured (240
pairs): seed 2 ``iou=0.8560 spearman=0.7194 kept=0.8500 iou_kept=0.9081`` (by kind: splice 0.898,
copy-move 0.898, multi 0.913, removal 0.708), seed 3 ``iou=0.8579 spearman=0.6562 kept=0.8625
iou_kept=0.9077`` (0.864, 0.876, 0.927, 0.762); 1.5 s/pair on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_builders.annotate.ciml import AlignError, annotate_arrays  # noqa: E402
from data_builders.annotate.synthetic import HostPool, base_photos, make_pair  # noqa: E402
from data_builders.synth import SynthConfig  # noqa: E402


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=240, help="pairs (default 240)")
    ap.add_argument("--seed", type=int, default=2, help="pair seed (default 2, the held-out one)")
    ap.add_argument("--min-qes", type=float, default=0.5)
    ap.add_argument("--out", type=Path, help="write one JSON line per pair here")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)  # the machine is shared; one core is plenty at these sizes

    pool = HostPool(base_photos(), seed=args.seed)
    cfg = SynthConfig(kinds=("splice", "copy-move", "removal", "multi"), max_side=640)
    rows = []
    start = time.perf_counter()
    for i in range(args.n):
        pair = make_pair(i, pool, cfg, seed=args.seed)
        row = {"index": i, **pair.meta}
        try:
            ann = annotate_arrays(pair.edited, pair.original)
        except AlignError as exc:
            row.update(aligned=False, reason=str(exc), iou=0.0, qes=None)
        else:
            row.update(aligned=True, iou=iou(ann.mask, pair.mask), qes=ann.qes, area=ann.area)
            row["registration"] = ann.meta["registration"]
        rows.append(row)
    seconds = time.perf_counter() - start

    ious = np.array([r["iou"] for r in rows])
    done = [r for r in rows if r["aligned"]]
    rho = (
        float(spearmanr([r["qes"] for r in done], [r["iou"] for r in done]).statistic)
        if len(done) > 2
        else 0.0
    )
    kept = [r for r in done if r["qes"] >= args.min_qes]
    iou_kept = float(np.mean([r["iou"] for r in kept])) if kept else 0.0
    by_kind = defaultdict(list)
    for r in rows:
        by_kind[r["kind"]].append(r["iou"])
    by_side = defaultdict(list)
    for r in rows:
        by_side[r["web"]["side"]].append(r["iou"])
    print(f"pairs: {len(rows)}, aligned {len(done)}, refused {len(rows) - len(done)}")
    for r in rows:
        if not r["aligned"]:
            print(f"  refused pair {r['index']} ({r['kind']}): {r['reason']}")
    print(
        "mean IoU by kind: "
        + ", ".join(f"{k} {np.mean(v):.3f} (n={len(v)})" for k, v in sorted(by_kind.items()))
    )
    print(
        "mean IoU by transformed side: "
        + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in sorted(by_side.items()))
    )
    cuts = [r["mask_cut"] for r in rows]
    print(
        f"edit outside the cropped original's view, left out of the truth: mean share {np.mean(cuts):.3f}, "
        f"{sum(c > 0 for c in cuts)} pairs"
    )
    print(f"mean IoU of the aligned pairs: {np.mean([r['iou'] for r in done]):.3f}")
    print(f"median IoU: {np.median(ious):.3f}; share with IoU >= 0.7: {np.mean(ious >= 0.7):.3f}")
    print(
        f"--min-qes {args.min_qes}: keeps {len(kept)}/{len(rows)}; dropped mean IoU "
        f"{np.mean([r['iou'] for r in done if r['qes'] < args.min_qes]) if len(kept) < len(done) else float('nan'):.3f}"
    )
    print(f"seconds per pair: {seconds / len(rows):.3f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(
        f"iou={ious.mean():.4f} spearman={rho:.4f} kept={len(kept) / len(rows):.4f} iou_kept={iou_kept:.4f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
