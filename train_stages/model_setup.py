"""Model and processor for a stage: loaded from the previous stage's folder, or built from base model ids."""

from __future__ import annotations

import logging
from typing import Any

import torch

from train_stages.config import ConfigError, TrainConfig
from xforge.model import XForgeConfig, XForgeModel, XForgeProcessor
from xforge.model.modeling import LOSS_TERMS

logger = logging.getLogger(__name__)

# TrainConfig.model.lora field -> XForgeConfig field
_LORA_FIELDS = {
    "r": "lora_r",
    "alpha": "lora_alpha",
    "dropout": "lora_dropout",
    "target_modules": "lora_target_modules",
}


def _dtype(name: str | None) -> torch.dtype | None:
    if name is None:
        return None
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ConfigError(f"model.torch_dtype: {name!r} is not a torch dtype (e.g. bfloat16, float32)")
    return dtype


def _lora_settings(cfg: TrainConfig) -> dict[str, Any]:
    lora = cfg.model.lora
    return {} if lora is None else {_LORA_FIELDS[k]: getattr(lora, k) for k in _LORA_FIELDS}


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
        # The LoRA adapter is created with the model (stage 1) and carried from stage to stage.
        for key, value in _lora_settings(cfg).items():
            have = getattr(model.config, key)
            if have != value:
                raise ConfigError(
                    f"model.lora: {key}={value!r} but {cfg.model.init_from} was built with {have!r}; "
                    "LoRA settings are fixed when the model is built (stage 1)"
                )
    else:
        xcfg = XForgeConfig(**{**cfg.model.build, **_lora_settings(cfg)})
        processor = XForgeProcessor.build(
            xcfg.base_model,
            family=xcfg.family,
            sam2_image_size=xcfg.sam2_image_size,
            seg_token=xcfg.seg_token,
        )
        model = XForgeModel.build(xcfg, processor, torch_dtype=dtype)
    # Loss weights are the stage's: what its YAML says, else XForgeConfig's defaults. A checkpoint's own
    # values are not inherited (stage 1's zero score weight must not silence the score loss of stage 2).
    defaults = XForgeConfig()
    for name in LOSS_TERMS:
        weight = cfg.model.loss_weights.get(name, getattr(defaults, f"{name}_loss_weight"))
        setattr(model.config, f"{name}_loss_weight", float(weight))
    if cfg.model.score_pos_weight is not None:
        model.config.score_pos_weight = float(cfg.model.score_pos_weight)
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
