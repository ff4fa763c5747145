"""Estimate GPU memory per rank for each real training stage under each shipped accelerate/DeepSpeed config.

    python scripts/estimate_memory.py            # Markdown table; the last line sums it up as name=value

Builds the real architecture (Qwen2.5-VL-3B-Instruct + SAM2.1 Hiera-L) on the meta device -- shapes, no
weights, no download -- applies each stage YAML's ``model.trainable`` and reads each accelerate YAML (ranks,
DeepSpeed JSON: ZeRO stage, offload, bucket sizes). Model-state bytes follow the ZeRO paper's accounting
(Rajbhandari et al., "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models", SC 2020,
section 3.1 and figure 1), applied to the trainable parameters, plus the frozen weights; activations are a
rough formula (:func:`activation_bytes`). CUDA context, allocator fragmentation and the transient peaks of
the frozen encoders are not counted: measure the real figure with ``scripts/gpu_smoke.py --size real``.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from train_stages.config import TrainConfig, load_config

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "train_stages" / "configs"
STAGE_CONFIGS = ("stage1_qwen2_5_vl_3b.yaml", "stage2_qwen2_5_vl_3b.yaml", "stage3_qwen2_5_vl_3b.yaml")
GB = 2**30


@dataclass
class Launch:
    """What an accelerate YAML (and its DeepSpeed JSON) says about memory."""

    name: str
    ranks: int
    zero: int | None  # None: no DeepSpeed (one GPU or DDP)
    ddp: bool = False
    offload_optimizer: bool = False
    offload_params: bool = False
    buffer_elements: int = 0  # DeepSpeed communication buckets, in elements


def read_launch(path: Path) -> Launch:
    acc = yaml.safe_load(path.read_text())
    ranks = int(acc.get("num_processes", 1))
    if acc.get("distributed_type") != "DEEPSPEED":
        return Launch(path.stem, ranks, None, ddp=acc.get("distributed_type") == "MULTI_GPU")
    ds = json.loads((REPO / acc["deepspeed_config"]["deepspeed_config_file"]).read_text())
    zero = ds.get("zero_optimization", {})
    stage = int(zero.get("stage", 0))
    if stage == 3:
        buffers = zero.get("reduce_bucket_size", 0) + zero.get("stage3_prefetch_bucket_size", 0)
    else:
        buffers = zero.get("reduce_bucket_size", 0) + zero.get("allgather_bucket_size", 0)
    return Launch(
        path.stem,
        ranks,
        stage,
        offload_optimizer=zero.get("offload_optimizer", {}).get("device", "none") == "cpu",
        offload_params=zero.get("offload_param", {}).get("device", "none") == "cpu",
        buffer_elements=int(buffers),
    )


def model_state_bytes(frozen: int, trainable: int, launch: Launch, largest: int) -> dict[str, float]:
    """Weights, gradients, AdamW state and communication buffers per rank, in bytes.

    Without DeepSpeed (``model_setup.upcast_trainable``): frozen weights bf16 (2 B), trainable float32
    weights, gradients and two Adam moments (4 + 4 + 8 B); DDP adds its float32 gradient buckets (4 B).
    DeepSpeed bf16 (the ZeRO paper's mixed-precision Adam, K = 12: float32 master weights and two moments):
    bf16 weights 2 B and gradients 2 B per trainable parameter, K B of optimizer state; ZeRO-1/2/3 divide
    the optimizer state / + gradients / + weights (frozen ones included at stage 3) by the ranks; CPU
    offload moves the optimizer state (and at stage 3 with ``offload_param`` the weights) off the GPU.
    Buffers: the JSON's bf16 buckets, and at stage 3 the gathered copy of the module in use, counted as
    twice the ``largest`` parameter tensor (the tied embedding / LM head).
    """
    n = launch.ranks
    if launch.zero is None:
        return {
            "weights": 2 * frozen + 4 * trainable,
            "grads": 4 * trainable * (2 if launch.ddp else 1),
            "optimizer": 8 * trainable,
            "buffers": 0,
        }
    k = 12
    weights = 2 * (frozen + trainable)
    grads = 2 * trainable
    optimizer = k * trainable / n
    if launch.zero >= 2:
        grads /= n
    if launch.zero >= 3:
        weights /= n
    if launch.offload_optimizer:
        optimizer = 0
    if launch.offload_params:
        weights = 0
    buffers = 2 * launch.buffer_elements + (2 * 2 * largest if launch.zero >= 3 else 0)
    return {"weights": weights, "grads": grads, "optimizer": optimizer, "buffers": buffers}


def activation_bytes(model, cfg: TrainConfig, text_tokens: int) -> float:
    """Rough saved activations of one optimizer micro-batch (``optim.batch_size`` samples), in bytes.

    Sequence ``S`` = the image tokens of an image at the family's ``max_pixels`` (one token per 28x28
    pixels after Qwen2-VL's 2x2 merge) + ``text_tokens``. Per LLM layer Korthikanti et al. ("Reducing
    Activation Recomputation in Large Transformer Models", MLSys 2023, eq. 1) give 34·S·H bytes in 16-bit
    without the attention-score term (fused SDPA kernels do not store the S² scores); with gradient
    checkpointing only each layer's input (2·S·H) is kept, plus one layer recomputed in backward. The
    logits (S·V) are held in bf16, upcast to float32 for the loss and its log-softmax kept: 10 B each.
    The frozen vision tower and SAM2 image encoder save nothing for backward; the forensic stream's saved
    maps (three per stride-2 stage, 16-bit) are counted, the tiny mask decoder's are not.
    """
    text = model.hf_model.config.get_text_config()
    h, layers, vocab = text.hidden_size, text.num_hidden_layers, text.vocab_size
    max_pixels = model.family.image_processor_kwargs.get("max_pixels", 1024 * 28 * 28)
    seq = max_pixels // (28 * 28) + text_tokens
    if cfg.model.gradient_checkpointing:
        llm = layers * 2 * seq * h + 34 * seq * h
    else:
        llm = layers * 34 * seq * h
    logits = 10 * seq * vocab
    forensic = 0.0
    if model.forensic_stream is not None:
        side = model.sam2.image_size
        channels = model.config.forensic_stream.channels
        forensic = 2 * 12 * side * side + sum(3 * 2 * channels * (side >> k) ** 2 for k in range(1, 5))
    return cfg.optim.batch_size * (llm + logits + forensic)


def count(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return sum(p.numel() for p in model.parameters()) - trainable, trainable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text-tokens", type=int, default=256, help="text tokens per sample (default 256)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from xforge.testing.real_size import build_real_size_model

    model, _ = build_real_size_model(torch.bfloat16, "meta")
    largest = max(p.numel() for p in model.parameters())
    launches = [
        read_launch(p)
        for p in sorted((CONFIGS / "accelerate").glob("*.yaml"))
        if not p.stem.startswith("cpu")
    ]
    print(
        "| stage | accelerate config | ranks | params | trainable | weights | grads | optimizer | buffers "
        "| activations | total GB/rank |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    totals = {}
    for name in STAGE_CONFIGS:
        cfg = load_config(CONFIGS / name)
        model.set_trainable(cfg.model.trainable)
        frozen, trainable = count(model)
        act = activation_bytes(model, cfg, args.text_tokens)
        for launch in launches:
            parts = model_state_bytes(frozen, trainable, launch, largest)
            total = (sum(parts.values()) + act) / GB
            totals[f"stage{cfg.stage}_{launch.name}_gb"] = total
            cells = [f"{parts[k] / GB:.1f}" for k in ("weights", "grads", "optimizer", "buffers")]
            print(
                f"| {cfg.stage} (batch {cfg.optim.batch_size}) | {launch.name} | {launch.ranks} "
                f"| {(frozen + trainable) / 1e9:.2f} B | {trainable / 1e6:.1f} M | "
                + " | ".join(cells)
                + f" | {act / GB:.1f} | {total:.1f} |"
            )
    print(" ".join(f"{k}={v:.1f}" for k, v in totals.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
