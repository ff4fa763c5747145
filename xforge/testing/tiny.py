"""``build_tiny_checkpoint``: a complete xforge checkpoint folder with tiny random weights.

The backbone (a tiny model of the chosen family) is saved to ``backbone/`` inside the folder and named by a
relative ``base_model``; SAM2 is the official ``sam2.1_hiera_t`` config shrunk by hydra overrides (16-dim
Hiera, 32-dim decoder, 128 px input). Everything goes through ``XForgeModel.build`` / ``save_pretrained``,
so ``XForgeModel.from_pretrained(path)`` exercises the real loading path.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from xforge.model.checkpoint import BACKBONE_DIR
from xforge.model.config import ForensicStreamConfig, LoraSettings, Sam2Config, XForgeConfig
from xforge.testing.families import tiny_backbone

TINY_SAM2_CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
TINY_SAM2_IMAGE_SIZE = 128
TINY_SAM2_OVERRIDES = [
    "++model.image_encoder.trunk.embed_dim=16",
    "++model.image_encoder.trunk.num_heads=1",
    "++model.image_encoder.trunk.stages=[1,1,2,1]",
    # Global attention must not fall on a pooling block (the first block of a stage).
    "++model.image_encoder.trunk.global_att_blocks=[3]",
    "++model.image_encoder.trunk.window_spec=[8,4,4,2]",
    "++model.image_encoder.neck.d_model=32",
    "++model.image_encoder.neck.backbone_channel_list=[128,64,32,16]",
    "++model.image_encoder.neck.position_encoding.num_pos_feats=32",
    "++model.memory_attention.num_layers=0",
]


def tiny_config(
    family: str = "qwen2_5_vl", *, forensic_stream: bool = True, forensic_channels: int = 8, **overrides
) -> XForgeConfig:
    """XForgeConfig of a tiny model whose backbone lives in the checkpoint's ``backbone/`` folder;
    ``overrides`` replace top-level fields (e.g. ``sam2=Sam2Config(...)``, ``score_from_image=True``)."""
    config = XForgeConfig(
        family=family,
        base_model=BACKBONE_DIR,
        sam2=Sam2Config(
            config=TINY_SAM2_CONFIG,
            checkpoint=None,
            overrides=list(TINY_SAM2_OVERRIDES),
            image_size=TINY_SAM2_IMAGE_SIZE,
        ),
        lora=LoraSettings(r=4, alpha=8, dropout=0.0),
        forensic_stream=ForensicStreamConfig(enabled=forensic_stream, channels=forensic_channels),
    )
    return dataclasses.replace(config, **overrides)


def build_tiny_checkpoint(
    out_dir: str | os.PathLike,
    family: str = "qwen2_5_vl",
    forensic_stream: bool = True,
    seed: int = 0,
    tie_word_embeddings: bool = False,
    backbone: tuple | None = None,
    **config_overrides,
) -> Path:
    """Save a tiny random xforge model + processor of ``family`` into ``out_dir``; returns the folder.

    ``backbone``: ``(model, processor)`` of the family to use instead of fresh random ones (the tiny run's
    pre-trained base, ``train_stages.tiny_base``). ``config_overrides`` go to :func:`tiny_config` (any
    XForgeConfig field).
    """
    from xforge.model.modeling import XForgeModel
    from xforge.model.processing import XForgeProcessor

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if backbone is None:
        backbone = tiny_backbone(family, seed=seed, tie_word_embeddings=tie_word_embeddings)
    hf_model, backbone_processor = backbone
    hf_model.save_pretrained(out / BACKBONE_DIR)
    backbone_processor.save_pretrained(out / BACKBONE_DIR)
    config = tiny_config(family, forensic_stream=forensic_stream, **config_overrides)
    processor = XForgeProcessor(
        backbone_processor, family=family, sam2_image_size=config.sam2.image_size, seg_token=config.seg_token
    )
    torch.manual_seed(seed)
    model = XForgeModel.build(config, processor, root=out, backbone=hf_model)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
