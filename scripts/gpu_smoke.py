"""The first thing to run on a GPU: real-size stage-2 training, plain and DeepSpeed ZeRO-2, then generation.

    python scripts/gpu_smoke.py                   # real size, one GPU (estimated ~25 GB of free disk)
    python scripts/gpu_smoke.py --size tiny       # the same path at tiny size on a CPU (what CI runs)

Real size is Qwen2.5-VL-3B-Instruct's architecture + SAM2.1 Hiera-L with random weights built from their
configs (``xforge.testing.real_size``; no download), saved as the checkpoint stage 1 would hand over. Then,
as a user would, ``accelerate launch train_stages/stage2.py`` with the shipped stage-2 config (bf16 weights,
float32 trainable parameters, bf16 mixed precision, gradient checkpointing) runs ``--steps`` optimizer
steps on synthetic forgeries (``train_stages.tiny`` data) on one device, once with the plain accelerate
config and once under DeepSpeed ZeRO-2, each saving a checkpoint, validating and writing ``final``. Last,
the plain run's ``final`` is loaded and answers once with ``<SEG>`` (forced: the weights are random). Disk, by
our count (not measured): the random backbone saved once (7.5 GB), then one run at a time, its checkpoint
and ``final`` (~17 GB), deleted before the next unless ``--keep``.

Figures (last line, ``name=value``): ``train_samples_per_s`` / ``peak_gb`` of the plain run and
``zero2_train_samples_per_s`` / ``zero2_peak_gb`` (median throughput over the steps after the first; peak
CUDA memory allocated on the GPU, peak resident memory on a CPU), ``generate_s`` (one ``generate`` call,
both image encoders included) and ``mask_s`` (SAM2 image encoding + forensic stream + decoding one mask).
A failed step stops the script with the failing command's output.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from xforge.model.predictor import XForgePredictor

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "train_stages" / "configs"
logger = logging.getLogger("gpu_smoke")

# Per size: the stage-2 config, the accelerate configs of the two modes, and the synthetic data.
SIZES = {
    "real": dict(
        config="stage2_qwen2_5_vl_3b.yaml",
        plain="single_gpu.yaml",
        zero2="deepspeed_zero2.yaml",
        image_size=768,
        num_workers=4,
    ),
    "tiny": dict(
        config="stage2_tiny_cpu.yaml",
        plain="cpu.yaml",
        zero2="cpu_deepspeed_zero2.yaml",
        image_size=64,
        num_workers=0,
    ),
}


def _run(cmd: list[str], timeout: float) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(
            f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-8000:]}"
        )


def one_process_config(name: str, work: Path) -> Path:
    """The shipped accelerate config ``name`` on one process (DeepSpeed's JSON path made absolute)."""
    acc = yaml.safe_load((CONFIGS / "accelerate" / name).read_text())
    acc["num_processes"] = 1
    if "deepspeed_config" in acc:
        ds = acc["deepspeed_config"]
        ds["deepspeed_config_file"] = str(REPO / ds["deepspeed_config_file"])
    path = work / f"accelerate_{name}"
    path.write_text(yaml.safe_dump(acc))
    return path


def train(mode: str, size: dict, base: Path, data: Path, work: Path, args) -> dict[str, float]:
    """One stage-2 run under ``accelerate launch``; its throughput and peak memory from metrics.jsonl."""
    out = work / mode
    sets = [
        f"model.init_from={base}",
        "model.torch_dtype=bfloat16",
        "run.mixed_precision=bf16",
        f"data.train=[{{conversations: {data / 'stage2_train.jsonl'}, root: {data}}}]",
        f"data.val=[{{conversations: {data / 'stage2_valid.jsonl'}, root: {data}}}]",
        "data.sampler=shuffle",
        f"data.num_workers={size['num_workers']}",
        f"optim.batch_size={args.batch_size}",
        "optim.grad_accum=1",
        f"optim.max_steps={args.steps}",
        "optim.warmup_steps=1",
        f"run.output_dir={out}",
        "run.log_every=1",
        f"run.save_every={max(1, args.steps - 1)}",
        f"run.eval_every={args.steps}",
        "run.trackers=[]",
        "run.merge_lora=false",
    ]
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(one_process_config(size[mode], work)),
        str(REPO / "train_stages" / "stage2.py"),
        "--config", str(CONFIGS / size["config"]),
        *[arg for s in sets for arg in ("--set", s)],
    ]  # fmt: skip
    start = time.perf_counter()
    _run(cmd, args.timeout)
    logger.info("%s: trained %d steps in %.0f s", mode, args.steps, time.perf_counter() - start)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "loss" in r]
    if len(steps) != args.steps or not any("val_samples" in r for r in rows):
        raise SystemExit(f"{out / 'metrics.jsonl'}: expected {args.steps} training rows and a validation row")
    if not (out / "final" / "xforge_heads.safetensors").is_file():
        raise SystemExit(f"{out / 'final'}: no saved model")
    speeds = [r["samples_per_s"] for r in steps[1:]] or [steps[0]["samples_per_s"]]
    return {"samples_per_s": statistics.median(speeds), "peak_gb": max(r["peak_mem_gb"] for r in steps)}


