"""Tiny backbones of every supported family: random weights, a few thousand parameters, small images.

Each builder returns ``(model, processor)`` of the real transformers classes, with configs shrunk so a
forward pass takes milliseconds on a CPU. Chat templates follow their families (Qwen2-VL's ChatML with
vision markers; LLaVA-1.5's ``USER: <image>\\n... ASSISTANT:``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from transformers import PretrainedConfig, PreTrainedModel, ProcessorMixin

from xforge.testing.tokenizer import build_bpe_tokenizer

# Keyword arguments of build_bpe_tokenizer that shape the vocabulary: vocab_size, texts.
VocabSpec = dict

QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}USER: {% elif message['role'] == 'assistant' %}ASSISTANT: {% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<image>\n"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% else %} {% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen's image processor resizes to multiples of 28 px (14 px patches, 2x2 merge); 2x2..4x4 merged tokens.
_QWEN_PIXELS = {"min_pixels": 56 * 56, "max_pixels": 112 * 112}
_TEXT = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=1024,
)


def _qwen_tokenizer(vocab: VocabSpec):
    return build_bpe_tokenizer(
        QWEN_SPECIAL_TOKENS,
        **vocab,
        chat_template=QWEN_CHAT_TEMPLATE,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )


def _qwen_token_ids(tokenizer) -> dict[str, int]:
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    return dict(
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )


def _qwen_text_config(tokenizer, tie: bool) -> dict:
    return dict(
        _TEXT,
        vocab_size=len(tokenizer),
        # mrope sections (temporal, height, width) sum to head_dim / 2 = 64 / 4 / 2.
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=tie,
    )


def tiny_qwen2_5_vl(
    tie: bool = False, vocab: VocabSpec | None = None
) -> tuple[PreTrainedModel, ProcessorMixin]:
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = _qwen_tokenizer(vocab or {})
    config = Qwen2_5_VLConfig(
        text_config=_qwen_text_config(tokenizer, tie),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=56,
            out_hidden_size=64,
            fullatt_block_indexes=[1],
        ),
        tie_word_embeddings=tie,
        **_qwen_token_ids(tokenizer),
    )
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**_QWEN_PIXELS),
        video_processor=Qwen2VLVideoProcessor(),
        tokenizer=tokenizer,
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    return Qwen2_5_VLForConditionalGeneration(config), processor


def qwen2_5_vl_config_and_processor(
    architecture: Mapping[str, Any],
    image_processor_kwargs: Mapping[str, Any] | None = None,
    vocab: VocabSpec | None = None,
) -> tuple[PretrainedConfig, ProcessorMixin]:
    """A Qwen2.5-VL config of any ``architecture`` and its processor, with the small test tokenizer.

    ``architecture``: ``Qwen2_5_VLConfig`` keyword arguments (e.g. a published model's ``text_config`` and
    ``vision_config`` sizes); the vision token ids come from the tokenizer. ``image_processor_kwargs``:
    ``Qwen2VLImageProcessor`` settings (the tiny ones by default). No download: for random-weight speed runs
    of real shapes (``scripts/bench_model.py --size real``); build the model from the config where it
    should live (``with torch.device("cuda"): Qwen2_5_VLForConditionalGeneration(config)``).
    """
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = _qwen_tokenizer(vocab or {})
    config = Qwen2_5_VLConfig(**architecture, **_qwen_token_ids(tokenizer))
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**(image_processor_kwargs or _QWEN_PIXELS)),
        video_processor=Qwen2VLVideoProcessor(),
        tokenizer=tokenizer,
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    return config, processor


def tiny_qwen2_vl(
    tie: bool = False, vocab: VocabSpec | None = None
) -> tuple[PreTrainedModel, ProcessorMixin]:
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = _qwen_tokenizer(vocab or {})
    config = Qwen2VLConfig(
        text_config=_qwen_text_config(tokenizer, tie),
        vision_config=dict(
            depth=2,
            embed_dim=32,
            hidden_size=64,
            num_heads=2,
            mlp_ratio=2,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
        ),
        tie_word_embeddings=tie,
        **_qwen_token_ids(tokenizer),
    )
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(**_QWEN_PIXELS),
        video_processor=Qwen2VLVideoProcessor(),
        tokenizer=tokenizer,
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    return Qwen2VLForConditionalGeneration(config), processor


def tiny_llava(tie: bool = False, vocab: VocabSpec | None = None) -> tuple[PreTrainedModel, ProcessorMixin]:
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    tokenizer = build_bpe_tokenizer(
        ["<unk>", "<s>", "</s>", "<pad>", "<image>"],
        chat_template=LLAVA_CHAT_TEMPLATE,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        add_bos=True,
        **(vocab or {}),
    )
    image_size, patch_size = 28, 14
    config = LlavaConfig(
        vision_config=dict(
            model_type="clip_vision_model",
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=patch_size,
            projection_dim=32,
        ),
        text_config=dict(
            _TEXT,
            model_type="llama",
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=tie,
        ),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        tie_word_embeddings=tie,
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
        ),
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's class token, dropped by the "default" strategy
        chat_template=LLAVA_CHAT_TEMPLATE,
    )
    return LlavaForConditionalGeneration(config), processor


TINY_FAMILIES: dict[str, Callable[..., tuple[PreTrainedModel, ProcessorMixin]]] = {
    "qwen2_5_vl": tiny_qwen2_5_vl,
    "qwen2_vl": tiny_qwen2_vl,
    "llava": tiny_llava,
}


def tiny_backbone(
    family: str,
    seed: int = 0,
    tie_word_embeddings: bool = False,
    texts: list[str] | None = None,
    vocab_size: int = 512,
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """Random tiny backbone of ``family``; ``tie_word_embeddings`` as in Qwen2.5-VL-3B (tied) or 7B (not).

    The tokenizer is a byte-level BPE of ``vocab_size`` tokens learned from a built-in corpus plus
    ``texts`` (a larger vocabulary learned on the training text keeps a tiny model's sequences short).
    """
    if family not in TINY_FAMILIES:
        raise ValueError(f"no tiny backbone for family {family!r}; have {', '.join(TINY_FAMILIES)}")
    torch.manual_seed(seed)
    vocab: VocabSpec = {"vocab_size": vocab_size, "texts": list(texts or [])}
    return TINY_FAMILIES[family](tie=tie_word_embeddings, vocab=vocab)
