"""XForgeModel: a VLM with LoRA emits ``<SEG>``; SAM2 turns each ``<SEG>`` hidden state into a mask.

Data flow (docs/ARCHITECTURE.md, "From an image to an answer")::

    image ─┬─ backbone vision tower ──> VLM (+LoRA) ──> text, hidden states
           │                                  │ <SEG> positions (from input_ids)
           │                                  └─> SegProjector ──> SAM2 sparse prompts ─┐
           ├─ SAM2 image encoder (frozen) ─> image embedding + high-res features ───────┼─> SAM2 mask decoder ─> masks
           └─ forensic stream (raw pixels) ─> zero-init projection, added to embedding ┘
    hidden state before the answer ──> ScoreHead ──> P(not authentic)  (+ synthetic head: P(generated | not authentic))

Detection score: a small head (``score_head``) on the last-layer hidden state of the token just before each
assistant answer (the end of the generation prompt), trained with BCE on the sample's label. At generation
time it reads the same position of the prompt, so the score exists before any text is decoded and does
not depend on sampling; ``score`` is its sigmoid. With ``config.synthetic_head`` a second head of the same
kind gives P(generated as a whole | not authentic), trained on the images that are not authentic: the three
verdicts are authentic, tampered (edited in a region) and synthetic.

This module is the ``nn.Module`` (forward pass, losses' weighting, trainable groups). Loading and saving
live in ``xforge.model.loading``, generation in ``xforge.model.predictor`` and ``xforge.model.generation``,
the losses in ``xforge.model.losses``, the trainable groups in ``xforge.model.trainable``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xforge.model import loading, trainable
from xforge.model.config import XForgeConfig
from xforge.model.forensic_stream import ForensicStream
from xforge.model.loading import LoadOptions
from xforge.model.losses import LOSS_TERMS, batch_contrastive_loss, mask_losses, probe_loss
from xforge.model.registry import get_family, get_submodule
from xforge.model.seg import (
    ScoreHead,
    SegProjector,
    answer_positions,
    find_seg_positions,
    probe_statistics,
)
from xforge.model.segmenter import SAM2_PIXEL_MEAN, SAM2_PIXEL_STD, Sam2Segmenter
from xforge.model.trainable import DEFAULT_TRAINABLE, TRAINABLE_GROUPS

__all__ = ["DEFAULT_TRAINABLE", "LOSS_TERMS", "TRAINABLE_GROUPS", "XForgeModel", "XForgeOutput"]


@dataclass
class XForgeOutput:
    """``loss`` is the weighted sum; components that do not apply to a batch are ``None``.

    ``pred_masks``: per sample, mask logits ``(n_i, H_i, W_i)`` at the image's size, one per ``<SEG>``.
    ``score_logits``: ``(B,)`` detection logits (sigmoid -> probability the image is not authentic);
    ``synthetic_logits``: ``(B,)`` (sigmoid -> probability it was generated as a whole, given it is not
    authentic), ``None`` without a synthetic head.
    """

    loss: torch.Tensor | None = None
    text_loss: torch.Tensor | None = None
    mask_bce: torch.Tensor | None = None
    mask_dice: torch.Tensor | None = None
    mask_edge_bce: torch.Tensor | None = None
    mask_contrastive: torch.Tensor | None = None
    score_loss: torch.Tensor | None = None
    score_logits: torch.Tensor | None = None
    synthetic_logits: torch.Tensor | None = None
    pred_masks: list[torch.Tensor] = field(default_factory=list)
    logits: torch.Tensor | None = None


class XForgeModel(nn.Module):
    """See the module docstring. Build with :meth:`build` (fresh) or :meth:`from_pretrained` (checkpoint);
    answer questions with :class:`xforge.model.predictor.XForgePredictor`."""

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
        image_dim = 3 if config.score_from_image else 0
        self.score_head = ScoreHead(hidden, image_dim=image_dim)
        self.synthetic_head = ScoreHead(hidden, image_dim=image_dim) if config.synthetic_head else None
        stream = config.forensic_stream
        self.forensic_stream = ForensicStream(sam2.embed_dim, stream.channels) if stream.enabled else None
        # Where relative ``base_model`` paths resolve (the checkpoint folder the model came from).
        self.root = root
        # SAM2's normalisation constants, to give the forensic stream raw [0, 1] pixels back.
        self.register_buffer("_sam_mean", torch.tensor(SAM2_PIXEL_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_sam_std", torch.tensor(SAM2_PIXEL_STD).view(1, 3, 1, 1), persistent=False)

    # ------------------------------------------------------------------------------ construction
    @classmethod
    def build(cls, config: XForgeConfig, processor=None, **kwargs: Any) -> XForgeModel:
        """A fresh model, every parameter frozen; ``kwargs`` as ``xforge.model.loading.build_model`` takes
        them (``root``, ``backbone``, ``options`` or the :class:`LoadOptions` fields themselves)."""
        return loading.build_model(cls, config, processor, **kwargs)

    @classmethod
    def from_pretrained(
        cls, path_or_id: str | os.PathLike, options: LoadOptions | None = None, **option_fields: Any
    ) -> XForgeModel:
        """Load a checkpoint folder or Hub id (``xforge.model.loading.load_model``), in eval mode with every
        parameter frozen; ``option_fields`` make a :class:`LoadOptions` when ``options`` is not given."""
        return loading.load_model(cls, path_or_id, options or LoadOptions(**option_fields))

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write config, peft adapter and the other weights (``xforge.model.loading.save_model``)."""
        return loading.save_model(self, directory)

    def to_sam_device(self, device) -> None:
        """Move the non-persistent SAM2 normalisation buffers (a quantised backbone is placed apart)."""
        self._sam_mean = self._sam_mean.to(device)
        self._sam_std = self._sam_std.to(device)

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

    def image_feature_fn(self):
        """The backbone's vision encoder entry point (its ``get_image_features``)."""
        return self.hf_model.base_model.get_image_features

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

    # --------------------------------------------------------------------------- trainable groups
    @staticmethod
    def group_of(name: str) -> str | None:
        """The trainable group (``TRAINABLE_GROUPS``) a parameter name belongs to, or None."""
        return trainable.group_of(name)

    def set_trainable(self, groups: Iterable[str] | None = None) -> None:
        """Train exactly ``groups`` (``xforge.model.trainable``; None: ``DEFAULT_TRAINABLE``)."""
        trainable.set_trainable(self, groups, has_forensic_stream=self.forensic_stream is not None)

    def num_trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def trainable_groups(self) -> dict[str, int]:
        """Trainable parameter count per group (what set_trainable left on)."""
        return trainable.trainable_counts(self)

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
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Detection logits ``(n,)`` for hidden states ``(n, d)`` before an answer, the synthetic head's
        logits ``(n,)`` (``None`` without one), and the probe masks' low-res logits ``(n, 1, h, w)`` (``None``
        unless ``config.score_from_image``).

        With ``score_from_image`` the same hidden state is also a mask prompt: the probe mask it decodes on
        the image ``image_index`` says where an edit would be, and its statistics feed the heads.
        """
        probe = stats = None
        if self.config.score_from_image:
            if embedding is None:
                raise ValueError("this model's detection score reads the image: pass sam_pixel_values")
            probe = self._decode_masks(embedding, high_res, image_index, hidden)
            stats = probe_statistics(probe)
        logits = self.score_head(hidden, stats).float()
        synthetic = self.synthetic_head(hidden, stats).float() if self.synthetic_head is not None else None
        return logits, synthetic, probe

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
        is_synthetic: torch.Tensor | None = None,
        **vlm_inputs: Any,
    ) -> XForgeOutput:
        """Teacher-forced pass over a :meth:`XForgeProcessor.collate` batch, with losses weighted by
        ``config.loss_weights``; ``vlm_inputs`` are the backbone processor's image inputs."""
        out = self.vlm(
            input_ids=input_ids,
            attention_mask=attention_mask,
            labels=labels,
            output_hidden_states=True,
            return_dict=True,
            **vlm_inputs,
        )
        hidden = out.hidden_states[-1]
        result = XForgeOutput(logits=out.logits, text_loss=out.loss)
        seg = find_seg_positions(input_ids, self.config.seg_token_id)
        embedding = high_res = None
        if sam_pixel_values is not None and (len(seg) or self.config.score_from_image):
            embedding, high_res = self.encode_sam(sam_pixel_values)
        positions = answer_positions(input_ids, attention_mask, labels)
        if len(positions):
            labels_ = (is_tampered, is_synthetic)
            self._score(result, hidden, positions, (embedding, high_res), labels_, target_masks)
        if len(seg) and embedding is not None:
            if original_sizes is None:
                original_sizes = torch.tensor([[self.sam2.image_size] * 2] * input_ids.shape[0])
            self._masks(result, hidden, seg, (embedding, high_res), original_sizes, target_masks)
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
                result.loss = 0.0 * placeholder.sum()
        weights = self.config.loss_weights
        terms = [
            getattr(weights, n) * getattr(result, f)
            for n, f in LOSS_TERMS.items()
            if getattr(result, f) is not None
        ]
        if terms:
            result.loss = torch.stack(terms).sum() + (result.loss if result.loss is not None else 0.0)
        return result

    def _score(self, result, hidden, positions, sam_features, targets, target_masks) -> None:
        """Detection logits at ``positions`` (sample, token) and, with ``targets`` (``is_tampered``,
        ``is_synthetic``), the score loss: BCE of not-authentic (its ``pos_weight`` from ``config.loss``),
        plus BCE of generated-as-a-whole on the images that are not authentic, plus the probe's loss."""
        rows = positions[:, 0]
        logits, synthetic, probe = self.detection_logits(hidden[rows, positions[:, 1]], *sam_features, rows)
        # The first answer of each sample reports the sample's score (positions are sorted by sample, then
        # position, as nonzero() returns them); samples without an answer get NaN.
        is_first = torch.ones_like(rows, dtype=torch.bool)
        is_first[1:] = rows[1:] != rows[:-1]
        first = rows[is_first]
        result.score_logits = torch.full((hidden.shape[0],), float("nan"), device=logits.device)
        result.score_logits[first] = logits[is_first]
        if synthetic is not None:
            result.synthetic_logits = torch.full_like(result.score_logits, float("nan"))
            result.synthetic_logits[first] = synthetic[is_first]
        is_tampered, is_synthetic = targets
        if is_tampered is None:
            return
        target = is_tampered.to(logits.device)[rows]
        known = target >= 0
        if not known.any():
            return
        pos_weight = torch.tensor(self.config.loss.score_pos_weight, device=logits.device)
        loss = F.binary_cross_entropy_with_logits(logits[known], target[known], pos_weight=pos_weight)
        generated = is_synthetic.to(logits.device)[rows] if is_synthetic is not None else None
        if synthetic is not None and generated is not None:
            asked = generated >= 0
            # Every batch adds the term (at zero weight without a non-authentic image), so data-parallel
            # ranks use the head alike.
            loss = loss + (
                F.binary_cross_entropy_with_logits(synthetic[asked], generated[asked])
                if asked.any()
                else 0.0 * synthetic.sum()
            )
        if probe is not None:
            loss = loss + probe_loss(probe, rows, target, target_masks, generated)
        result.score_loss = loss

    def _masks(self, result, hidden, seg, sam_features, original_sizes, target_masks) -> None:
        """One mask per <SEG>, decoded by SAM2 from the projected hidden state, at each image's size; and the
        mask losses when targets are given."""
        weights = self.config.loss_weights
        with self.sam2.capture_pixel_embeddings(weights.contrastive > 0) as pixel_embeddings:
            low_res = self._decode_masks(*sam_features, seg[:, 0], hidden[seg[:, 0], seg[:, 1]])
        for b, (h, w) in enumerate(original_sizes.tolist()):
            rows = low_res[seg[:, 0] == b]
            result.pred_masks.append(
                F.interpolate(rows, size=(h, w), mode="bilinear", align_corners=False)[:, 0]
            )
        if target_masks is None:
            return
        terms = mask_losses(
            result.pred_masks, target_masks, self.config.loss.edge_width if weights.edge > 0 else None
        )
        result.mask_bce, result.mask_dice = terms.get("bce"), terms.get("dice")
        result.mask_edge_bce = terms.get("edge")
        if pixel_embeddings:
            result.mask_contrastive = batch_contrastive_loss(
                pixel_embeddings[0], seg[:, 0], target_masks, self.config.loss
            )
