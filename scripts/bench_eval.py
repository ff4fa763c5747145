"""Benchmark: localization metrics for N tampered 1024x1024 images (PNG prediction + PNG mask on disk).

Times the real evaluation path (``eval.runner.evaluate`` with the localization metrics, decoding included)
and the floor it cannot beat: decoding the same PNG files and nothing else, with the same thread count.
Targets: <= 40 s for 1,000 images, and <= 1.5x the decode floor.

    python scripts/bench_eval.py [--n 1000] [--size 1024] [--workers N] [--data-dir DIR]

The generated files are kept in --data-dir (default: a folder in the system temp dir) and reused.
The last line holds the figures as name=value pairs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from eval.runner import evaluate
from eval.scoring import EvalOptions
from xforge.data.manifest import write_jsonl
from xforge.predictions import PREDICTIONS_FILE, mask_filename


def _pair(i: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A mask with a few blobs and a smooth predicted map that overlaps it imperfectly, like a model's."""
    rng = np.random.default_rng(i)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(rng.integers(1, 4)):
        c = tuple(int(v) for v in rng.integers(size // 8, size - size // 8, 2))
        axes = tuple(int(v) for v in rng.integers(size // 20, size // 5, 2))
        cv2.ellipse(mask, c, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    shift = np.float32([[1, 0, rng.integers(-20, 20)], [0, 1, rng.integers(-20, 20)]])
    prob = cv2.warpAffine(mask.astype(np.float32), shift, (size, size))
    prob = cv2.GaussianBlur(prob, (0, 0), 9)
    texture = cv2.resize(rng.random((size // 32, size // 32), dtype=np.float32), (size, size))
    prob = np.clip(0.85 * prob + 0.25 * texture - 0.05, 0, 1)
    return mask * 255, (prob * 255 + 0.5).astype(np.uint8)


def make_data(root: Path, n: int, size: int, workers: int) -> tuple[Path, Path]:
    """Masks, predictions and a manifest for n tampered images (kept between runs)."""
    manifest, pred_dir = root / "bench.jsonl", root / "pred"
    if manifest.is_file() and (pred_dir / PREDICTIONS_FILE).is_file():
        return manifest, pred_dir
    (root / "masks").mkdir(parents=True, exist_ok=True)
    (pred_dir / "masks").mkdir(parents=True, exist_ok=True)

    def one(i: int) -> None:
        mask, prob = _pair(i, size)
        cv2.imwrite(str(root / "masks" / f"{i:05d}.png"), mask)
        cv2.imwrite(str(pred_dir / "masks" / mask_filename(f"bench/{i:05d}")), prob)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(n)))
    records = [
        {
            "id": f"bench/{i:05d}",
            "dataset": "bench",
            "split": "test",
            "image": f"images/{i:05d}.png",
            "label": "tampered",
            "mask": f"masks/{i:05d}.png",
            "mask_format": "white_forged",
            "width": size,
            "height": size,
        }
        for i in range(n)
    ]
    write_jsonl(manifest, records)
    lines = [
        f'{{"id": "bench/{i:05d}", "image": "images/{i:05d}.png", "verdict": "tampered", "score": 0.9, '
        f'"explanation": null, "mask": "masks/{mask_filename(f"bench/{i:05d}")}", "engine": "bench", '
        f'"regions": [], "error": null}}'
        for i in range(n)
    ]
    (pred_dir / PREDICTIONS_FILE).write_text("\n".join(lines) + "\n")
    return manifest, pred_dir


def decode_floor(root: Path, pred_dir: Path, n: int, workers: int) -> float:
    """Seconds to decode every mask and prediction PNG, and nothing else."""
    paths = [root / "masks" / f"{i:05d}.png" for i in range(n)]
    paths += [pred_dir / "masks" / mask_filename(f"bench/{i:05d}") for i in range(n)]
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for arr in pool.map(lambda p: cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), paths):
            assert arr is not None
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=EvalOptions().workers)
    ap.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "xforge_bench_eval")
    args = ap.parse_args()
    root = args.data_dir / f"n{args.n}_s{args.size}"
    t0 = time.perf_counter()
    manifest, pred_dir = make_data(root, args.n, args.size, args.workers)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    from accelerate import PartialState  # torch comes with it: a one-off start-up cost, reported apart

    PartialState()
    import_s = time.perf_counter() - t0
    out = root / "out"
    options = EvalOptions(metrics=("localization",), workers=args.workers)
    # The floor is measured before and after the evaluation and averaged, so load drift on a shared
    # machine affects both sides of the ratio alike.
    floor_before = decode_floor(root, pred_dir, args.n, args.workers)
    shutil.rmtree(out, ignore_errors=True)  # no cached rows: every image is decoded and scored
    start = time.perf_counter()
    doc = evaluate([manifest], {"bench": root}, pred_dir, out, options=options, write=False, progress=False)
    metrics_s = time.perf_counter() - start
    floor_after = decode_floor(root, pred_dir, args.n, args.workers)
    floor = (floor_before + floor_after) / 2
    table = doc["datasets"]["bench"]
    assert table["n_localized"] == args.n, table
    print(
        f"images={args.n} size={args.size} workers={args.workers} cpus={os.cpu_count()} generate_s={gen_s:.1f} "
        f"torch_import_s={import_s:.1f} floor_before_s={floor_before:.2f} floor_after_s={floor_after:.2f}"
    )
    print(
        f"mean pixel_f1={table['pixel_f1']:.4f} pixel_auc={table['pixel_auc']:.4f} ciou={table['ciou']:.4f}"
    )
    print(
        f"n={args.n} size={args.size} workers={args.workers} eval_s={metrics_s:.2f} decode_floor_s={floor:.2f} "
        f"ratio={metrics_s / floor:.2f} ms_per_image={1000 * metrics_s / args.n:.1f} "
        f"target_s=40 target_ratio=1.5"
    )


if __name__ == "__main__":
    main()
