"""XForgeConfig: everything needed to rebuild an XForgeModel, saved as ``xforge_config.json`` in a checkpoint."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from xforge.data.conversations import SEG_TOKEN

CONFIG_NAME = "xforge_config.json"
MODEL_TYPE = "xforge"


@dataclass
class XForgeConfig:
    """Configuration of an xforge model.

    ``base_model`` names the backbone: a Hub id, an absolute path, or a path relative to the checkpoint
    folder (tiny test checkpoints keep their random backbone in ``backbone/``). ``sam2_config`` is a config
    name inside the ``sam2`` package, ``sam2_overrides`` hydra overrides applied to it (the tiny SAM2 is the
    same config, shrunk); ``sam2_checkpoint`` is only read by :meth:`XForgeModel.build` (a fresh model from
    the official SAM2 weights); a saved xforge checkpoint carries all SAM2 weights itself.
    """

    family: str = "qwen2_5_vl"
    base_model: str = "Qwen/Qwen2.5-VL-3B-Instruct"
    sam2_config: str = "configs/sam2.1/sam2.1_hiera_l.yaml"
    sam2_checkpoint: str | None = "facebook/sam2.1-hiera-large"
    sam2_overrides: list[str] = field(default_factory=list)
    sam2_image_size: int = 1024
    seg_token: str = SEG_TOKEN
    # Filled in by XForgeModel.build once the tokenizer has the new token.
    seg_token_id: int | None = None
    vocab_size: int | None = None
    # SEG projector: last hidden state of each <SEG> -> `num_prompt_tokens` SAM2 sparse prompt tokens.
    num_prompt_tokens: int = 1
    projector_hidden_size: int | None = None
    # Forensic stream (constrained + SRM high-pass convolutions on raw pixels).
    forensic_stream: bool = True
    # Detection score also reads a probe mask decoded from the hidden state before the answer (its max, top-1%
    # mean and mean; trained to be empty on authentic images); off in older checkpoints, which load unchanged.
    score_from_image: bool = False
    forensic_channels: int = 32
    # LoRA on the language model (target regex None -> the family's default).
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: str | None = None
    # Loss weights: text 1.0, mask BCE 2.0, mask Dice 0.5, detection-score BCE, optional edge-aware BCE.
    text_loss_weight: float = 1.0
    bce_loss_weight: float = 2.0
    dice_loss_weight: float = 0.5
    score_loss_weight: float = 1.0
    # Weight of the edited class in the detection BCE (``pos_weight``): n_authentic / n_edited of the training
    # data balances the two classes, so the 0.5 threshold is not pulled towards the majority class.
    score_pos_weight: float = 1.0
    edge_loss_weight: float = 0.0
    edge_width: int = 3
    # Contour-aware contrastive loss on the mask decoder's pixel embeddings (off by default).
    contrastive_loss_weight: float = 0.0
    contrastive_pixels: int = 256  # pixels drawn per mask
    contrastive_contour_weight: float = 4.0  # extra draw weight of contour-band pixels
    contrastive_temperature: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return {"model_type": MODEL_TYPE, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> XForgeConfig:
        data = dict(data)
        model_type = data.pop("model_type", MODEL_TYPE)
        if model_type != MODEL_TYPE:
            raise ValueError(f"not an xforge config (model_type={model_type!r})")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown XForgeConfig fields: {', '.join(unknown)}")
        return cls(**data)

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
        return cls.from_dict(data)
