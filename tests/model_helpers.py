"""Example builders shared by the model tests."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import torch

from xforge.data.conversations import SEG_TOKEN

if TYPE_CHECKING:
    from xforge.model.generation import GenerationOutput

QUESTION = "Is this image edited? Where?"


def user_turn(text: str = QUESTION, with_image: bool = True) -> dict:
    content = ([{"type": "image"}] if with_image else []) + [{"type": "text", "text": text}]
    return {"role": "user", "content": content}


def assistant_turn(text: str) -> dict:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def forged_image(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy image whose rectangle has different noise statistics, and that rectangle's mask."""
    rng = np.random.default_rng(seed)
    image = rng.integers(60, 200, (height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), np.uint8)
    mask[height // 4 : height * 5 // 8, width // 4 : width * 3 // 4] = 1
    noisy = image.astype(int) + rng.integers(-50, 50, image.shape)
    image = np.where(mask[..., None] == 1, np.clip(noisy, 0, 255), image).astype(np.uint8)
    return image, mask


def tampered_example(height: int = 64, width: int = 80, n_seg: int = 1, seed: int = 0) -> dict:
    image, mask = forged_image(height, width, seed)
    answer = "Yes. The centre was edited " + " and ".join([SEG_TOKEN] * n_seg) + "."
    return {
        "sample_id": f"test/tampered{seed}",
        "messages": [user_turn(), assistant_turn(answer)],
        "image": image,
        "masks": [mask] * n_seg,
        "label": "tampered",
    }


def authentic_example(height: int = 48, width: int = 40, seed: int = 1) -> dict:
    image = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    return {
        "sample_id": f"test/authentic{seed}",
        "messages": [user_turn(), assistant_turn("No. The image looks authentic.")],
        "image": image,
        "masks": [],
        "label": "authentic",
    }


@contextmanager
def decided(*models, verdict: str = "tampered"):
    """Push the detection heads so every image gets ``verdict``: generation follows the scores
    (``xforge.model.generation``), so a test of the mask path needs a tampered decision."""
    shifts = []
    for m in models:
        shifts.append((m.score_head.mlp[-1].bias, -30.0 if verdict == "authentic" else 30.0))
        if m.synthetic_head is not None:
            shifts.append((m.synthetic_head.mlp[-1].bias, 30.0 if verdict == "synthetic" else -30.0))
    with torch.no_grad():
        for bias, shift in shifts:
            bias += shift
    try:
        yield
    finally:
        with torch.no_grad():
            for bias, shift in shifts:
                bias -= shift


def free_answer(model, processor, image, max_new_tokens: int = 2) -> GenerationOutput:
    """The model's answer with the heads pushed to "tampered" and ``<SEG>`` pushed hard, with no mask
    requirement: the mask path runs for every ``<SEG>`` the language model emits."""
    from xforge.model.predictor import XForgePredictor

    seg_bias = {(processor.seg_token_id,): 100.0}
    with decided(model):
        return XForgePredictor(model, processor).generate(
            [user_turn()],
            image=image,
            max_new_tokens=max_new_tokens,
            sequence_bias=seg_bias,
            require_mask=False,
        )
