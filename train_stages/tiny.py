"""Inputs of the tiny CPU run: synthetic forgeries from two disjoint scene pools, conversations, a base VLM.

    python -m train_stages.tiny --out runs/tiny

writes

- ``runs/tiny/data/train``: forgeries of every kind the generator makes (splice, copy-move, removal,
  multi-source), fully generated images (the upsampling-artefact simulator) and authentic images, from procedural scenes of one pool, with the conversations the
  ``stage{1,2,3}_tiny_cpu.yaml`` configs read (``stage{1,2,3}_train.jsonl``, and ``stage2_valid.jsonl``
  for the validation during training: a slice of the same pool that is not trained on);
- ``runs/tiny/data/heldout``: the same kinds from a *second* pool of scenes, rendered from another seed, so
  no background, donor or generator seed is shared with training: what ``scripts/learn_e2e.py`` evaluates;
- ``runs/tiny/pretrained_backbone``: the tiny VLM pre-trained on the training conversations
  (``train_stages.tiny_base``: the stand-in for a downloaded Qwen2.5-VL);
- ``runs/tiny/base``: the checkpoint stage 1 starts from: that backbone, fresh LoRA, projector, mask decoder,
  forensic stream, score head and synthetic head (three verdicts).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from data_builders.stages.build import build_records
from data_builders.synth import KINDS, SynthConfig, generate, list_folder
from data_builders.synth.scene import render_scene
from xforge.data.conversations import SEG_TOKEN, read_conversations, write_conversations
from xforge.data.manifest import read_manifest

logger = logging.getLogger(__name__)

HELDOUT_SEED_OFFSET = 1_000_003  # scene pool and generator seed of the held-out set: disjoint from training


@dataclass
class TinyRun:
    base: Path
    data: Path  # the training pool (with the validation slice)
    heldout: Path


def make_pool(
    out: Path, n_images: int, n_scenes: int, image_size: int, kinds: tuple[str, ...], seed: int
) -> list:
    """Render ``n_scenes`` scenes into ``out/sources`` and forge ``n_images`` samples from them into ``out``."""
    sources = out / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n_scenes):
        Image.fromarray(render_scene(rng, (image_size, image_size))).save(sources / f"scene_{i:04d}.png")
    synth = SynthConfig(kinds=kinds, max_side=image_size, area=(0.06, 0.25), p_resize=0.0, p_jpeg=0.0)
    generate(list_folder(sources), out, n_images, synth, seed=seed)
    return read_manifest(out / "manifest.jsonl")


def conversation_texts(path: Path) -> list[str]:
    """Every text of the conversations in ``path``, ``<SEG>`` removed (the base tokenizer has no such token)."""
    texts = []
    for record in read_conversations(path):
        for message in record.messages:
            content = message["content"]
            parts = [content] if isinstance(content, str) else [c.get("text", "") for c in content]
            texts += [t.replace(SEG_TOKEN, "") for t in parts if t]
    return texts


def write_stage_conversations(folder: Path, splits: dict[str, list], seed: int) -> None:
    roots = {"*": folder}
    for split, stage in (("train", 1), ("train", 2), ("train", 3), ("valid", 2), ("test", 2)):
        if splits.get(split):
            rows, _ = build_records(splits[split], roots, stage, seed=seed)
            write_conversations(folder / f"stage{stage}_{split}.jsonl", rows)


def prepare_tiny_run(
    out: str | Path,
    *,
    n_train: int = 1000,
    n_valid: int = 40,
    n_heldout: int = 200,
    image_size: int = 128,
    kinds: tuple[str, ...] = KINDS,
    forensic_stream: bool = True,
    pretrain_steps: int = 300,
    seed: int = 0,
) -> TinyRun:
    """Build (or reuse) the tiny run's data and base checkpoint under ``out``."""
    from xforge.model.config import CONFIG_NAME
    from xforge.testing import build_tiny_checkpoint

    out = Path(out)
    train, heldout = out / "data" / "train", out / "data" / "heldout"
    scenes = lambda n: max(16, n // 3)  # noqa: E731 - each scene is host or donor of about three samples
    if not (train / "stage2_train.jsonl").is_file():
        records = make_pool(train, n_train + n_valid, scenes(n_train + n_valid), image_size, kinds, seed)
        write_stage_conversations(train, {"train": records[:n_train], "valid": records[n_train:]}, seed)
    if not (heldout / "stage2_test.jsonl").is_file():
        records = make_pool(
            heldout, n_heldout, scenes(n_heldout), image_size, kinds, seed + HELDOUT_SEED_OFFSET
        )
        write_stage_conversations(heldout, {"test": records}, seed)
    base = out / "base"
    if not (base / CONFIG_NAME).is_file():
        family = "qwen2_5_vl"
        backbone = _pretrained_backbone(out / "pretrained_backbone", family, train, pretrain_steps, seed)
        build_tiny_checkpoint(
            base,
            family=family,
            forensic_stream=forensic_stream,
            seed=seed,
            backbone=backbone,
            score_from_image=True,
            synthetic_head=True,
            forensic_channels=32,
        )
    return TinyRun(base=base, data=train, heldout=heldout)


def _pretrained_backbone(folder: Path, family: str, train: Path, steps: int, seed: int):
    """The tiny base VLM (``train_stages.tiny_base``), saved in ``folder`` and reused from there."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from train_stages.tiny_base import pretrain_backbone
    from xforge.testing.families import tiny_backbone

    if (folder / "config.json").is_file():
        return AutoModelForImageTextToText.from_pretrained(folder), AutoProcessor.from_pretrained(folder)
    conversations = [train / f"stage{stage}_train.jsonl" for stage in (1, 2, 3)]
    # Like a real tokenizer, the tiny one is learned on text of the domain: short sequences, fast steps.
    texts = [t for path in conversations for t in conversation_texts(path)]
    hf_model, processor = tiny_backbone(family, seed=seed, texts=texts, vocab_size=2048)
    if steps > 0:
        pretrain_backbone(hf_model, processor, family, conversations[1:], train, steps=steps, seed=seed)
    hf_model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return hf_model, processor


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/tiny", help="folder to write base/ and data/ into")
    p.add_argument("--n-train", type=int, default=1000)
    p.add_argument("--n-valid", type=int, default=40)
    p.add_argument("--n-heldout", type=int, default=200)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--pretrain-steps", type=int, default=300, help="base pre-training steps (0: random base)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    run = prepare_tiny_run(
        args.out,
        n_train=args.n_train,
        n_valid=args.n_valid,
        n_heldout=args.n_heldout,
        image_size=args.image_size,
        pretrain_steps=args.pretrain_steps,
        seed=args.seed,
    )
    logger.info("tiny base: %s; training data: %s; held-out data: %s", run.base, run.data, run.heldout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
