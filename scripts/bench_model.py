"""Benchmark the xforge model: training step time, generation latency by stage, peak memory.

    python scripts/bench_model.py                          # tiny qwen2_5_vl on CPU (seconds)
    python scripts/bench_model.py --size real --device cuda --dtype bfloat16
                                                           # Qwen2.5-VL-3B + SAM2.1-L shapes, random weights

``--size real`` builds the real architectures (Qwen2.5-VL-3B-Instruct's config, SAM2.1 Hiera-L at 1024 px)
with random weights, so no download is needed; speed does not depend on the weights. Figures:

- ``fwd_bwd_s_per_sample``: one training step (forward with all losses + backward, stage-2 trainable
  groups) divided by the batch size;
- ``vision_s``: the VLM vision tower on one image; ``sam2_s``: SAM2 image encoder + forensic stream +
  mask decoding of the generated masks; ``decode_s``: LLM token generation with the cached image features,
  ``decode_ms_per_token`` the same per generated token;
- ``peak_mem_mb``: peak GPU memory allocated (CUDA) or peak resident memory of the process (CPU).

The last line holds every figure as ``name=value`` pairs.
"""

from __future__ import annotations

import argparse
import logging
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from xforge.data.conversations import SEG_TOKEN
from xforge.model import XForgeModel, XForgeProcessor
from xforge.model.modeling import DEFAULT_TRAINABLE
from xforge.model.predictor import XForgePredictor

logger = logging.getLogger("bench_model")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        result = fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def tiny_model(workdir: Path, family: str) -> tuple[XForgeModel, XForgeProcessor]:
    from xforge.testing import build_tiny_checkpoint

    path = build_tiny_checkpoint(workdir / "tiny", family=family)
    return XForgeModel.from_pretrained(path), XForgeProcessor.from_pretrained(path)


def real_model(
    dtype: torch.dtype, device: torch.device, sam2_config: str, layers: int | None = None
) -> tuple[XForgeModel, XForgeProcessor]:
    """Qwen2.5-VL-3B + SAM2.1 Hiera-L shapes with random weights (``xforge.testing.real_size``)."""
    from xforge.testing.real_size import build_real_size_model

    return build_real_size_model(dtype, device, layers=layers, sam2_config=sam2_config)


def example(height: int, width: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    mask = np.zeros((height, width), np.uint8)
    mask[height // 4 : height // 2, width // 4 : width // 2] = 1
    return {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image"}, {"type": "text", "text": "Is this image edited?"}],
            },
            {"role": "assistant", "content": [{"type": "text", "text": f"Yes, the upper left {SEG_TOKEN}."}]},
        ],
        "image": rng.integers(0, 255, (height, width, 3), dtype=np.uint8),
        "masks": [mask],
        "label": "tampered",
    }


def _to(batch: dict, device: torch.device, dtype: torch.dtype) -> dict:
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device)
            if value.is_floating_point() and key in ("pixel_values", "sam_pixel_values"):
                value = value.to(dtype)
        elif isinstance(value, list):
            value = [v.to(device) for v in value]
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=["tiny", "real"], default="tiny")
    parser.add_argument("--family", default="qwen2_5_vl", help="tiny size only (real size is Qwen2.5-VL-3B)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default=None, help="float32 on CPU, bfloat16 on CUDA by default")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--image-size", default=None, help="HxW; default 64x80 tiny, 768x1024 real")
    parser.add_argument("--steps", type=int, default=3, help="timed repeats (median reported)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--sam2-config", default="configs/sam2.1/sam2.1_hiera_l.yaml", help="real size only")
    parser.add_argument("--layers", type=int, default=None, help="real size: fewer LLM/vision layers")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype or ("bfloat16" if device.type == "cuda" else "float32"))
    height, width = (
        int(v) for v in (args.image_size or ("64x80" if args.size == "tiny" else "768x1024")).split("x")
    )
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        if args.size == "tiny":
            model, processor = tiny_model(Path(tmp), args.family)
            model.to(device=device, dtype=dtype)
        else:
            model, processor = real_model(dtype, device, args.sam2_config, args.layers)
    family = model.family.name if args.size == "tiny" else "qwen2_5_vl-3b"
    if args.layers is not None:
        family += f"-{args.layers}layers"
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    # Training step.
    model.set_trainable(DEFAULT_TRAINABLE)
    model.train()
    batch = _to(processor.collate([example(height, width, i) for i in range(args.batch_size)]), device, dtype)

    def train_step():
        out = model(**batch)
        out.loss.backward()
        model.zero_grad(set_to_none=True)
        return out

    train_step()  # warm-up
    step_s, _ = _timed(train_step, device, args.steps)
    logger.info("train step: %.3f s for %d samples", step_s, args.batch_size)

    # Generation, split by stage.
    model.set_trainable([])
    model.eval()
    image = example(height, width, 99)["image"]
    messages = [example(height, width, 99)["messages"][0]]
    with torch.no_grad():
        image_inputs = processor.image_inputs(image).to(device)
        fn = model.image_feature_fn()
        kwargs = {k: v for k, v in image_inputs.items() if k in ("pixel_values", "image_grid_thw")}
        kwargs["pixel_values"] = kwargs["pixel_values"].to(dtype)
        vision_s, _ = _timed(lambda: fn(**kwargs, return_dict=True), device, args.steps)
        sam_pixels = processor.sam_image(image).unsqueeze(0).to(device, dtype)
        sam_encode_s, (embedding, high_res) = _timed(lambda: model.encode_sam(sam_pixels), device, args.steps)
        hidden = torch.randn(
            1, model.hf_model.config.get_text_config().hidden_size, device=device, dtype=dtype
        )
        index = torch.zeros(1, dtype=torch.long, device=device)
        mask_s, _ = _timed(
            lambda: model._decode_masks(embedding, high_res, index, hidden), device, args.steps
        )
        features = XForgePredictor(model, processor).encode_image(image)
    # Every step generates (no early EOS with random weights), so tokens/s is comparable run to run.
    gen_kwargs = dict(max_new_tokens=args.max_new_tokens, min_new_tokens=args.max_new_tokens)
    gen_s, gen = _timed(
        lambda: XForgePredictor(model, processor).generate(messages, features=features, **gen_kwargs),
        device,
        1,
    )
    decode_s = max(gen_s - mask_s * len(gen.masks), 0.0)
    tokens = len(gen.token_ids)

    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    figures = {
        "model": family,
        "device": device.type,
        "dtype": str(dtype).removeprefix("torch."),
        "image": f"{height}x{width}",
        "batch": args.batch_size,
        "fwd_bwd_s_per_sample": f"{step_s / args.batch_size:.4f}",
        "vision_s": f"{vision_s:.4f}",
        "sam2_s": f"{sam_encode_s + mask_s:.4f}",
        "sam2_encode_s": f"{sam_encode_s:.4f}",
        "mask_decode_s": f"{mask_s:.4f}",
        "decode_s": f"{decode_s:.4f}",
        "decode_tokens": tokens,
        "decode_ms_per_token": f"{1000 * decode_s / max(tokens, 1):.2f}",
        "peak_mem_mb": f"{peak_mb:.0f}",
    }
    print(" ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
