"""The whole model can learn a mask: overfit one tampered sample on CPU until IoU > 0.9."""

from __future__ import annotations

import pytest
import torch
from model_helpers import tampered_example

from xforge.model import XForgeModel, XForgeProcessor

MAX_STEPS = 80


@pytest.mark.slow
def test_overfit_one_tampered_sample(tiny_checkpoint):
    torch.manual_seed(0)
    model = XForgeModel.from_pretrained(tiny_checkpoint)
    processor = XForgeProcessor.from_pretrained(tiny_checkpoint)
    example = tampered_example(64, 80)
    target = torch.from_numpy(example["masks"][0]).bool()
    batch = processor.collate([example])
    # The mask path (stage-1 groups minus the <SEG> embedding row, which would back-propagate through the
    # whole LLM and only slow this CPU test down).
    model.set_trainable(["projector", "mask_decoder", "forensic_stream"])
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    ious = []
    for _ in range(MAX_STEPS):
        out = model(**batch)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        pred = out.pred_masks[0][0].detach() > 0
        ious.append(((pred & target).sum() / (pred | target).sum().clamp_min(1)).item())
        if ious[-1] > 0.9:
            break
    assert max(ious) > 0.9, f"IoU after {len(ious)} steps: {ious[-5:]}"
