"""Trainable groups: which parameters of an :class:`~xforge.model.modeling.XForgeModel` a stage trains.

A group is a name a training config lists (``model.trainable``) and per-group learning rates use
(``optim.lr_multipliers``); :func:`group_of` maps a parameter name to its group. Everything outside the
groups (the base LLM, the vision tower, SAM2's image encoder, the rest of the embedding matrix) stays frozen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from torch import nn

TRAINABLE_GROUPS = (
    "lora",
    "new_tokens",
    "projector",
    "mask_decoder",
    "prompt_encoder",
    "forensic_stream",
    "score_head",
)
DEFAULT_TRAINABLE = ("lora", "new_tokens", "projector", "mask_decoder", "forensic_stream", "score_head")

# Parts of SAM2's mask decoder that never affect its single-mask output (xforge asks for one mask per
# <SEG>): the IoU and object-score heads and the multi-mask hypernetworks. They stay frozen so that every
# trainable parameter gets a gradient (DDP/DeepSpeed require it) and optimiser state is not wasted.
_DECODER_UNUSED = re.compile(
    r"sam2\.mask_decoder\.(iou_prediction_head|pred_obj_score_head|output_hypernetworks_mlps\.[1-9])\."
)
_PREFIX_GROUPS = (
    ("projector.", "projector"),
    ("score_head.", "score_head"),
    ("synthetic_head.", "score_head"),  # the detection heads train together
    ("forensic_stream.", "forensic_stream"),
    ("sam2.mask_decoder.", "mask_decoder"),
    # Only the dense "no mask" embedding of SAM2's prompt encoder is used (prompts are not clicks).
    ("sam2.prompt_encoder.no_mask_embed.", "prompt_encoder"),
)


def group_of(name: str) -> str | None:
    """The trainable group (:data:`TRAINABLE_GROUPS`) of a parameter name of the model, or None."""
    if name.startswith("vlm."):
        if "trainable_tokens_" in name:
            return "new_tokens"
        return "lora" if "lora_" in name else None
    if _DECODER_UNUSED.match(name):
        return None
    return next((group for prefix, group in _PREFIX_GROUPS if name.startswith(prefix)), None)


def set_trainable(model: nn.Module, groups: Iterable[str] | None, has_forensic_stream: bool) -> None:
    """Train exactly ``groups``; every other parameter of ``model`` is frozen.

    ``None`` means :data:`DEFAULT_TRAINABLE` (without ``forensic_stream`` when the model has none);
    ``new_tokens`` is the ``<SEG>`` row of the embedding (and of the LM head when untied).
    """
    if groups is None:
        groups = [g for g in DEFAULT_TRAINABLE if g != "forensic_stream" or has_forensic_stream]
    groups = set(groups)
    unknown = groups - set(TRAINABLE_GROUPS)
    if unknown:
        raise ValueError(f"unknown trainable groups {sorted(unknown)}; choose from {TRAINABLE_GROUPS}")
    if "forensic_stream" in groups and not has_forensic_stream:
        raise ValueError("this model has no forensic stream (config.forensic_stream is False)")
    for name, param in model.named_parameters():
        param.requires_grad_(group_of(name) in groups)


def trainable_counts(model: nn.Module) -> dict[str, int]:
    """Trainable parameter count per group (what :func:`set_trainable` left on)."""
    counts: dict[str, int] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            group = group_of(name) or "other"
            counts[group] = counts.get(group, 0) + param.numel()
    return counts
