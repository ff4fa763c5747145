"""Real-size xforge models with random weights: Qwen2.5-VL-3B-Instruct's architecture + SAM2.1 Hiera-L.

No download: the backbone is built from its config (the numbers of the published ``config.json``), SAM2
from the ``sam2`` package's own config with no checkpoint, and the tokenizer is the tiny test one (its few
hundred ids all fall inside the real 151,936-row embedding). Weights are random, so speed and memory are
real and answers are not. Used by ``scripts/bench_model.py``, ``scripts/gpu_smoke.py`` (on the GPU) and
``scripts/estimate_memory.py`` (on the meta device: shapes only, no memory).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from xforge.model.checkpoint import BACKBONE_DIR
from xforge.model.config import Sam2Config, XForgeConfig

# Qwen/Qwen2.5-VL-3B-Instruct's config.json.
QWEN2_5_VL_3B = dict(
    text_config=dict(
        hidden_size=2048,
        intermediate_size=11008,
        num_hidden_layers=36,
        num_attention_heads=16,
        num_key_value_heads=2,
        vocab_size=151936,
        max_position_embeddings=128000,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
        tie_word_embeddings=True,
    ),
    vision_config=dict(
        depth=32,
        hidden_size=1280,
        intermediate_size=3420,
        num_heads=16,
        out_hidden_size=2048,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=112,
        fullatt_block_indexes=[7, 15, 23, 31],
        tokens_per_second=2,
    ),
    tie_word_embeddings=True,
)
SAM2_LARGE_CONFIG = "configs/sam2.1/sam2.1_hiera_l.yaml"
SAM2_IMAGE_SIZE = 1024


def real_size_backbone_config(layers: int | None = None):
    """``(Qwen2_5_VLConfig, XForgeProcessor)`` of the real architecture with the family's image-size limits.

    ``layers``: a shallower stack of the same widths (quick checks of a code path).
    """
    from xforge.model.processing import XForgeProcessor
    from xforge.model.registry import get_family
    from xforge.testing.families import qwen2_5_vl_config_and_processor

    architecture = QWEN2_5_VL_3B
    if layers is not None:  # set before the config exists: it derives per-layer settings from the depth
        architecture = {
            **architecture,
            "text_config": {**architecture["text_config"], "num_hidden_layers": layers},
            "vision_config": {
                **architecture["vision_config"],
                "depth": layers,
                "fullatt_block_indexes": [layers - 1],
            },
        }
    spec = get_family("qwen2_5_vl")
    config, backbone_processor = qwen2_5_vl_config_and_processor(
        architecture, image_processor_kwargs=spec.image_processor_kwargs
    )
    processor = XForgeProcessor(backbone_processor, family="qwen2_5_vl", sam2_image_size=SAM2_IMAGE_SIZE)
    return config, processor


def real_size_backbone(config, dtype: torch.dtype | None = None):
    """A random Qwen2.5-VL of ``config`` on the current default device (``with torch.device(...)``)."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration(config)
    return model if dtype is None else model.to(dtype)


def real_size_config(**overrides) -> XForgeConfig:
    """XForgeConfig of the real run (stage-1 YAML's ``model.build``) with no weights to download."""
    config = XForgeConfig(
        family="qwen2_5_vl",
        base_model="Qwen/Qwen2.5-VL-3B-Instruct",
        sam2=Sam2Config(config=SAM2_LARGE_CONFIG, checkpoint=None, image_size=SAM2_IMAGE_SIZE),
    )
    return dataclasses.replace(config, **overrides)


def build_real_size_model(
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    *,
    layers: int | None = None,
    sam2_config: str = SAM2_LARGE_CONFIG,
    **config_overrides,
):
    """``(XForgeModel, XForgeProcessor)`` of the real architecture with random weights, every parameter
    frozen. ``device="meta"`` gives shapes without memory (counting a 4-billion-parameter model on a
    laptop); SAM2 (0.2 B parameters) is built on the CPU first either way, as sam2's constructors read
    values out of tensors."""
    from xforge.model.modeling import XForgeModel

    backbone_config, processor = real_size_backbone_config(layers)
    sam2 = Sam2Config(config=sam2_config, checkpoint=None, image_size=SAM2_IMAGE_SIZE)
    config = real_size_config(sam2=sam2, **config_overrides)
    with torch.device(device or "cpu"):
        backbone = real_size_backbone(backbone_config, dtype)
    model = XForgeModel.build(config, processor, backbone=backbone, torch_dtype=dtype)
    return model.to(device or "cpu"), processor


def build_real_size_checkpoint(
    out_dir: str | os.PathLike,
    dtype: torch.dtype = torch.bfloat16,
    *,
    layers: int | None = None,
    seed: int = 0,
    **config_overrides,
) -> Path:
    """A complete checkpoint folder of the real architecture (random weights, backbone in ``backbone/``),
    what stage 1 would hand to stage 2; ``XForgeModel.from_pretrained(out_dir)`` loads it."""
    from xforge.model.modeling import XForgeModel

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    backbone_config, processor = real_size_backbone_config(layers)
    backbone = real_size_backbone(backbone_config, dtype)
    backbone.save_pretrained(out / BACKBONE_DIR)
    processor.hf_processor.save_pretrained(out / BACKBONE_DIR)
    config = real_size_config(base_model=BACKBONE_DIR, **config_overrides)
    model = XForgeModel.build(config, processor, root=out, backbone=backbone, torch_dtype=dtype)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
