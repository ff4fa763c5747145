"""One source of truth for the model's settings: the training config embeds the model config's classes, loss
and group names come from one definition, and checkpoints saved with the old flat config still load."""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest

from train_stages import config as train_config
from train_stages.log_window import LOGGED_LOSSES
from xforge.model import loading
from xforge.model.config import (
    ForensicStreamConfig,
    LoraSettings,
    LossOptions,
    LossWeights,
    Sam2Config,
    XForgeConfig,
)
from xforge.model.losses import LOSS_TERMS
from xforge.model.modeling import XForgeOutput
from xforge.model.trainable import TRAINABLE_GROUPS


def _leaves(cls, prefix=""):
    """Dotted paths of every leaf field of a dataclass tree."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        args = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
        sub = args[0]
        if dataclasses.is_dataclass(sub):
            out += _leaves(sub, f"{prefix}{f.name}.")
        else:
            out.append(prefix + f.name)
    return out


def test_training_config_embeds_the_model_config_classes():
    hints = typing.get_type_hints(train_config.ModelConfig)
    assert typing.get_args(hints["build"])[0] is XForgeConfig
    assert hints["loss_weights"] is LossWeights and hints["loss"] is LossOptions
    model_hints = typing.get_type_hints(XForgeConfig)
    assert model_hints["loss_weights"] is LossWeights and model_hints["loss"] is LossOptions
    # Every leaf of the model config is a leaf of the training config's model.build, under the same name.
    train_leaves = set(_leaves(train_config.ModelConfig))
    assert {f"build.{leaf}" for leaf in _leaves(XForgeConfig)} <= train_leaves
    # and the stage-level loss settings are exactly the model's loss settings.
    assert {leaf for leaf in train_leaves if leaf.startswith("loss")} == {
        f"{name}.{leaf}"
        for name, cls in (("loss_weights", LossWeights), ("loss", LossOptions))
        for leaf in _leaves(cls)
    }


def test_loss_and_group_names_have_one_definition():
    assert list(LOSS_TERMS) == [f.name for f in dataclasses.fields(LossWeights)]
    output_fields = {f.name for f in dataclasses.fields(XForgeOutput)}
    assert set(LOSS_TERMS.values()) <= output_fields
    assert LOGGED_LOSSES == ("loss", *LOSS_TERMS.values())
    assert train_config.TRAINABLE_GROUP_NAMES is TRAINABLE_GROUPS


def test_every_model_setting_is_settable_from_the_command_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("stage: 1\ndata: {train: [{conversations: c.jsonl}]}\n")
    cfg = train_config.load_config(
        path,
        [
            "model.build.sam2.image_size=512",
            "model.build.lora.r=4",
            "model.build.forensic_stream.enabled=false",
            "model.loss_weights.contrastive=0.1",
            "model.loss.score_pos_weight=0.25",
        ],
    )
    assert cfg.model.build.sam2 == Sam2Config(image_size=512)
    assert cfg.model.build.lora == LoraSettings(r=4)
    assert cfg.model.build.forensic_stream == ForensicStreamConfig(enabled=False)
    assert cfg.model.loss_weights.contrastive == 0.1 and cfg.model.loss.score_pos_weight == 0.25
    with pytest.raises(train_config.ConfigError, match="model.loss_weights"):
        train_config.load_config(path, ["model.build.loss_weights.score=0"])


def test_old_flat_config_files_still_load(tmp_path):
    flat = {
        "model_type": "xforge",
        "family": "qwen2_5_vl",
        "base_model": "backbone",
        "sam2_config": "configs/sam2.1/sam2.1_hiera_t.yaml",
        "sam2_checkpoint": None,
        "sam2_overrides": ["++a=1"],
        "sam2_image_size": 128,
        "seg_token": "<SEG>",
        "seg_token_id": 7,
        "vocab_size": 9,
        "num_prompt_tokens": 1,
        "projector_hidden_size": None,
        "forensic_stream": True,
        "score_from_image": True,
        "forensic_channels": 16,
        "lora_r": 4,
        "lora_alpha": 8,
        "lora_dropout": 0.0,
        "lora_target_modules": None,
        "text_loss_weight": 1.0,
        "bce_loss_weight": 2.0,
        "dice_loss_weight": 0.5,
        "score_loss_weight": 0.0,
        "score_pos_weight": 0.25,
        "edge_loss_weight": 0.0,
        "edge_width": 3,
        "contrastive_loss_weight": 0.1,
        "contrastive_pixels": 256,
        "contrastive_contour_weight": 4.0,
        "contrastive_temperature": 0.1,
    }
    (tmp_path / "xforge_config.json").write_text(json.dumps(flat))
    cfg = XForgeConfig.from_pretrained(tmp_path)
    assert cfg.sam2 == Sam2Config("configs/sam2.1/sam2.1_hiera_t.yaml", None, ["++a=1"], 128)
    assert cfg.lora == LoraSettings(4, 8, 0.0, None)
    assert cfg.forensic_stream == ForensicStreamConfig(True, 16)
    assert cfg.loss_weights.score == 0.0 and cfg.loss_weights.contrastive == 0.1
    assert cfg.loss.score_pos_weight == 0.25 and cfg.score_from_image
    # Saved again, it is the nested layout and reads back the same.
    cfg.save_pretrained(tmp_path / "again")
    assert "lora_r" not in json.loads((tmp_path / "again" / "xforge_config.json").read_text())
    assert XForgeConfig.from_pretrained(tmp_path / "again") == cfg


def test_load_options_carry_the_placement_settings():
    options = loading.LoadOptions(device="cpu", torch_dtype="bfloat16", trust_remote_code=True)
    assert options.torch_dtype is not None and str(options.torch_dtype) == "torch.bfloat16"
    with pytest.raises(ValueError, match="unknown dtype"):
        loading.LoadOptions(torch_dtype="float7")
    cpu = loading.LoadOptions(device="cpu", torch_dtype="auto").for_inference()
    assert cpu.device == "cpu" and cpu.torch_dtype is None
