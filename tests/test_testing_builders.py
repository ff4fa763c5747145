"""xforge.testing's public builders: a Qwen2.5-VL config of any size with the small test tokenizer."""

from __future__ import annotations

import numpy as np
import torch

from xforge.testing import qwen2_5_vl_config_and_processor

# A shrunk architecture in the form scripts/bench_model.py passes Qwen2.5-VL-3B's.
ARCHITECTURE = dict(
    text_config=dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=1000,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
    ),
    vision_config=dict(
        depth=1,
        hidden_size=32,
        intermediate_size=64,
        num_heads=2,
        out_hidden_size=64,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=56,
        fullatt_block_indexes=[0],
    ),
)


def test_config_and_processor_make_a_working_model():
    from transformers import Qwen2_5_VLForConditionalGeneration

    config, processor = qwen2_5_vl_config_and_processor(
        ARCHITECTURE, image_processor_kwargs={"min_pixels": 56 * 56, "max_pixels": 56 * 56}
    )
    assert config.text_config.hidden_size == 64 and config.vision_config.depth == 1
    tokenizer = processor.tokenizer
    assert tokenizer.convert_ids_to_tokens(config.image_token_id) == "<|image_pad|>"
    assert tokenizer.convert_ids_to_tokens(config.vision_start_token_id) == "<|vision_start|>"

    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Is it edited?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    image = np.random.default_rng(0).integers(0, 255, (56, 56, 3), dtype=np.uint8)
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    with torch.no_grad():
        out = model(**inputs)
    assert out.logits.shape[:2] == inputs["input_ids"].shape
    assert torch.isfinite(out.logits).all()