def generate_once(final: Path, device: torch.device, image_size: int) -> dict[str, float]:
    """Load ``final`` in bf16 and answer once with ``<SEG>`` forced; time it and one mask on its own."""
    from xforge.model import XForgeModel, XForgeProcessor

    model = XForgeModel.from_pretrained(final, torch_dtype=torch.bfloat16, device=device)
    processor = XForgeProcessor.from_pretrained(final)
    image = np.random.default_rng(0).integers(0, 255, (image_size, image_size, 3), dtype=np.uint8)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Is it edited?"}]}]
    seg_bias = {(processor.seg_token_id,): 100.0}

    def timed(fn):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start, result

    XForgePredictor(model, processor).generate(messages, image=image, max_new_tokens=2)  # warm-up
    generate_s, gen = timed(
        lambda: XForgePredictor(model, processor).generate(
            messages, image=image, max_new_tokens=8, sequence_bias=seg_bias
        )
    )
    if not gen.masks or gen.masks[0].shape != image.shape[:2]:
        raise SystemExit(f"generate gave {len(gen.masks)} masks for {gen.text!r}: expected one per <SEG>")
    hidden = torch.randn(1, model.hf_model.config.get_text_config().hidden_size, device=device)
    index = torch.zeros(1, dtype=torch.long, device=device)
    sam_pixels = processor.sam_image(image).unsqueeze(0).to(device)

    def one_mask():
        with torch.no_grad():
            embedding, high_res = model.encode_sam(sam_pixels)
            return model._decode_masks(embedding, high_res, index, hidden.to(embedding.dtype))

    mask_s, _ = timed(one_mask)
    return {"generate_s": generate_s, "mask_s": mask_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="real")
    parser.add_argument("--steps", type=int, default=5, help="optimizer steps per run (default 5)")
    parser.add_argument("--batch-size", type=int, default=None, help="per step (default: 4 real, 2 tiny)")
    parser.add_argument("--modes", default="plain,zero2", help="comma-separated: plain, zero2")
    parser.add_argument(
        "--workdir", default=None, help="keep checkpoints and data here (default: a temp dir)"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per training run")
    parser.add_argument(
        "--keep", action="store_true", help="keep each run's folder (checkpoint, final, logs)"
    )
    parser.add_argument(
        "--layers",
        type=int,
        default=None,
        help="real size: fewer LLM/vision layers (checks the path on a CPU)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    size = SIZES[args.size]
    args.batch_size = args.batch_size or (4 if args.size == "real" else 2)
    modes = [m for m in args.modes.split(",") if m]
    if not modes or set(modes) - {"plain", "zero2"}:
        parser.error("--modes takes plain and/or zero2")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.size == "real" and device.type != "cuda" and args.layers is None:
        parser.error("--size real needs a CUDA GPU (on a CPU: --size tiny, or --layers 1 to check the path)")

    from train_stages.tiny import prepare_tiny_run

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        n_train = args.batch_size * args.steps
        # The tiny run's synthetic forgeries and conversations (its tiny base is the tiny size's model).
        run = prepare_tiny_run(
            work / "inputs",
            n_train=n_train,
            n_valid=4,
            n_heldout=4,
            image_size=size["image_size"],
            pretrain_steps=0,
        )
        base = run.base
        if args.size == "real":
            from xforge.testing.real_size import build_real_size_checkpoint

            base = work / "real_base"
            if not (base / "xforge_config.json").is_file():
                start = time.perf_counter()
                build_real_size_checkpoint(base, torch.bfloat16, layers=args.layers)
                logger.info("real-size checkpoint built in %.0f s", time.perf_counter() - start)
        figures: dict[str, str] = {"size": args.size, "device": device.type, "steps": str(args.steps)}
        if args.layers is not None:
            figures["layers"] = str(args.layers)
        for i, mode in enumerate(modes):
            result = train(mode, size, base, run.data, work, args)
            prefix = "" if mode == "plain" else f"{mode}_"
            figures[f"{prefix}train_samples_per_s"] = f"{result['samples_per_s']:.3f}"
            figures[f"{prefix}peak_gb"] = f"{result['peak_gb']:.2f}"
            if i == 0:
                timings = generate_once(work / mode / "final", device, size["image_size"])
                figures.update({k: f"{v:.3f}" for k, v in timings.items()})
            if not args.keep:  # one run's checkpoint and final on disk at a time (~17 GB at real size)
                shutil.rmtree(work / mode)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
