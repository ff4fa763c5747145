"""Benchmark the synthetic forgery generator: forged images per second at 512x512 on one core.

Renders procedural 512x512 source photos (JPEG), then runs the generator end to end -- read, edit,
post-process, encode, write -- in one process pinned to one CPU with OpenCV threading off. Target: >= 20/s. ``forged_per_s`` is wall-clock;
``forged_per_cpu_s`` divides by this process's CPU time, which is the one-core rate on a shared machine.
The last line holds the figures as name=value pairs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from data_builders.synth import SourcePool, SynthConfig, generate, list_folder, make_sample
from data_builders.synth.scene import render_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="images to generate")
    parser.add_argument("--sources", type=int, default=24, help="distinct source photos")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--kinds", default="", help="comma list of kinds (default: the generator's default four edits)"
    )
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    kinds = tuple(k for k in args.kinds.split(",") if k)
    cfg = SynthConfig(max_side=0, **({"kinds": kinds} if kinds else {}))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for i in range(args.sources):
            image = render_scene(np.random.default_rng(i), (args.size, args.size))
            cv2.imwrite(str(src / f"{i:03d}.jpg"), image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        entries = list_folder(src)

        start, cpu_start = time.perf_counter(), time.process_time()
        report = generate(entries, Path(tmp) / "out", args.n, cfg, seed=args.seed)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start

        # Per-kind edit + post-processing CPU time (no file I/O), from a warm source cache.
        pool = SourcePool(entries, 0, cache_size=args.sources)
        per_kind = defaultdict(list)
        for i in range(min(args.n, 100)):
            t = time.process_time()
            sample = make_sample(i, pool, cfg, args.seed + 1)
            per_kind[sample.kind].append(time.process_time() - t)

    rate = report["written"] / elapsed
    # CPU time of this single-threaded process: the one-core rate even when other jobs share the machine.
    cpu_rate = report["written"] / cpu
    kinds = " ".join(
        f"cpu_ms_{k.replace('-', '_')}={1000 * np.mean(v):.1f}" for k, v in sorted(per_kind.items())
    )
    print(
        f"generated {report['written']} images at {args.size}x{args.size} in {elapsed:.2f} s ({cpu:.2f} s CPU)"
    )
    print(
        f"forged_per_s={rate:.1f} forged_per_cpu_s={cpu_rate:.1f} n={report['written']} size={args.size} "
        f"cores=1 load1={os.getloadavg()[0]:.1f} target_per_s=20 {kinds}"
    )


if __name__ == "__main__":
    main()
