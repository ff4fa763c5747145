"""XForgeConfig: everything needed to rebuild an XForgeModel, saved as ``xforge_config.json`` in a checkpoint.

One tree of dataclasses, nested as transformers nests ``vision_config``/``text_config``: :class:`Sam2Config`,
:class:`LoraSettings`, :class:`LossWeights`, :class:`LossOptions` and :class:`ForensicStreamConfig`. The
training config (``train_stages.config.ModelConfig``) embeds these same classes, so no setting is written
twice. Checkpoints saved with the older flat layout (``lora_r``, ``text_loss_weight``, ...) still load.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from xforge.data.conversations import SEG_TOKEN

CONFIG_NAME = "xforge_config.json"
MODEL_TYPE = "xforge"


@dataclass
class Sam2Config:
    """``config`` is a config name inside the ``sam2`` package, ``overrides`` hydra overrides applied to it
    (the tiny SAM2 is the same config, shrunk); ``checkpoint`` is only read when a model is built fresh
    (the official SAM2 weights); a saved xforge checkpoint carries all SAM2 weights itself."""

    config: str = "configs/sam2.1/sam2.1_hiera_l.yaml"
    checkpoint: str | None = "facebook/sam2.1-hiera-large"
    overrides: list[str] = field(default_factory=list)
    image_size: int = 1024


@dataclass
class LoraSettings:
    """LoRA on the language model (peft ``LoraConfig``); ``target_modules`` is a regex, None = the family's."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str | None = None


@dataclass
class LossWeights:
    """Weight of each loss term in the training loss; the names are ``xforge.model.losses.LOSS_TERMS``'s keys.

    Text 1.0, mask BCE 2.0, mask Dice 0.5 (LISA's), detection score 1.0; the edge-aware BCE and the
    contour-aware contrastive loss are off by default.
    """

    text: float = 1.0
    bce: float = 2.0
    dice: float = 0.5
    score: float = 1.0
    edge: float = 0.0
    contrastive: float = 0.0


@dataclass
class LossOptions:
    """Parameters of the loss terms (not their weights)."""

    # Weight of the edited class in the detection BCE (``pos_weight``): n_authentic / n_edited of the training
    # data balances the two classes, so the 0.5 threshold is not pulled towards the majority class.
    score_pos_weight: float = 1.0
    edge_width: int = 3
    contrastive_pixels: int = 256  # pixels drawn per mask
    contrastive_contour_weight: float = 4.0  # extra draw weight of contour-band pixels
    contrastive_temperature: float = 0.1


@dataclass
class ForensicStreamConfig:
    """Constrained + SRM high-pass convolutions on raw pixels, added to SAM2's image embedding."""

    enabled: bool = True
    channels: int = 32


@dataclass
class XForgeConfig:
    """Configuration of an xforge model.

    ``base_model`` names the backbone: a Hub id, an absolute path, or a path relative to the checkpoint
    folder (tiny test checkpoints keep their random backbone in ``backbone/``).
    """

    family: str = "qwen2_5_vl"
    base_model: str = "Qwen/Qwen2.5-VL-3B-Instruct"
    seg_token: str = SEG_TOKEN
    # Filled in by XForgeModel.build once the tokenizer has the new token.
    seg_token_id: int | None = None
    vocab_size: int | None = None
    # SEG projector: last hidden state of each <SEG> -> `num_prompt_tokens` SAM2 sparse prompt tokens.
    num_prompt_tokens: int = 1
    projector_hidden_size: int | None = None
    # Detection score also reads a probe mask decoded from the hidden state before the answer (its max, top-1%
    # mean and mean; trained to be empty on authentic images); off in older checkpoints, which load unchanged.
    score_from_image: bool = False
    # Three verdicts: a second head gives P(generated as a whole | not authentic), so the classes are authentic
    # (1 - score), tampered (score * (1 - that)) and synthetic (score * that). Off in two-way checkpoints, which
    # load unchanged and never answer "synthetic".
    synthetic_head: bool = False
    sam2: Sam2Config = field(default_factory=Sam2Config)
    lora: LoraSettings = field(default_factory=LoraSettings)
    loss_weights: LossWeights = field(default_factory=LossWeights)
    loss: LossOptions = field(default_factory=LossOptions)
    forensic_stream: ForensicStreamConfig = field(default_factory=ForensicStreamConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"model_type": MODEL_TYPE, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> XForgeConfig:
        data = _nest_flat_layout(dict(data))
        model_type = data.pop("model_type", MODEL_TYPE)
        if model_type != MODEL_TYPE:
            raise ValueError(f"not an xforge config (model_type={model_type!r})")
        return _from_mapping(cls, data, "XForgeConfig")

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        path = Path(directory) / CONFIG_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> XForgeConfig:
        path = Path(directory) / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no {CONFIG_NAME} in this folder (not an xforge checkpoint)")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from exc
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from exc


def _from_mapping(cls, data: dict[str, Any], where: str):
    """``cls`` from a mapping, nested dataclass fields from nested mappings; unknown keys are errors."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown {where} fields: {', '.join(unknown)}")
    values = {}
    for name, value in data.items():
        factory = known[name].default_factory
        sub = type(factory()) if factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(sub) and isinstance(value, dict):
            value = _from_mapping(sub, value, f"{where}.{name}")
        values[name] = value
    return cls(**values)


# The flat layout of checkpoints saved before the config was nested: old key -> (section, new key).
_FLAT_KEYS = {
    "sam2_config": ("sam2", "config"),
    "sam2_checkpoint": ("sam2", "checkpoint"),
    "sam2_overrides": ("sam2", "overrides"),
    "sam2_image_size": ("sam2", "image_size"),
    "lora_r": ("lora", "r"),
    "lora_alpha": ("lora", "alpha"),
    "lora_dropout": ("lora", "dropout"),
    "lora_target_modules": ("lora", "target_modules"),
    **{f"{name}_loss_weight": ("loss_weights", name) for name in (f.name for f in fields(LossWeights))},
    **{name: ("loss", name) for name in (f.name for f in fields(LossOptions))},
    "forensic_channels": ("forensic_stream", "channels"),
}


def _nest_flat_layout(data: dict[str, Any]) -> dict[str, Any]:
    """Move old flat keys into their sections (``forensic_stream: true`` becomes ``{enabled: true}``)."""
    if isinstance(data.get("forensic_stream"), bool):
        data["forensic_stream"] = {"enabled": data["forensic_stream"]}
    for old, (section, key) in _FLAT_KEYS.items():
        if old in data:
            data.setdefault(section, {})[key] = data.pop(old)
    return data
