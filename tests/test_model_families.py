"""Every supported backbone family (tiny models): losses, gradient groups, generation, save -> load.

qwen2_5_vl with untied embeddings is covered in depth by test_model.py; here the other families and the
tied-embedding variant (Qwen2.5-VL-3B ties its LM head to the embeddings; trained with gradient
checkpointing, as in the stage configs) run the same checks.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import authentic_example, forged_image, free_answer, tampered_example

from xforge.data.conversations import SEG_TOKEN
from xforge.model import XForgeModel, XForgeProcessor
from xforge.model.modeling import DEFAULT_TRAINABLE
from xforge.testing import build_tiny_checkpoint


@pytest.mark.parametrize(
    ("family", "tied", "checkpointing"),
    [("qwen2_vl", False, False), ("llava", False, False), ("qwen2_5_vl", True, True)],
)
def test_family_end_to_end(family, tied, checkpointing, tmp_path):
    path = build_tiny_checkpoint(tmp_path / "src", family=family, tie_word_embeddings=tied)
    model = XForgeModel.from_pretrained(path)
    processor = XForgeProcessor.from_pretrained(path)
    assert model.family.name == family

    batch = processor.collate([tampered_example(64, 80, n_seg=2), authentic_example(48, 40)])
    model.set_trainable(DEFAULT_TRAINABLE)
    if checkpointing:
        model.gradient_checkpointing_enable()
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for _ in range(2):  # zero-initialised LoRA B / forensic projection: the second step reaches the rest
        optimizer.zero_grad()
        out = model(**batch)
        out.loss.backward()
        optimizer.step()
    assert all(v is not None for v in (out.text_loss, out.mask_bce, out.mask_dice, out.score_loss))
    assert [tuple(m.shape) for m in out.pred_masks] == [(2, 64, 80), (0, 48, 40)]
    silent = [
        n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())
    ]
    leaked = [n for n, p in model.named_parameters() if not p.requires_grad and p.grad is not None]
    assert silent == [] and leaked == []
    assert set(model.trainable_groups()) == set(DEFAULT_TRAINABLE)

    model.eval()
    image, _ = forged_image(40, 52)
    gen = free_answer(model, processor, image)
    assert gen.text.count(SEG_TOKEN) == 2 == len(gen.masks)
    assert all(m.shape == (40, 52) for m in gen.masks)

    model.save_pretrained(tmp_path / "saved")
    processor.save_pretrained(tmp_path / "saved")
    again = XForgeModel.from_pretrained(tmp_path / "saved")
    gen2 = free_answer(again, XForgeProcessor.from_pretrained(tmp_path / "saved"), image)
    assert gen2.text == gen.text and gen2.score == gen.score
    np.testing.assert_array_equal(gen2.masks[1], gen.masks[1])
