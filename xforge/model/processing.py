"""XForgeProcessor: conversation records -> model inputs.

Text and the VLM's image inputs come from the backbone's own processor and chat template (transformers
``AutoProcessor``); xforge adds the ``<SEG>`` token, labels restricted to the assistant turns, SAM2's image
transform (``sam2.utils.transforms.SAM2Transforms``: square resize + ImageNet normalisation) and the target
masks. Images of different sizes batch fine: Qwen-VL packs variable patch counts, LLaVA resizes, SAM2 inputs
are always square.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import AddedToken
from transformers import AutoProcessor, BatchFeature

from xforge.data.conversations import SEG_TOKEN
from xforge.data.images import load_image
from xforge.model.registry import get_family

PROCESSOR_CONFIG_NAME = "xforge_processor.json"
IGNORE_INDEX = -100
# Detection targets. ``is_tampered``: not authentic (a fully generated image is no authentic photo either);
# ``is_synthetic``: among images that are not authentic, generated as a whole (-1: not asked, for authentic).
LABEL_TO_TARGET = {"tampered": 1.0, "synthetic": 1.0, "authentic": 0.0}
LABEL_TO_SYNTHETIC = {"tampered": 0.0, "synthetic": 1.0, "authentic": -1.0}


def _sample_name(example: Mapping[str, Any], index: int) -> str:
    return str(example.get("sample_id") or example.get("id") or f"example #{index}")


class XForgeProcessor:
    """The backbone's transformers processor (``hf_processor``) + ``<SEG>`` + SAM2 transform + collation for
    training and prompting."""

    def __init__(self, hf_processor, *, family: str, sam2_image_size: int = 1024, seg_token: str = SEG_TOKEN):
        from sam2.utils.transforms import SAM2Transforms

        self.hf_processor = hf_processor
        self.family = get_family(family).name
        self.sam2_image_size = int(sam2_image_size)
        self.seg_token = seg_token
        tokenizer = hf_processor.tokenizer
        if seg_token not in tokenizer.get_vocab():
            # Not "special": decoding with skip_special_tokens keeps it, so answers show where masks attach.
            tokenizer.add_tokens([AddedToken(seg_token, special=False, normalized=False)])
        # Hole filling needs sam2's compiled extension; xforge returns soft masks, so it is off.
        self.sam2_transforms = SAM2Transforms(self.sam2_image_size, mask_threshold=0.0)

    # ----------------------------------------------------------------- construction and persistence
    @classmethod
    def build(
        cls,
        base_model: str,
        *,
        family: str,
        sam2_image_size: int = 1024,
        seg_token: str = SEG_TOKEN,
        image_processor_kwargs: Mapping[str, Any] | None = None,
        trust_remote_code: bool = False,
    ) -> XForgeProcessor:
        """Processor for a fresh model on ``base_model`` (the family's image-size limits applied)."""
        kwargs = dict(get_family(family).image_processor_kwargs)
        kwargs.update(image_processor_kwargs or {})
        hf_processor = AutoProcessor.from_pretrained(
            base_model, trust_remote_code=trust_remote_code, **kwargs
        )
        return cls(hf_processor, family=family, sam2_image_size=sam2_image_size, seg_token=seg_token)

    @classmethod
    def from_pretrained(
        cls, path_or_id: str | os.PathLike, *, trust_remote_code: bool = False
    ) -> XForgeProcessor:
        from xforge.model.checkpoint import resolve_checkpoint

        local = resolve_checkpoint(path_or_id)
        config_path = local / PROCESSOR_CONFIG_NAME
        if not config_path.is_file():
            raise FileNotFoundError(f"{config_path}: not an xforge checkpoint (no {PROCESSOR_CONFIG_NAME})")
        settings = json.loads(config_path.read_text())
        hf_processor = AutoProcessor.from_pretrained(local, trust_remote_code=trust_remote_code)
        return cls(hf_processor, **settings)

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.hf_processor.save_pretrained(directory)
        settings = {
            "family": self.family,
            "sam2_image_size": self.sam2_image_size,
            "seg_token": self.seg_token,
        }
        (directory / PROCESSOR_CONFIG_NAME).write_text(json.dumps(settings, indent=2) + "\n")
        return directory

    # ----------------------------------------------------------------------------------- accessors
    @property
    def tokenizer(self):
        return self.hf_processor.tokenizer

    @property
    def seg_token_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(self.seg_token)

    @property
    def image_token_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(self.hf_processor.image_token)

    # ------------------------------------------------------------------------------------- images
    def sam_image(self, image: np.ndarray) -> torch.Tensor:
        """``(3, S, S)`` float tensor: SAM2's resize + normalisation of an HxWx3 uint8 RGB image."""
        return self.sam2_transforms(image)

    def image_inputs(self, image: np.ndarray) -> BatchFeature:
        """The backbone image processor's output for one image (what its vision tower consumes)."""
        return self.hf_processor.image_processor(images=[image], return_tensors="pt")

    # --------------------------------------------------------------------------------------- text
    def render(self, messages: Sequence[Mapping[str, Any]], *, add_generation_prompt: bool = False) -> str:
        return self.hf_processor.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def assistant_spans(self, messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[tuple[int, int]]]:
        """The rendered conversation and the character span of every assistant turn in it.

        A turn's span is what rendering ``messages[:i+1]`` adds to rendering ``messages[:i]`` with the
        generation prompt: the answer and its end-of-turn marker, whatever the family's template looks like.
        """
        text = self.render(messages)
        spans = []
        for i, message in enumerate(messages):
            if message.get("role") != "assistant":
                continue
            before = self.render(messages[:i], add_generation_prompt=True)
            through = self.render(messages[: i + 1])
            if not (through.startswith(before) and text.startswith(through)):
                raise ValueError(
                    "the chat template does not render conversations prefix by prefix; cannot find assistant turns"
                )
            spans.append((len(before), len(through)))
        return text, spans

    def _labels(self, text: str, spans: list[tuple[int, int]], input_ids: list[int]) -> list[int]:
        """Labels for the processor's ``input_ids`` of ``text``: token ids inside assistant spans, else -100.

        The tokenizer's offsets give each token of the unexpanded text its span; the processor's ids are the
        same tokens with each image placeholder repeated once per vision token, so the two are aligned by
        walking both sequences.
        """
        enc = self.tokenizer(text, return_offsets_mapping=True)
        raw_ids, offsets = enc["input_ids"], enc["offset_mapping"]
        raw_labels = [
            tid if end > start and any(s <= start and end <= e for s, e in spans) else IGNORE_INDEX
            for tid, (start, end) in zip(raw_ids, offsets)
        ]
        image_id = self.image_token_id
        labels, j = [], 0
        for tid in input_ids:
            if j < len(raw_ids) and tid == raw_ids[j]:
                labels.append(raw_labels[j])
                j += 1
            elif tid == image_id and j > 0 and raw_ids[j - 1] == image_id:
                labels.append(IGNORE_INDEX)
            else:
                raise ValueError("processor tokens do not match the tokenizer's; cannot align labels")
        if j != len(raw_ids):
            raise ValueError("processor tokens do not match the tokenizer's; cannot align labels")
        return labels

    # ------------------------------------------------------------------------------------ batching
    def collate(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Training batch from examples ``{"messages", "image", "masks", "label"}`` (``ConversationDataset``).

        Returns the HF processor's tensors (``input_ids``, ``attention_mask``, pixel inputs), ``labels`` (-100
        outside assistant turns), ``sam_pixel_values`` ``(B, 3, S, S)``, ``target_masks`` (list of
        ``(n_i, H_i, W_i)`` uint8 0/1 tensors, one mask per ``<SEG>`` in reading order; non-zero input pixels
        count as forged), ``original_sizes``
        ``(B, 2)`` as (H, W), ``is_tampered`` ``(B,)`` (1 not authentic, 0 authentic, -1 unknown) and
        ``is_synthetic`` ``(B,)`` (1 generated as a whole, 0 edited, -1 authentic or unknown).
        """
        if not examples:
            raise ValueError("collate() got no examples")
        texts, spans, images, masks, targets, synthetic = [], [], [], [], [], []
        for index, example in enumerate(examples):
            name = _sample_name(example, index)
            image = load_image(example["image"])
            text, turn_spans = self.assistant_spans(example["messages"])
            # Any non-zero pixel is forged (0/1 masks from decode_mask, but also 0/255 images).
            sample_masks = [np.asarray(m) > 0 for m in example.get("masks") or []]
            for m in sample_masks:
                if m.shape != image.shape[:2]:
                    raise ValueError(
                        f"{name}: mask size {m.shape[1]}x{m.shape[0]} does not match image size "
                        f"{image.shape[1]}x{image.shape[0]}"
                    )
            n_seg = sum(text[s:e].count(self.seg_token) for s, e in turn_spans)
            if n_seg != len(sample_masks):
                raise ValueError(
                    f"{name}: {n_seg} {self.seg_token} in the answers but {len(sample_masks)} masks"
                )
            label = example.get("label")
            if label is not None and label not in LABEL_TO_TARGET:
                raise ValueError(
                    f"{name}: unknown label {label!r}; expected one of {', '.join(LABEL_TO_TARGET)}"
                )
            texts.append(text)
            spans.append(turn_spans)
            images.append(image)
            h, w = image.shape[:2]
            masks.append(
                torch.from_numpy(np.stack(sample_masks).astype(np.uint8))
                if sample_masks
                else torch.zeros((0, h, w), dtype=torch.uint8)
            )
            targets.append(LABEL_TO_TARGET.get(label, -1.0))
            synthetic.append(LABEL_TO_SYNTHETIC.get(label, -1.0))

        batch = self.hf_processor(
            text=texts, images=images, padding=True, padding_side="right", return_tensors="pt"
        )
        labels = torch.full_like(batch["input_ids"], IGNORE_INDEX)
        for row, (text, turn_spans) in enumerate(zip(texts, spans)):
            keep = batch["attention_mask"][row].bool()
            ids = batch["input_ids"][row][keep].tolist()
            labels[row, keep] = torch.tensor(self._labels(text, turn_spans, ids))
        out = dict(batch)
        out["labels"] = labels
        out["sam_pixel_values"] = torch.stack([self.sam_image(image) for image in images])
        out["target_masks"] = masks
        out["original_sizes"] = torch.tensor([image.shape[:2] for image in images], dtype=torch.long)
        out["is_tampered"] = torch.tensor(targets, dtype=torch.float32)
        out["is_synthetic"] = torch.tensor(synthetic, dtype=torch.float32)
        return out

    def prompt_inputs(self, messages: Sequence[Mapping[str, Any]], image: np.ndarray | None) -> BatchFeature:
        """Inputs for generation: the conversation so far plus the assistant prompt."""
        text = self.render(messages, add_generation_prompt=True)
        images = [image] if image is not None else None
        return self.hf_processor(text=[text], images=images, return_tensors="pt")
