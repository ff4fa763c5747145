"""XForgeModel / XForgeProcessor on the tiny qwen2_5_vl checkpoint: collation, losses, generation, loading."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from model_helpers import (
    assistant_turn,
    authentic_example,
    decided,
    forged_image,
    free_answer,
    tampered_example,
    user_turn,
)

from xforge.data.conversations import SEG_TOKEN
from xforge.model import XForgeModel, XForgeProcessor
from xforge.model.checkpoint import UnsafeCheckpointError
from xforge.model.modeling import DEFAULT_TRAINABLE
from xforge.model.predictor import XForgePredictor


@pytest.fixture(scope="module")
def loaded(tiny_checkpoint):
    return XForgeModel.from_pretrained(tiny_checkpoint), XForgeProcessor.from_pretrained(tiny_checkpoint)


def _grad_groups(model: XForgeModel) -> tuple[dict[str, bool], list[str]]:
    """Per group: did some parameter get a non-zero gradient; and frozen parameters that got one."""
    reached: dict[str, bool] = {}
    leaked = []
    for name, param in model.named_parameters():
        group = model.group_of(name)
        if param.requires_grad:
            nonzero = param.grad is not None and bool(param.grad.abs().sum() > 0)
            reached[group] = reached.get(group, False) or nonzero
        elif param.grad is not None:
            leaked.append(name)
    return reached, leaked


def test_collate_labels_only_assistant_turns(loaded):
    _, processor = loaded
    batch = processor.collate([tampered_example(n_seg=2), authentic_example()])
    tok = processor.tokenizer
    first = batch["labels"][0][batch["labels"][0] != -100]
    assert tok.decode(first).startswith("Yes. The centre was edited <SEG> and <SEG>.")
    assert "edited?" not in tok.decode(first)  # the question is never a target
    second = tok.decode(batch["labels"][1][batch["labels"][1] != -100])
    assert second.startswith("No. The image looks authentic.")
    # padding and image placeholders are never targets
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()
    assert (batch["labels"][batch["input_ids"] == processor.image_token_id] == -100).all()
    assert [m.shape for m in batch["target_masks"]] == [(2, 64, 80), (0, 48, 40)]
    assert batch["sam_pixel_values"].shape == (2, 3, processor.sam2_image_size, processor.sam2_image_size)
    assert batch["is_tampered"].tolist() == [1.0, 0.0]
    assert batch["original_sizes"].tolist() == [[64, 80], [48, 40]]
    # 0/255 mask images are read as forged where non-zero
    example = tampered_example()
    example["masks"] = [example["masks"][0] * 255]
    assert processor.collate([example])["target_masks"][0].unique().tolist() == [0, 1]


def test_collate_rejects_bad_examples(loaded):
    _, processor = loaded
    example = tampered_example(n_seg=2)
    example["masks"] = example["masks"][:1]
    with pytest.raises(ValueError, match="test/tampered0: 2 <SEG> in the answers but 1 masks"):
        processor.collate([example])
    example = tampered_example()
    example["masks"] = [np.zeros((10, 10), np.uint8)]
    with pytest.raises(ValueError, match="test/tampered0: mask size 10x10 does not match image size 80x64"):
        processor.collate([example])
    example = tampered_example()
    example["label"] = "maybe"
    with pytest.raises(ValueError, match="unknown label"):
        processor.collate([example])


def test_forward_losses_and_gradients_reach_exactly_the_trainable_groups(tiny_checkpoint):
    model = XForgeModel.from_pretrained(tiny_checkpoint)
    processor = XForgeProcessor.from_pretrained(tiny_checkpoint)
    # Two differently sized images, one with two <SEG> (two masks), one authentic (no mask).
    batch = processor.collate([tampered_example(64, 80, n_seg=2), authentic_example(48, 40)])
    model.set_trainable(DEFAULT_TRAINABLE)
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    # LoRA B and the forensic projection start at zero, so LoRA A and the forensic body only receive
    # gradient from the second step on; two steps show every group is reached.
    for _ in range(2):
        optimizer.zero_grad()
        out = model(**batch)
        out.loss.backward()
        optimizer.step()
    for name in ("loss", "text_loss", "mask_bce", "mask_dice", "score_loss"):
        value = getattr(out, name)
        assert value is not None and torch.isfinite(value), name
    assert out.mask_edge_bce is None  # edge-aware loss is off by default
    assert [tuple(m.shape) for m in out.pred_masks] == [(2, 64, 80), (0, 48, 40)]
    assert out.score_logits.shape == (2,)
    reached, leaked = _grad_groups(model)
    assert reached == {group: True for group in DEFAULT_TRAINABLE}
    assert leaked == []
    # Every individual trainable tensor is reached (LoRA A/B, all forensic layers, both <SEG> rows).
    silent = [
        n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())
    ]
    assert silent == []
    # Frozen: the vision tower, SAM2's image encoder, and the embedding matrix except the <SEG> row.
    for module in (model.vision_tower, model.sam2.image_encoder):
        assert not any(p.requires_grad for p in module.parameters())
    embedding = {n: p for n, p in model.hf_model.get_input_embeddings().named_parameters() if p.requires_grad}
    assert [tuple(p.shape) for p in embedding.values()] == [
        (1, model.hf_model.config.get_text_config().hidden_size)
    ]


def test_set_trainable_groups(loaded):
    model, _ = loaded
    model.set_trainable(["projector", "mask_decoder"])
    assert set(model.trainable_groups()) == {"projector", "mask_decoder"}
    model.set_trainable([])
    assert model.num_trainable_parameters() == 0
    with pytest.raises(ValueError, match="unknown trainable groups"):
        model.set_trainable(["vision_tower"])


def test_edge_aware_loss_is_added_when_weighted(tiny_checkpoint):
    model = XForgeModel.from_pretrained(tiny_checkpoint)
    processor = XForgeProcessor.from_pretrained(tiny_checkpoint)
    batch = processor.collate([tampered_example()])
    with torch.no_grad():
        plain = model(**batch)
        model.config.loss_weights.edge = 1.0
        edged = model(**batch)
    assert plain.mask_edge_bce is None and edged.mask_edge_bce is not None
    assert torch.isclose(edged.loss, plain.loss + edged.mask_edge_bce)


def _count_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_generate_one_mask_per_seg_and_reuses_features(tiny_checkpoint):
    model = XForgeModel.from_pretrained(tiny_checkpoint)
    processor = XForgeProcessor.from_pretrained(tiny_checkpoint)
    vision_calls = _count_calls(model.vision_tower)
    sam_calls = _count_calls(model.sam2.image_encoder)
    image, _ = forged_image(50, 70)
    features = XForgePredictor(model, processor).encode_image(image)
    messages = [user_turn()]
    # A random model rarely says <SEG>: bias it so every generated token is one.
    # The free path (require_mask=False): the answer is the language model's, with a tampered decision.
    seg_bias = {(processor.seg_token_id,): 100.0}
    with decided(model):
        first = XForgePredictor(model, processor).generate(
            messages,
            features=features,
            max_new_tokens=3,
            sequence_bias=seg_bias,
            require_mask=False,
        )
        messages += [assistant_turn(first.text), user_turn("Why?", with_image=False)]
        second = XForgePredictor(model, processor).generate(messages, features=features, max_new_tokens=2)
    assert vision_calls[0] == 1 and sam_calls[0] == 1
    assert first.text.count(SEG_TOKEN) == 3 == len(first.masks)
    for mask in first.masks:
        assert mask.shape == (50, 70) and mask.dtype == np.float32
        assert 0.0 <= mask.min() and mask.max() <= 1.0
    assert 0.0 <= first.score <= 1.0 and 0.0 <= second.score <= 1.0
    assert len(second.masks) == second.text.count(SEG_TOKEN)
    # Without cached features, the same answer and masks (the encoders run again).
    with decided(model):
        fresh = XForgePredictor(model, processor).generate(
            [user_turn()],
            image=image,
            max_new_tokens=3,
            sequence_bias=seg_bias,
            require_mask=False,
        )
    assert vision_calls[0] == 2 and sam_calls[0] == 2
    assert fresh.text == first.text and fresh.score == pytest.approx(first.score)
    np.testing.assert_allclose(fresh.masks[0], first.masks[0], atol=1e-6)


def test_generate_matches_teacher_forced_forward(loaded):
    """The <SEG> hidden state and score read during generation are those a training pass computes."""
    model, processor = loaded
    image, _ = forged_image(50, 70)
    gen = free_answer(model, processor, image)
    example = {
        "messages": [user_turn(), assistant_turn(gen.text)],
        "image": image,
        "masks": [np.zeros((50, 70), np.uint8)] * 2,
        "label": "tampered",
    }
    with torch.no_grad(), decided(model):
        out = model(**processor.collate([example]))
    np.testing.assert_allclose(out.pred_masks[0].sigmoid().numpy(), np.stack(gen.masks), atol=1e-5)
    assert torch.sigmoid(out.score_logits[0]).item() == pytest.approx(gen.score, abs=1e-5)


def test_save_load_round_trip_gives_identical_outputs(tiny_checkpoint, tmp_path):
    model = XForgeModel.from_pretrained(tiny_checkpoint)
    processor = XForgeProcessor.from_pretrained(tiny_checkpoint)
    # Change every trainable weight (LoRA, <SEG> rows, heads, decoder) so the round trip has to carry them.
    model.set_trainable(DEFAULT_TRAINABLE)
    torch.manual_seed(1)
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad:
                param.add_(0.05 * torch.randn_like(param))
    model.eval()
    model.save_pretrained(tmp_path / "ckpt")
    processor.save_pretrained(tmp_path / "ckpt")
    again = XForgeModel.from_pretrained(tmp_path / "ckpt")
    processor2 = XForgeProcessor.from_pretrained(tmp_path / "ckpt")
    batch = processor.collate([tampered_example(n_seg=2), authentic_example()])
    batch2 = processor2.collate([tampered_example(n_seg=2), authentic_example()])
    assert torch.equal(batch["input_ids"], batch2["input_ids"])
    with torch.no_grad():
        a, b = model(**batch), again(**batch2)
    assert torch.equal(a.loss, b.loss)
    assert torch.equal(a.score_logits, b.score_logits)
    assert torch.equal(a.pred_masks[0], b.pred_masks[0])
    image, _ = forged_image(40, 60)
    seg_bias = {(processor.seg_token_id,): 100.0}
    kwargs = dict(image=image, max_new_tokens=2, sequence_bias=seg_bias, require_mask=False)
    with decided(model, again):
        ga = XForgePredictor(model, processor).generate([user_turn()], **kwargs)
        gb = XForgePredictor(again, processor2).generate([user_turn()], **kwargs)
    assert ga.text == gb.text and ga.score == gb.score
    np.testing.assert_array_equal(ga.masks[0], gb.masks[0])


def test_refuses_pickle_checkpoints(tiny_checkpoint, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_checkpoint, bad)
    (bad / "adapter" / "adapter_model.safetensors").unlink()
    torch.save({"x": torch.zeros(1)}, bad / "adapter" / "adapter_model.bin")
    with pytest.raises(UnsafeCheckpointError, match="refusing to load pickle weights"):
        XForgeModel.from_pretrained(bad)
    bad2 = tmp_path / "bad2"
    shutil.copytree(tiny_checkpoint, bad2)
    torch.save({"x": torch.zeros(1)}, bad2 / "backbone" / "pytorch_model.bin")
    with pytest.raises(UnsafeCheckpointError, match="pytorch_model.bin"):
        XForgeModel.from_pretrained(bad2)


def test_no_remote_code_unless_asked(tiny_checkpoint, monkeypatch):
    import transformers

    seen = []
    original = transformers.AutoModelForImageTextToText.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", classmethod(spy))
    XForgeModel.from_pretrained(tiny_checkpoint)
    XForgeModel.from_pretrained(tiny_checkpoint, trust_remote_code=True)
    assert seen == [False, True]


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint folder"):
        XForgeModel.from_pretrained(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="xforge_config.json"):
        XForgeModel.from_pretrained(tmp_path / "empty")


def test_quantised_loading_needs_bitsandbytes_and_cuda(tiny_checkpoint):
    if torch.cuda.is_available():
        pytest.skip("checks the CPU refusal path")
    with pytest.raises(RuntimeError, match="bitsandbytes|CUDA"):
        XForgeModel.from_pretrained(tiny_checkpoint, load_in_4bit=True)


def test_multi_turn_labels_and_scores(loaded):
    """Stage-3 conversations: every answer is a target, every answer start gets a detection score."""
    model, processor = loaded
    example = tampered_example()
    example["messages"] = [
        user_turn(),
        assistant_turn("Yes, it was edited."),
        user_turn("Show me where.", with_image=False),
        assistant_turn(f"Here: {SEG_TOKEN}."),
    ]
    batch = processor.collate([example])
    labels = batch["labels"][0]
    text = processor.tokenizer.decode(labels[labels != -100])
    assert "Yes, it was edited." in text and f"Here: {SEG_TOKEN}." in text
    assert "Show me where." not in text
    with torch.no_grad():
        out = model(**batch)
    assert out.score_loss is not None and out.pred_masks[0].shape == (1, 64, 80)
    assert out.score_logits.shape == (1,) and torch.isfinite(out.score_logits).all()


def test_collate_names_a_broken_image_file(loaded, tmp_path):
    from xforge.data.images import ImageReadError

    _, processor = loaded
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    example = authentic_example()
    example["image"] = str(broken)
    with pytest.raises(ImageReadError, match="broken.png"):
        processor.collate([example])


def test_forensic_stream_off_by_config(tmp_path):
    from xforge.testing import build_tiny_checkpoint

    path = build_tiny_checkpoint(tmp_path / "plain", forensic_stream=False)
    model = XForgeModel.from_pretrained(path)
    processor = XForgeProcessor.from_pretrained(path)
    assert model.forensic_stream is None
    model.set_trainable()
    assert "forensic_stream" not in model.trainable_groups() and "mask_decoder" in model.trainable_groups()
    with pytest.raises(ValueError, match="no forensic stream"):
        model.set_trainable(["forensic_stream"])
    with torch.no_grad():
        out = model(**processor.collate([tampered_example()]))
    assert out.mask_bce is not None


def test_fresh_forensic_stream_leaves_sam2_embedding_unchanged(loaded):
    model, processor = loaded
    image, _ = forged_image(64, 64)
    pixels = processor.sam_image(image).unsqueeze(0)
    with torch.no_grad():
        with_stream, _ = model.encode_sam(pixels)
        plain, _ = model.sam2.encode(pixels)
    assert torch.equal(with_stream, plain)


def test_merged_adapters_give_the_same_answer(tiny_checkpoint):
    model = XForgeModel.from_pretrained(tiny_checkpoint)
    processor = XForgeProcessor.from_pretrained(tiny_checkpoint)
    with torch.no_grad():  # non-trivial LoRA so that merging changes the base weights
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05)
    image, _ = forged_image(40, 60)
    seg_bias = {(processor.seg_token_id,): 100.0}
    kwargs = dict(image=image, max_new_tokens=2, sequence_bias=seg_bias, require_mask=False)
    with decided(model):
        before = XForgePredictor(model, processor).generate([user_turn()], **kwargs)
        model.merge_adapters()
        merged = XForgePredictor(model, processor).generate([user_turn()], **kwargs)
        model.unmerge_adapters()
        after = XForgePredictor(model, processor).generate([user_turn()], **kwargs)
    assert merged.text == before.text == after.text
    assert merged.score == pytest.approx(before.score, abs=1e-4)
    np.testing.assert_allclose(merged.masks[0], before.masks[0], atol=1e-4)
    np.testing.assert_allclose(after.masks[0], before.masks[0], atol=1e-5)


def test_build_from_base_model_folder(tiny_checkpoint):
    """The real-use path: processor and model built from a base model id/folder (here the tiny backbone)."""
    from xforge.testing import tiny_config

    config = tiny_config()
    processor = XForgeProcessor.build(
        str(tiny_checkpoint / "backbone"), family="qwen2_5_vl", sam2_image_size=config.sam2.image_size
    )
    # The family's image-size limits bound the vision tokens of a large image (<= 1024 merged tokens).
    grid = processor.image_inputs(np.zeros((2000, 3000, 3), np.uint8))["image_grid_thw"]
    assert 256 <= int(grid.prod()) // 4 <= 1024
    model = XForgeModel.build(config, root=tiny_checkpoint)
    assert config.seg_token_id == processor.seg_token_id == len(processor.tokenizer) - 1
    assert model.num_trainable_parameters() == 0
    small = XForgeProcessor.from_pretrained(tiny_checkpoint)
    with torch.no_grad():
        out = model(**small.collate([tampered_example()]))
    assert out.mask_dice is not None


def test_prompt_encoder_group_trains_only_what_is_used(loaded):
    model, processor = loaded
    model.set_trainable(["prompt_encoder", "projector"])
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(**processor.collate([tampered_example()]))
    out.loss.backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert "sam2.prompt_encoder.no_mask_embed.weight" in trainable
    assert all(p.grad is not None and p.grad.any() for p in trainable.values())
    model.zero_grad(set_to_none=True)
    model.set_trainable([])
    model.eval()


def test_bfloat16_model_trains_and_generates(tiny_checkpoint):
    """torch_dtype=bfloat16 (and DeepSpeed's bf16 cast) puts SAM2 in bf16 too; its float32 internals cope."""
    model = XForgeModel.from_pretrained(tiny_checkpoint, torch_dtype=torch.bfloat16)
    processor = XForgeProcessor.from_pretrained(tiny_checkpoint)
    assert model.sam2.no_mem_embed.dtype == torch.bfloat16
    model.set_trainable()
    model.train()
    out = model(**processor.collate([tampered_example(n_seg=2), authentic_example()]))
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    image, _ = forged_image(40, 60)
    gen = free_answer(model, processor, image)
    assert len(gen.masks) == 2 and gen.masks[0].dtype == np.float32 and gen.masks[0].shape == (40, 60)
