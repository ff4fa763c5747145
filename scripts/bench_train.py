"""Training throughput: the data pipeline alone, then full training steps of the tiny model.

    python scripts/bench_train.py [--out runs/bench_train] [--samples 64] [--steps 10]

Data pipeline = what a DataLoader worker does per sample: read the image and mask from disk
(``ConversationDataset``), then ``XForgeProcessor.collate`` (chat template + tokenisation, the backbone's
image processor, SAM2's resize to ``--sam2-size`` (1024, SAM2's input) + normalisation, target masks). It
runs in one process with one torch thread, so samples/s is per core (the target is >= 15). Training steps =
forward + backward + AdamW of stage 2's trainable modules on the tiny model (LoRA, projector, mask decoder,
forensic stream, score head), batch ``--batch-size``. Peak memory is the process's peak RSS after each part
(plus the GPU's peak allocation when training runs on a GPU).

The last line holds the figures as name=value pairs.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/bench_train")
    p.add_argument("--samples", type=int, default=64, help="samples through the data pipeline")
    p.add_argument("--image-size", type=int, default=512, help="longer side of the synthetic images")
    p.add_argument("--sam2-size", type=int, default=1024)
    p.add_argument("--steps", type=int, default=10, help="timed training steps (after 2 warm-up steps)")
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    from train_stages.data import ConversationDataset
    from train_stages.tiny import prepare_tiny_run
    from xforge.model import XForgeModel, XForgeProcessor

    run = prepare_tiny_run(
        Path(args.out),
        n_train=args.samples,
        n_valid=8,
        n_heldout=4,
        image_size=args.image_size,
        pretrain_steps=0,
    )
    dataset = ConversationDataset(run.data / "stage2_train.jsonl", run.data)
    tiny = XForgeProcessor.from_pretrained(run.base)
    processor = XForgeProcessor(tiny.backbone, family=tiny.family, sam2_image_size=args.sam2_size)

    processor.collate([dataset[0]])  # warm-up (template compilation, first allocations)
    start = time.perf_counter()
    for i in range(len(dataset)):
        batch = processor.collate([dataset[i]])
    data_s = time.perf_counter() - start
    assert batch["sam_pixel_values"].shape[-1] == args.sam2_size
    data_rate = len(dataset) / data_s
    data_rss = peak_rss_mb()
    print(f"data pipeline: {len(dataset)} samples in {data_s:.2f}s, {data_rate:.1f} samples/s on 1 core")

    torch.set_num_threads(max(1, torch.get_num_threads() if args.device != "cpu" else 2))
    model = XForgeModel.from_pretrained(run.base, device=args.device)
    model.set_trainable(["lora", "new_tokens", "projector", "mask_decoder", "forensic_stream", "score_head"])
    model.train()
    optimizer = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=1e-4)
    examples = [dataset[i % len(dataset)] for i in range(args.batch_size * (args.steps + 2))]
    batches = [
        tiny.collate(examples[i : i + args.batch_size]) for i in range(0, len(examples), args.batch_size)
    ]

    def step(batch) -> None:
        batch = {k: v.to(args.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        batch["target_masks"] = [m.to(args.device) for m in batch["target_masks"]]
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    for batch in batches[:2]:
        step(batch)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for batch in batches[2:]:
        step(batch)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    train_s = time.perf_counter() - start
    step_s = train_s / args.steps
    train_rate = args.steps * args.batch_size / train_s
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if args.device.startswith("cuda") else 0.0
    print(f"training: {args.steps} steps of {args.batch_size} in {train_s:.2f}s on {args.device}")
    print(
        f"data_samples_per_s_per_core={data_rate:.1f} data_peak_rss_mb={data_rss:.0f} sam2_size={args.sam2_size} "
        f"image_size={args.image_size} train_step_s={step_s:.3f} train_samples_per_s={train_rate:.2f} "
        f"train_peak_rss_mb={peak_rss_mb():.0f} train_peak_gpu_mb={gpu_mb:.0f} device={args.device}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
