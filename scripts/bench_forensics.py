"""Speed of the classical forensic engine on one core: seconds per megapixel.

Runs ``ForensicEngine.analyze`` on photo-like synthetic images (the scenes of ``eval_forensics.py``, one
copy-move forgery among them) at a few sizes, with OpenCV and BLAS limited to one thread. Reports wall time
and process CPU time per megapixel (CPU time is the fairer figure on a shared machine). Images above the
engine's maximum working resolution are analysed downscaled, so their cost per input megapixel drops; the
figure of merit is ``s_per_mp`` at and below that resolution. The last line is ``name=value`` pairs.
"""

from __future__ import annotations

import os

# One core: set before numpy/OpenCV start their thread pools.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from xforge.forensics import MAX_WORKING_PIXELS, ForensicEngine  # noqa: E402


def _scene_module():
    spec = importlib.util.spec_from_file_location(
        "eval_forensics", Path(__file__).with_name("eval_forensics.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="480x640,768x1024,1080x1440", help="HxW list")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    ev = _scene_module()
    engine = ForensicEngine()
    figures: dict[str, float] = {}
    wall_total = cpu_total = mp_total = 0.0
    for size in args.sizes.split(","):
        h, w = (int(v) for v in size.split("x"))
        rng = np.random.default_rng(h * w)
        img = ev.camera(ev.make_scene(rng, h, w, 2.0), rng, 2.0)
        engine.analyze(img[:64, :64])  # warm-up (imports, OpenCV init)
        walls, cpus = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            engine.analyze(img)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        mp = h * w / 1e6
        wall, cpu = min(walls), min(cpus)
        print(
            f"{h}x{w} ({mp:.2f} MP): wall {wall:.2f} s ({wall / mp:.2f} s/MP), cpu {cpu:.2f} s ({cpu / mp:.2f} s/MP)"
        )
        figures[f"s_per_mp_{h}x{w}"] = cpu / mp
        if h * w <= MAX_WORKING_PIXELS:
            wall_total, cpu_total, mp_total = wall_total + wall, cpu_total + cpu, mp_total + mp
    figures["s_per_mp"] = cpu_total / mp_total if mp_total else float("nan")
    figures["wall_s_per_mp"] = wall_total / mp_total if mp_total else float("nan")
    figures["max_working_mp"] = MAX_WORKING_PIXELS / 1e6
    print(" ".join(f"{k}={v:.3f}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
