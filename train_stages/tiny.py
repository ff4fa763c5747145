"""Inputs of the tiny CPU run: a tiny random checkpoint, synthetic forgeries and conversations per stage.

    python -m train_stages.tiny --out runs/tiny

writes ``runs/tiny/base`` (``xforge.testing.build_tiny_checkpoint``), ``runs/tiny/data`` (procedural scenes
forged by the synthetic generator, ``data_builders.synth``) and, in ``runs/tiny/data``, the conversations the
``stage{1,2,3}_tiny_cpu.yaml`` configs read: ``stage{1,2,3}_train.jsonl`` and ``stage2_valid.jsonl``, built
by the stage-data builders (``data_builders.stages``, as ``xforge data convos`` does).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from data_builders.stages.build import build_records
from data_builders.synth import SynthConfig, generate, list_folder
from data_builders.synth.scene import render_scene
from xforge.data.conversations import write_conversations
from xforge.data.manifest import read_manifest

logger = logging.getLogger(__name__)


@dataclass
class TinyRun:
    base: Path
    data: Path


def prepare_tiny_run(
    out: str | Path,
    *,
    n_train: int = 48,
    n_valid: int = 16,
    image_size: int = 128,
    kinds: tuple[str, ...] = ("splice", "authentic"),
    forensic_stream: bool = True,
    seed: int = 0,
) -> TinyRun:
    """Build (or reuse) the tiny checkpoint and data under ``out``."""
    from xforge.model.config import CONFIG_NAME
    from xforge.testing import build_tiny_checkpoint

    out = Path(out)
    base = out / "base"
    if not (base / CONFIG_NAME).is_file():
        build_tiny_checkpoint(base, forensic_stream=forensic_stream, seed=seed)
    data = out / "data"
    if not (data / "stage2_valid.jsonl").is_file():
        sources = out / "sources"
        sources.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        for i in range(max(8, (n_train + n_valid) // 2)):
            Image.fromarray(render_scene(rng, (image_size, image_size))).save(sources / f"scene_{i:04d}.png")
        synth = SynthConfig(kinds=kinds, max_side=image_size, area=(0.08, 0.25), p_resize=0.0, p_jpeg=0.0)
        generate(list_folder(sources), data, n_train + n_valid, synth, seed=seed)
        records = read_manifest(data / "manifest.jsonl")
        roots = {"*": data}
        splits = {"train": records[:n_train], "valid": records[n_train:]}
        for split, stage in (("train", 1), ("train", 2), ("train", 3), ("valid", 2)):
            rows, _ = build_records(splits[split], roots, stage, seed=seed)
            write_conversations(data / f"stage{stage}_{split}.jsonl", rows)
    return TinyRun(base=base, data=data)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/tiny", help="folder to write base/ and data/ into")
    p.add_argument("--n-train", type=int, default=48)
    p.add_argument("--n-valid", type=int, default=16)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    run = prepare_tiny_run(
        args.out, n_train=args.n_train, n_valid=args.n_valid, image_size=args.image_size, seed=args.seed
    )
    logger.info("tiny checkpoint: %s; data and conversations: %s", run.base, run.data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
