"""XForgeModel: a VLM with LoRA emits ``<SEG>``; SAM2 turns each ``<SEG>`` hidden state into a mask.

Data flow (docs/ARCHITECTURE.md, "From an image to an answer")::

    image ─┬─ backbone vision tower ──> VLM (+LoRA) ──> text, hidden states
           │                                  │ <SEG> positions (from input_ids)
           │                                  └─> SegProjector ──> SAM2 sparse prompts ─┐
           ├─ SAM2 image encoder (frozen) ─> image embedding + high-res features ───────┼─> SAM2 mask decoder ─> masks
           └─ forensic stream (raw pixels) ─> zero-init projection, added to embedding ┘
    hidden state before the answer ──> ScoreHead ──> P(edited)

Detection score: a small MLP (``score_head``) on the last-layer hidden state of the token just before each
assistant answer (the end of the generation prompt), trained with BCE on the sample's label. At generation
time it reads the same position of the prompt, so the score exists before any text is decoded and does
not depend on sampling; ``score`` is its sigmoid.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xforge.data.images import load_image
from xforge.model.checkpoint import (
    ADAPTER_DIR,
    HEADS_NAME,
    refuse_pickle,
    resolve_checkpoint,
)
from xforge.model.config import XForgeConfig
from xforge.model.forensic_stream import ForensicStream
from xforge.model.generation import GenerationOutput, generate_answers
from xforge.model.losses import bce_loss, contrastive_loss, dice_loss, edge_weights
from xforge.model.registry import get_family, get_submodule
from xforge.model.seg import (
    ScoreHead,
    SegProjector,
    find_seg_positions,
    probe_statistics,
    turn_start_positions,
)
from xforge.model.segmenter import Sam2Segmenter

logger = logging.getLogger(__name__)

TRAINABLE_GROUPS = (
    "lora",
    "new_tokens",
    "projector",
    "mask_decoder",
    "prompt_encoder",
    "forensic_stream",
    "score_head",
)
# Parts of SAM2's mask decoder that never affect its single-mask output (xforge asks for one mask per
# <SEG>): the IoU and object-score heads and the multi-mask hypernetworks. They stay frozen so that every
# trainable parameter gets a gradient (DDP/DeepSpeed require it) and optimiser state is not wasted.
_DECODER_UNUSED = re.compile(
    r"sam2\.mask_decoder\.(iou_prediction_head|pred_obj_score_head|output_hypernetworks_mlps\.[1-9])\."
)
DEFAULT_TRAINABLE = ("lora", "new_tokens", "projector", "mask_decoder", "forensic_stream", "score_head")
# Each loss term: its weight's key (``XForgeConfig.<key>_loss_weight``, the training config's
# ``model.loss_weights``) -> its ``XForgeOutput`` field (what the training log reports).
LOSS_TERMS = {
    "text": "text_loss",
    "bce": "mask_bce",
    "dice": "mask_dice",
    "score": "score_loss",
    "edge": "mask_edge_bce",
    "contrastive": "mask_contrastive",
}


@dataclass
class XForgeOutput:
    """``loss`` is the weighted sum; components that do not apply to a batch are ``None``.

    ``pred_masks``: per sample, mask logits ``(n_i, H_i, W_i)`` at the image's size, one per ``<SEG>``.
    ``score_logits``: ``(B,)`` detection logits (sigmoid -> probability the image is edited).
    """

    loss: torch.Tensor | None = None
    text_loss: torch.Tensor | None = None
    mask_bce: torch.Tensor | None = None
    mask_dice: torch.Tensor | None = None
    mask_edge_bce: torch.Tensor | None = None
    mask_contrastive: torch.Tensor | None = None
    score_loss: torch.Tensor | None = None
    score_logits: torch.Tensor | None = None
    pred_masks: list[torch.Tensor] = field(default_factory=list)
    logits: torch.Tensor | None = None


@dataclass
class ImageFeatures:
    """Everything generation needs from one image, computed once (``XForgeModel.encode_image``)."""

    image: np.ndarray
    vision: Any  # the backbone's get_image_features output, passed as ``mm_encoder_outputs``
    sam_embedding: torch.Tensor  # (1, C, S/16, S/16), forensic stream included
    sam_high_res: list[torch.Tensor]

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[0], self.image.shape[1]


def _resolve_base(base_model: str, root: Path | None) -> str:
    path = Path(base_model)
    if not path.is_absolute() and root is not None and (root / path).is_dir():
        return str(root / path)
    return base_model


def _quantization_config(load_in_4bit: bool, load_in_8bit: bool, dtype: torch.dtype | None):
    if not (load_in_4bit or load_in_8bit):
        return None
    if load_in_4bit and load_in_8bit:
        raise ValueError("choose one of load_in_4bit and load_in_8bit")
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        raise RuntimeError("4/8-bit loading needs bitsandbytes: pip install 'xforge[quant]'")
    if not torch.cuda.is_available():
        raise RuntimeError("4/8-bit loading with bitsandbytes needs a CUDA GPU")
    from transformers import BitsAndBytesConfig

    if load_in_8bit:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=dtype or torch.bfloat16,
        bnb_4bit_use_double_quant=True,
    )


def _load_backbone(base: str, dtype, quantization_config, trust_remote_code: bool):
    from transformers import AutoModelForImageTextToText

    kwargs: dict[str, Any] = dict(use_safetensors=True, trust_remote_code=trust_remote_code)
    if dtype is not None:
        kwargs["dtype"] = dtype
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
        # bitsandbytes places the weights itself; everything on the current GPU.
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    return AutoModelForImageTextToText.from_pretrained(base, **kwargs)


def _trainable_token_targets(hf_model: nn.Module, seg_token_id: int) -> dict[str, list[int]]:
    """peft ``trainable_token_indices``: the <SEG> row of the input embedding and, when the output
    projection is not tied to it, of the LM head too (the model must learn to *emit* <SEG>)."""
    targets = {"embed_tokens": [seg_token_id]}
    text_config = hf_model.config.get_text_config()
    tied = getattr(hf_model.config, "tie_word_embeddings", False) or getattr(
        text_config, "tie_word_embeddings", False
    )
    if not tied:
        targets["lm_head"] = [seg_token_id]
    return targets


class XForgeModel(nn.Module):
    """See the module docstring. Build with :meth:`build` (fresh) or :meth:`from_pretrained` (checkpoint)."""

    def __init__(
        self, config: XForgeConfig, vlm: nn.Module, sam2: Sam2Segmenter, *, root: Path | None = None
    ):
        super().__init__()
        self.config = config
        self.family = get_family(config.family)
        self.vlm = vlm  # peft PeftModel around the transformers model
        self.sam2 = sam2
        hidden = self.hf_model.config.get_text_config().hidden_size
        self.projector = SegProjector(
            hidden, sam2.embed_dim, config.num_prompt_tokens, config.projector_hidden_size
        )
        self.score_head = ScoreHead(hidden, image_dim=3 if config.score_from_image else 0)
        self.forensic_stream = (
            ForensicStream(sam2.embed_dim, config.forensic_channels) if config.forensic_stream else None
        )
        # Where relative ``base_model`` paths resolve (the checkpoint folder the model came from).
        self._root = root
        # SAM2's normalisation constants, to give the forensic stream raw [0, 1] pixels back.
        self.register_buffer(
            "_sam_mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "_sam_std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False
        )

    # ------------------------------------------------------------------------------ construction
    @classmethod
    def build(
        cls,
        config: XForgeConfig,
        processor=None,
        *,
        root: str | os.PathLike | None = None,
        torch_dtype: torch.dtype | None = None,
        trust_remote_code: bool = False,
        backbone: nn.Module | None = None,
        load_in_4bit: bool = False,
        load_in_8bit: bool = False,
    ) -> XForgeModel:
        """A fresh model: the base VLM from ``config.base_model``, SAM2 from ``config.sam2_checkpoint``,
        new LoRA / projector / score head / forensic stream. ``config`` gets ``seg_token_id`` and
        ``vocab_size`` filled in. Every parameter starts frozen: call :meth:`set_trainable`.

        ``backbone``: an already instantiated transformers model to use instead of loading
        ``config.base_model`` (tiny test models, random-weight benchmarks); ``processor`` is then required.
        ``load_in_4bit`` / ``load_in_8bit``: QLoRA-style training on a bitsandbytes-quantised backbone (CUDA).
        """
        from peft import LoraConfig, get_peft_model

        from xforge.model.processing import XForgeProcessor

        root_path = Path(root) if root is not None else None
        base = _resolve_base(config.base_model, root_path)
        if backbone is not None and processor is None:
            raise ValueError("build(backbone=...) needs the matching processor")
        if processor is None:
            processor = XForgeProcessor.build(
                base,
                family=config.family,
                sam2_image_size=config.sam2_image_size,
                seg_token=config.seg_token,
                trust_remote_code=trust_remote_code,
            )
        quant = _quantization_config(load_in_4bit, load_in_8bit, torch_dtype)
        if backbone is not None:
            hf_model = backbone
        else:
            hf_model = _load_backbone(base, torch_dtype, quant, trust_remote_code)
        if quant is not None:
            from peft import prepare_model_for_kbit_training

            # Casts norms to fp32 and makes inputs require grad, as peft's QLoRA recipe does.
            hf_model = prepare_model_for_kbit_training(hf_model, use_gradient_checkpointing=False)
        rows = hf_model.get_input_embeddings().weight.shape[0]
        if len(processor.tokenizer) > rows:
            hf_model.resize_token_embeddings(len(processor.tokenizer))
        config.seg_token_id = processor.seg_token_id
        config.vocab_size = hf_model.get_input_embeddings().weight.shape[0]
        logger.info(
            "%s is token %d; embedding rows %d (was %d)",
            config.seg_token,
            config.seg_token_id,
            config.vocab_size,
            rows,
        )
        lora = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.lora_target_modules or get_family(config.family).lora_target_modules,
            trainable_token_indices=_trainable_token_targets(hf_model, config.seg_token_id),
        )
        vlm = get_peft_model(hf_model, lora)
        sam2 = Sam2Segmenter.build(
            config.sam2_config, config.sam2_overrides, config.sam2_image_size, config.sam2_checkpoint
        )
        model = cls(config, vlm, sam2, root=root_path)
        model._place(torch_dtype, None, quantized=quant is not None)
        model.set_trainable([])
        return model

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str | os.PathLike,
        *,
        torch_dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
        load_in_4bit: bool = False,
        load_in_8bit: bool = False,
        trust_remote_code: bool = False,
    ) -> XForgeModel:
        """Load a checkpoint folder or Hub id saved by :meth:`save_pretrained` (safetensors only).

        The model comes back in eval mode with every parameter frozen; call :meth:`set_trainable` to train.
        """
        from peft import PeftModel
        from safetensors.torch import load_file

        local = resolve_checkpoint(path_or_id)
        refuse_pickle(local)
        config = XForgeConfig.from_pretrained(local)
        quant = _quantization_config(load_in_4bit, load_in_8bit, torch_dtype)
        base = _resolve_base(config.base_model, local)
        hf_model = _load_backbone(base, torch_dtype, quant, trust_remote_code)
        if config.vocab_size and hf_model.get_input_embeddings().weight.shape[0] != config.vocab_size:
            # The new rows' values come from the adapter's trainable tokens, so no costly mean init.
            hf_model.resize_token_embeddings(config.vocab_size, mean_resizing=False)
        adapter = local / ADAPTER_DIR
        if not (adapter / "adapter_model.safetensors").is_file():
            raise FileNotFoundError(f"{adapter}: no adapter_model.safetensors")
        vlm = PeftModel.from_pretrained(hf_model, adapter, is_trainable=True)
        sam2 = Sam2Segmenter.build(config.sam2_config, config.sam2_overrides, config.sam2_image_size, None)
        model = cls(config, vlm, sam2, root=local)
        heads_path = local / HEADS_NAME
        if not heads_path.is_file():
            raise FileNotFoundError(f"{heads_path}: missing")
        heads = load_file(heads_path)
        expected = model._heads_state_dict()
        missing = sorted(set(expected) - set(heads))
        unexpected = sorted(set(heads) - set(expected))
        if missing or unexpected:
            raise ValueError(
                f"{heads_path}: weights do not match the config (missing {missing[:5]}, unexpected {unexpected[:5]})"
            )
        model.load_state_dict(heads, strict=False)
        model._place(torch_dtype, device, quantized=quant is not None)
        model.set_trainable([])
        model.eval()
        logger.info("loaded xforge checkpoint %s (family %s, base %s)", local, config.family, base)
        return model

    def _place(self, dtype: torch.dtype | None, device, *, quantized: bool) -> None:
        """Move to ``device`` / ``dtype``; a bitsandbytes backbone is already placed and must not be cast,
        so only the xforge heads and SAM2 follow it."""
        if not quantized:
            self.to(device=device, dtype=dtype)
            return
        target = device or self.hf_model.device
        for name in ("sam2", "projector", "score_head", "forensic_stream"):
            module = getattr(self, name)
            if module is not None:
                module.to(device=target, dtype=dtype)
        self._sam_mean = self._sam_mean.to(target)
        self._sam_std = self._sam_std.to(target)

    def _heads_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if not k.startswith("vlm.")}

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write config, peft adapter, extra weights (safetensors) into ``directory``.

        The processor is saved separately (``processor.save_pretrained(directory)``) into the same folder.
        A base model that lives inside the source checkpoint (``backbone/``) is copied along.
        """
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        base = Path(self.config.base_model)
        if not base.is_absolute() and self._root is not None and (self._root / base).is_dir():
            target = directory / base
            if (self._root / base).resolve() != target.resolve():
                shutil.copytree(self._root / base, target, dirs_exist_ok=True)
        self.config.save_pretrained(directory)
        # The embedding rows of <SEG> are saved by the trainable-tokens adapter, not as whole matrices.
        self.vlm.save_pretrained(directory / ADAPTER_DIR, save_embedding_layers=False)
        heads = {k: v.detach().contiguous().cpu() for k, v in self._heads_state_dict().items()}
        save_file(heads, directory / HEADS_NAME, metadata={"format": "pt"})
        return directory

    # ---------------------------------------------------------------------------------- accessors
    @property
    def hf_model(self) -> nn.Module:
        """The transformers model (with LoRA layers injected)."""
        return self.vlm.get_base_model()

    @property
    def vision_tower(self) -> nn.Module:
        return get_submodule(self.hf_model, self.family.vision_tower)

    @property
    def device(self) -> torch.device:
        return self.sam2.no_mem_embed.device

    def merge_adapters(self) -> None:
        """Fold LoRA and the <SEG> rows into the base weights (peft ``merge_adapter``) for faster inference:
        no per-step adapter overhead. :meth:`unmerge_adapters` restores the trainable form."""
        self.vlm.merge_adapter()

    def unmerge_adapters(self) -> None:
        self.vlm.unmerge_adapter()

    def gradient_checkpointing_enable(self, **kwargs) -> None:
        """Activation checkpointing in the VLM (transformers' own); inputs made to require grad so the
        checkpointed LoRA layers still get gradients while the embeddings are frozen."""
        # transformers 5 renamed it; older releases only have the gradient_* name.
        enable = getattr(self.hf_model, "activation_checkpointing_enable", None)
        (enable or self.hf_model.gradient_checkpointing_enable)(**kwargs)
        self.hf_model.enable_input_require_grads()

    # ---------------------------------------------------------------------------------- training
    def _group_of(self, name: str) -> str | None:
        if name.startswith("vlm."):
            if "trainable_tokens_" in name:
                return "new_tokens"
            if "lora_" in name:
                return "lora"
            return None
        for prefix, group in (
            ("projector.", "projector"),
            ("score_head.", "score_head"),
            ("forensic_stream.", "forensic_stream"),
            ("sam2.mask_decoder.", None if _DECODER_UNUSED.match(name) else "mask_decoder"),
            # Only the dense "no mask" embedding of SAM2's prompt encoder is used (prompts are not clicks).
            ("sam2.prompt_encoder.no_mask_embed.", "prompt_encoder"),
        ):
            if name.startswith(prefix):
                return group
        return None

    def group_of(self, name: str) -> str | None:
        """The trainable group (``TRAINABLE_GROUPS``) a parameter name belongs to, or None."""
        return self._group_of(name)

    def set_trainable(self, groups: Iterable[str] | None = None) -> None:
        """Train exactly ``groups`` (see ``TRAINABLE_GROUPS``); every other parameter is frozen.

        ``None`` means ``DEFAULT_TRAINABLE`` (without ``forensic_stream`` when the model has none). The base
        LLM, the vision tower, SAM2's image encoder and the rest of the embedding matrix always stay frozen;
        ``new_tokens`` is the ``<SEG>`` row of the embedding (and of the LM head when untied).
        """
        if groups is None:
            groups = [
                g for g in DEFAULT_TRAINABLE if g != "forensic_stream" or self.forensic_stream is not None
            ]
        groups = set(groups)
        unknown = groups - set(TRAINABLE_GROUPS)
        if unknown:
            raise ValueError(f"unknown trainable groups {sorted(unknown)}; choose from {TRAINABLE_GROUPS}")
        if "forensic_stream" in groups and self.forensic_stream is None:
            raise ValueError("this model has no forensic stream (config.forensic_stream is False)")
        for name, param in self.named_parameters():
            param.requires_grad_(self._group_of(name) in groups)

    def num_trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def trainable_groups(self) -> dict[str, int]:
        """Trainable parameter count per group (what set_trainable left on)."""
        counts: dict[str, int] = {}
        for name, param in self.named_parameters():
            if param.requires_grad:
                group = self._group_of(name) or "other"
                counts[group] = counts.get(group, 0) + param.numel()
        return counts

    # ---------------------------------------------------------------------------------- SAM2 side
    def encode_sam(self, sam_pixel_values: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """SAM2 image embedding (+ forensic stream) and high-res features for ``(B, 3, S, S)`` inputs."""
        sam_pixel_values = sam_pixel_values.to(self.device)
        embedding, high_res = self.sam2.encode(sam_pixel_values)
        if self.forensic_stream is not None:
            raw = sam_pixel_values * self._sam_std + self._sam_mean
            embedding = embedding + self.forensic_stream(raw).to(embedding.dtype)
        return embedding, high_res

    def detection_logits(
        self,
        hidden: torch.Tensor,
        embedding: torch.Tensor | None,
        high_res: list[torch.Tensor] | None,
        image_index: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Detection logits ``(n,)`` for hidden states ``(n, d)`` before an answer, and the probe masks'
        low-res logits ``(n, 1, h, w)`` (``None`` unless ``config.score_from_image``).

        With ``score_from_image`` the same hidden state is also a mask prompt: the probe mask it decodes on
        the image ``image_index`` says where an edit would be, and its statistics feed the score head.
        """
        if not self.config.score_from_image:
            return self.score_head(hidden).float(), None
        if embedding is None:
            raise ValueError("this model's detection score reads the image: pass sam_pixel_values")
        probe = self._decode_masks(embedding, high_res, image_index, hidden)
        return self.score_head(hidden, probe_statistics(probe)).float(), probe

    def _decode_masks(
        self,
        embedding: torch.Tensor,
        high_res: list[torch.Tensor],
        image_index: torch.Tensor,
        seg_hidden: torch.Tensor,
    ) -> torch.Tensor:
        prompts = self.projector(seg_hidden)
        return self.sam2.decode(embedding[image_index], [h[image_index] for h in high_res], prompts)

    # ----------------------------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        sam_pixel_values: torch.Tensor | None = None,
        target_masks: Sequence[torch.Tensor] | None = None,
        original_sizes: torch.Tensor | None = None,
        is_tampered: torch.Tensor | None = None,
        **backbone_inputs: Any,
    ) -> XForgeOutput:
        """Teacher-forced pass over a :meth:`XForgeProcessor.collate` batch, with losses."""
        cfg = self.config
        out = self.vlm(
            input_ids=input_ids,
            attention_mask=attention_mask,
            labels=labels,
            output_hidden_states=True,
            return_dict=True,
            **backbone_inputs,
        )
        hidden = out.hidden_states[-1]
        result = XForgeOutput(logits=out.logits, text_loss=out.loss)
        losses: list[torch.Tensor] = []
        if out.loss is not None:
            losses.append(cfg.text_loss_weight * out.loss)
        seg = find_seg_positions(input_ids, cfg.seg_token_id)
        embedding = high_res = None
        if sam_pixel_values is not None and (len(seg) or cfg.score_from_image):
            embedding, high_res = self.encode_sam(sam_pixel_values)

        # Detection score: before each assistant answer (training) or at the last prompt token.
        if labels is not None:
            positions = turn_start_positions(labels)
        else:
            last = attention_mask.sum(1) - 1 if attention_mask is not None else None
            if last is None:
                last = torch.full((input_ids.shape[0],), input_ids.shape[1] - 1, device=input_ids.device)
            positions = torch.stack([torch.arange(input_ids.shape[0], device=input_ids.device), last], 1)
        if len(positions):
            logits, probe = self.detection_logits(
                hidden[positions[:, 0], positions[:, 1]], embedding, high_res, positions[:, 0]
            )
            # The first answer of each sample reports the sample's score (positions are sorted by sample,
            # then position, as nonzero() returns them); samples without an answer get NaN.
            rows = positions[:, 0]
            is_first = torch.ones_like(rows, dtype=torch.bool)
            is_first[1:] = rows[1:] != rows[:-1]
            result.score_logits = torch.full((input_ids.shape[0],), float("nan"), device=logits.device)
            result.score_logits[rows[is_first]] = logits[is_first]
            if is_tampered is not None:
                target = is_tampered.to(logits.device)[positions[:, 0]]
                known = target >= 0
                if known.any():
                    pos_weight = torch.tensor(cfg.score_pos_weight, device=logits.device)
                    result.score_loss = F.binary_cross_entropy_with_logits(
                        logits[known], target[known], pos_weight=pos_weight
                    )
                    if probe is not None:
                        result.score_loss = result.score_loss + self._probe_loss(
                            probe, positions[:, 0], target, target_masks
                        )
                    losses.append(cfg.score_loss_weight * result.score_loss)

        # Masks: one per <SEG>, decoded by SAM2 from the projected hidden state.
        batch_size = input_ids.shape[0]
        if len(seg) and embedding is not None:
            with self.sam2.capture_pixel_embeddings(cfg.contrastive_loss_weight > 0) as pixel_embeddings:
                low_res = self._decode_masks(embedding, high_res, seg[:, 0], hidden[seg[:, 0], seg[:, 1]])
            if original_sizes is None:
                side = self.sam2.image_size
                original_sizes = torch.tensor([[side, side]] * batch_size)
            preds = []
            for b in range(batch_size):
                rows = low_res[seg[:, 0] == b]
                h, w = (int(v) for v in original_sizes[b])
                preds.append(F.interpolate(rows, size=(h, w), mode="bilinear", align_corners=False)[:, 0])
            result.pred_masks = preds
            if target_masks is not None:
                self._mask_losses(result, preds, target_masks, losses)
                if pixel_embeddings:
                    self._contrastive_loss(result, pixel_embeddings[0], seg[:, 0], target_masks, losses)
        elif sam_pixel_values is not None:
            # A batch without <SEG> (all authentic) still runs the mask path once, at zero weight, in training
            # and in evaluation alike: data-parallel ranks must call the same modules, because DeepSpeed ZeRO
            # and DDP reduce gradients in the order backward produces them, and ZeRO-3 gathers each module's
            # weights collectively when it runs (otherwise ranks desynchronise and hang).
            if embedding is None:
                embedding, high_res = self.encode_sam(sam_pixel_values[:1])
            first = torch.zeros(1, dtype=torch.long, device=embedding.device)
            placeholder = self._decode_masks(embedding, high_res, first, hidden[:1, -1])
            if torch.is_grad_enabled():
                losses.append(0.0 * placeholder.sum())
        if losses:
            result.loss = torch.stack(losses).sum()
        return result

    @staticmethod
    def _probe_loss(probe, rows, target, target_masks) -> torch.Tensor:
        """Pixel BCE of the probe masks at their low resolution: the union of a sample's masks when it is
        edited, nothing when it is authentic; edited samples without masks and unknown labels are skipped."""
        probe = probe[:, 0].float()
        maps, keep = [], []
        for i, (b, t) in enumerate(zip(rows.tolist(), target.tolist())):
            masks = target_masks[b] if target_masks is not None else None
            if t == 0:
                maps.append(torch.zeros_like(probe[i]))
            elif t == 1 and masks is not None and masks.shape[0]:
                union = masks.amax(dim=0)[None, None].to(probe.device, torch.float32)
                maps.append(F.interpolate(union, size=probe.shape[-2:], mode="area")[0, 0])
            else:
                continue
            keep.append(i)
        if not keep:
            return probe.sum() * 0.0
        return F.binary_cross_entropy_with_logits(probe[keep], torch.stack(maps))

    def _mask_losses(
        self,
        result: XForgeOutput,
        preds: list[torch.Tensor],
        target_masks: Sequence[torch.Tensor],
        losses: list[torch.Tensor],
    ) -> None:
        """BCE + Dice (+ edge-aware BCE) averaged over every mask of the batch; samples without masks
        contribute nothing."""
        cfg = self.config
        sums = {"bce": [], "dice": [], "edge": []}
        count = 0
        for pred, target in zip(preds, target_masks):
            if target.shape[0] == 0:
                continue
            if target.shape[0] != pred.shape[0]:
                raise ValueError(
                    f"{pred.shape[0]} <SEG> tokens but {target.shape[0]} target masks in a sample"
                )
            target = target.to(pred.device, torch.float32)
            n = target.shape[0]
            sums["bce"].append(bce_loss(pred, target) * n)
            sums["dice"].append(dice_loss(pred, target) * n)
            if cfg.edge_loss_weight > 0:
                weights = edge_weights(target, cfg.edge_width, 1.0)
                sums["edge"].append(bce_loss(pred, target, weights) * n)
            count += n
        if not count:
            return
        result.mask_bce = torch.stack(sums["bce"]).sum() / count
        result.mask_dice = torch.stack(sums["dice"]).sum() / count
        losses += [cfg.bce_loss_weight * result.mask_bce, cfg.dice_loss_weight * result.mask_dice]
        if sums["edge"]:
            result.mask_edge_bce = torch.stack(sums["edge"]).sum() / count
            losses.append(cfg.edge_loss_weight * result.mask_edge_bce)

    def _contrastive_loss(self, result, pixel_embeddings, sample_index, target_masks, losses) -> None:
        """Contour-aware contrastive loss over every mask of the batch (rows follow the <SEG> order)."""
        cfg = self.config
        rows = [pixel_embeddings[sample_index == b] for b in range(len(target_masks))]
        pairs = [(e, t) for e, t in zip(rows, target_masks) if t.shape[0] and t.shape[0] == e.shape[0]]
        if not pairs:
            return
        result.mask_contrastive = contrastive_loss(
            torch.cat([e for e, _ in pairs]),
            [m.to(pixel_embeddings.device) for _, t in pairs for m in t],
            contour_weight=cfg.contrastive_contour_weight,
            budget=cfg.contrastive_pixels,
            temperature=cfg.contrastive_temperature,
        )
        if result.mask_contrastive is not None:
            losses.append(cfg.contrastive_loss_weight * result.mask_contrastive)

    # --------------------------------------------------------------------------------- inference
    def _image_feature_fn(self):
        return self.hf_model.base_model.get_image_features

    @torch.no_grad()
    def encode_image(self, image: Any, processor) -> ImageFeatures:
        """Run both image encoders once: the VLM's vision tower and SAM2's image encoder (+ forensic
        stream). Pass the result to :meth:`generate` as ``features`` to reuse it across turns."""
        array = load_image(image)
        image_inputs = processor.image_inputs(array).to(self.device)
        fn = self._image_feature_fn()
        wanted = inspect.signature(fn).parameters
        kwargs = {k: v for k, v in image_inputs.items() if k in wanted}
        vision = fn(**kwargs, return_dict=True)
        sam_pixels = processor.sam_image(array).unsqueeze(0)
        embedding, high_res = self.encode_sam(sam_pixels)
        return ImageFeatures(array, vision, embedding, high_res)

    @torch.no_grad()
    def encode_images(self, images: Sequence[Any], processor) -> list[ImageFeatures]:
        """:meth:`encode_image` for several images, with SAM2's image encoder (the costly one, fixed input
        size) run once on the whole stack; the vision tower still takes one image at a time."""
        arrays = [load_image(image) for image in images]
        embedding, high_res = self.encode_sam(torch.stack([processor.sam_image(a) for a in arrays]))
        fn = self._image_feature_fn()
        wanted = inspect.signature(fn).parameters
        features = []
        for i, array in enumerate(arrays):
            image_inputs = processor.image_inputs(array).to(self.device)
            vision = fn(**{k: v for k, v in image_inputs.items() if k in wanted}, return_dict=True)
            features.append(
                ImageFeatures(array, vision, embedding[i : i + 1], [h[i : i + 1] for h in high_res])
            )
        return features

    @torch.no_grad()
    def generate(
        self,
        processor,
        messages: Sequence[Mapping[str, Any]],
        image: Any = None,
        features: ImageFeatures | None = None,
        max_new_tokens: int = 128,
        **generate_kwargs: Any,
    ) -> GenerationOutput:
        """Answer the last user turn of ``messages`` about ``image`` (or cached ``features``): a batch of
        one through :meth:`generate_batch`."""
        if features is None:
            if image is None:
                raise ValueError("generate() needs an image or features from encode_image()")
            features = self.encode_image(image, processor)
        return self.generate_batch(
            processor, [messages], [features], max_new_tokens=max_new_tokens, **generate_kwargs
        )[0]

    @torch.no_grad()
    def generate_batch(
        self,
        processor,
        conversations: Sequence[Sequence[Mapping[str, Any]]],
        features: Sequence[ImageFeatures],
        max_new_tokens: int = 128,
        require_mask: bool | None = None,
        **generate_kwargs: Any,
    ) -> list[GenerationOutput]:
        """Answer several conversations (one image each) in left-padded batches: the text, one mask per
        ``<SEG>``, the detection score and the verdict they all agree on (``xforge.model.generation``).

        Greedy by default; ``generate_kwargs`` go to transformers' ``generate``.
        """
        return generate_answers(
            self,
            processor,
            conversations,
            features,
            max_new_tokens=max_new_tokens,
            require_mask=require_mask,
            **generate_kwargs,
        )
