"""Model and processor for a stage: loaded from the previous stage's folder, or built from base model ids."""

from __future__ import annotations

import dataclasses
import logging

import torch

from train_stages.config import ConfigError, TrainConfig
from xforge.model import XForgeConfig, XForgeModel, XForgeProcessor

logger = logging.getLogger(__name__)


def _dtype(name: str | None) -> torch.dtype | None:
    if name is None:
        return None
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ConfigError(f"model.torch_dtype: {name!r} is not a torch dtype (e.g. bfloat16, float32)")
    return dtype


def upcast_trainable(model: torch.nn.Module) -> int:
    """Put every trainable floating-point parameter in float32; frozen ones keep their dtype.

    A model loaded in bf16 would otherwise be stepped in bf16: AdamW's updates (about ``lr`` per element)
    are far below bf16's resolution (2^-8 relative) and round away. Training then runs under bf16 autocast
    (``run.mixed_precision``), the scheme peft (``autocast_adapter_dtype``) and transformers' Trainer use.
    Returns the number of parameters cast.
    """
    cast = 0
    for param in model.parameters():
        if param.requires_grad and param.is_floating_point() and param.dtype != torch.float32:
            param.data = param.data.float()
            cast += param.numel()
    return cast


def setup_model(cfg: TrainConfig) -> tuple[XForgeModel, XForgeProcessor]:
    """The stage's starting model with exactly ``cfg.model.trainable`` unfrozen (in float32, see
    :func:`upcast_trainable`), and its processor."""
    dtype = _dtype(cfg.model.torch_dtype)
    if cfg.model.init_from is not None:
        model = XForgeModel.from_pretrained(cfg.model.init_from, torch_dtype=dtype)
        processor = XForgeProcessor.from_pretrained(cfg.model.init_from)
    else:
        xcfg = dataclasses.replace(cfg.model.build or XForgeConfig())
        processor = XForgeProcessor.build(
            xcfg.base_model,
            family=xcfg.family,
            sam2_image_size=xcfg.sam2.image_size,
            seg_token=xcfg.seg_token,
        )
        model = XForgeModel.build(xcfg, processor, torch_dtype=dtype)
    # The stage's loss settings (ModelConfig's docstring says why they are not inherited).
    model.config.loss_weights = dataclasses.replace(cfg.model.loss_weights)
    model.config.loss = dataclasses.replace(cfg.model.loss)
    model.set_trainable(cfg.model.trainable)
    upcast_trainable(model)
    if cfg.model.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    logger.info(
        "trainable parameters: %d (%s)",
        model.num_trainable_parameters(),
        ", ".join(f"{k}={v}" for k, v in model.trainable_groups().items()),
    )
    return model, processor
