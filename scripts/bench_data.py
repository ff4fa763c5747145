"""Benchmark: build a manifest for a generated tree of small real image files; prints records/s last.

    python scripts/bench_data.py                 # 100,000 images, compRAISE layout (authentic JPEGs)
    python scripts/bench_data.py --layout casia2 # tampered JPEGs with PNG masks (two headers per record)

Sizes come from the file headers (Pillow's lazy open), read in worker processes; the figure covers the
whole `xforge data build` path: walking the tree, pairing, reading headers, validating records, writing
the JSONL. Target: >= 10,000 records/s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from data_builders.probe import default_workers
from data_builders.registry import get_adapter
from xforge.data.manifest import write_jsonl


def _encoded(fmt: str, size: int, gray: bool = False) -> bytes:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, (size, size) if gray else (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt)
    return buf.getvalue()


def _cpu_seconds() -> float:
    """CPU time of this process and its reaped worker processes: on a shared machine the wall-clock figure
    depends on the neighbours' load, this one does not."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def make_tree(root: Path, n: int, layout: str, size: int) -> None:
    """Write ``n`` images (and masks for casia2) sharing one encoded byte string per kind."""
    jpeg = _encoded("JPEG", size)
    if layout == "compraise":
        for i in range(n):
            with open(root / f"r{i:08x}t_Q90.jpg", "wb") as f:
                f.write(jpeg)
        return
    mask = _encoded("PNG", size, gray=True)
    tp, gt = root / "CASIA 2.0" / "Tp", root / "CASIA 2 Groundtruth"
    tp.mkdir(parents=True)
    gt.mkdir(parents=True)
    for i in range(n):
        stem = f"Tp_D_NNN_M_N_sec{i:05d}_nat{i:05d}_{i:05d}"
        with open(tp / f"{stem}.jpg", "wb") as f:
            f.write(jpeg)
        with open(gt / f"{stem}_gt.png", "wb") as f:
            f.write(mask)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help="images to generate")
    parser.add_argument("--layout", choices=("compraise", "casia2"), default="compraise")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--workers", type=int, default=None, help="header-reading processes (default: CPUs)")
    parser.add_argument("--dir", type=Path, default=None, help="where to generate (default: a temp folder)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root, out = Path(tmp) / "data", Path(tmp) / "manifest.jsonl"
        root.mkdir()
        t0 = time.perf_counter()
        make_tree(root, args.n, args.layout, args.size)
        gen_s = time.perf_counter() - t0
        print(f"generated {args.n} {args.layout} images in {gen_s:.1f} s", file=sys.stderr)

        cpu0 = _cpu_seconds()
        t0 = time.perf_counter()
        result = get_adapter(args.layout).build(root, workers=args.workers)
        written = write_jsonl(out, result.records)
        build_s = time.perf_counter() - t0
        cpu_s = _cpu_seconds() - cpu0
    if written != args.n or result.skips:
        print(
            f"error: expected {args.n} records, got {written} and {len(result.skips)} skips", file=sys.stderr
        )
        return 1
    workers = args.workers or default_workers()
    print(
        f"layout={args.layout} records={written} workers={workers} cpus={os.cpu_count()} "
        f"build_s={build_s:.2f} cpu_s={cpu_s:.2f} records_per_cpu_s={written / cpu_s:.0f} "
        f"records_per_s={written / build_s:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
