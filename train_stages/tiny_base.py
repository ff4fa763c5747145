"""The tiny run's base VLM: a tiny random backbone taught to speak, standing in for a downloaded one.

A real run starts stage 1 from ``Qwen/Qwen2.5-VL-3B-Instruct``, a model that already writes fluent answers.
The tiny backbone of ``xforge.testing`` starts from random weights, so it first gets a short pre-training:
its language *and* vision weights, in full, on the text of the tiny run's own stage-2 and stage-3 training
conversations with ``<SEG>`` removed (the base, like Qwen, has never seen that token). Stages 1-3 then adapt
it exactly as they would adapt Qwen: LoRA, the new ``<SEG>`` rows, the projector, the mask decoder, the
forensic stream and the score head. The pre-training is text loss only, so the base learns the answer
grammar and whatever its vision tower can tell from a 112-pixel view; it never sees a mask.
"""

from __future__ import annotations

import copy
import logging
import math
import random
from pathlib import Path

import torch
from tqdm import tqdm

from train_stages.data import ConversationDataset
from xforge.data.conversations import SEG_TOKEN

logger = logging.getLogger(__name__)


def _without_seg(example: dict) -> dict:
    messages = []
    for message in example["messages"]:
        content = message["content"]
        if isinstance(content, str):
            content = content.replace(f" {SEG_TOKEN}", "").replace(SEG_TOKEN, "")
        else:
            content = [
                {**c, "text": c["text"].replace(f" {SEG_TOKEN}", "").replace(SEG_TOKEN, "")}
                if c.get("type") == "text"
                else c
                for c in content
            ]
        messages.append({**message, "content": content})
    return {"messages": messages, "image": example["image"], "masks": [], "label": None}


def pretrain_backbone(
    hf_model: torch.nn.Module,
    backbone_processor,
    family: str,
    conversations: list[str | Path],
    root: str | Path,
    *,
    steps: int = 600,
    batch_size: int = 8,
    lr: float = 2e-3,
    seed: int = 0,
) -> list[float]:
    """Train every weight of ``hf_model`` on the answers of ``conversations`` (text loss); returns the losses.

    ``backbone_processor`` is left untouched (collation uses a copy with ``<SEG>`` added).
    """
    from xforge.model.processing import XForgeProcessor

    processor = XForgeProcessor(copy.deepcopy(backbone_processor), family=family, sam2_image_size=128)
    examples = [ex for path in conversations for ex in _dataset_examples(path, root)]
    rng = random.Random(seed)
    torch.manual_seed(seed)
    hf_model.train()
    params = [p for p in hf_model.parameters()]
    for p in params:
        p.requires_grad_(True)
    optim = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim,
        lambda s: (
            min(1.0, (s + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
        ),
    )
    losses = []
    order: list[int] = []
    bar = tqdm(range(steps), desc="tiny base pre-training", unit="step")
    for _ in bar:
        if len(order) < batch_size:
            order += rng.sample(range(len(examples)), len(examples))
        batch = [_without_seg(examples[order.pop()]) for _ in range(batch_size)]
        inputs = processor.collate(batch)
        xforge_only = ("sam_pixel_values", "target_masks", "original_sizes", "is_tampered", "is_synthetic")
        out = hf_model(**{k: v for k, v in inputs.items() if k not in xforge_only})
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        sched.step()
        optim.zero_grad(set_to_none=True)
        losses.append(float(out.loss.detach()))
        bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
    hf_model.eval()
    for p in params:
        p.requires_grad_(False)
    return losses


def _dataset_examples(path: str | Path, root: str | Path) -> list[dict]:
    data = ConversationDataset(path, root)
    return [data[i] for i in range(len(data))]
