"""Detector, chat and detect with the tiny model checkpoint (random weights: shapes and plumbing, not accuracy)."""

from __future__ import annotations

import io
import json
import sys

import cv2
import numpy as np
import pytest
from model_helpers import decided

from xforge import Detector
from xforge.cli import main
from xforge.inference.detect import run_detect
from xforge.model.predictor import XForgePredictor
from xforge.predictions import iter_predictions, read_mask_png

MAX_NEW_TOKENS = 12  # a random model never stops by itself; keep its answers short


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from xforge.testing import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def detector(checkpoint) -> Detector:
    return Detector.from_pretrained(checkpoint, max_new_tokens=MAX_NEW_TOKENS)


def _pair(h=96, w=128, seed=0):
    rng = np.random.default_rng(seed)
    authentic = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 0)
    tampered = authentic.copy()
    s = min(h, w) // 3
    tampered[h - s :, w - s :] = authentic[:s, :s]  # a copy-move into the lower right
    return authentic, tampered


class EncoderCalls:
    """Counts forward calls of the two image encoders (the VLM's vision tower and SAM2's image encoder)."""

    def __init__(self, model):
        self.counts = {"vision_tower": 0, "sam2_image_encoder": 0}
        self.handles = [
            model.vision_tower.register_forward_hook(self._hook("vision_tower")),
            model.sam2.image_encoder.register_forward_hook(self._hook("sam2_image_encoder")),
        ]

    def _hook(self, name):
        def hook(*_):
            self.counts[name] += 1

        return hook

    def close(self):
        for h in self.handles:
            h.remove()


def test_analyze_tampered_and_authentic(detector):
    for image in _pair():
        res = detector.analyze(image)
        assert res.engine == "model"
        assert res.verdict in ("tampered", "authentic")
        assert 0.0 <= res.score <= 1.0
        assert res.prob_map.shape == image.shape[:2] and res.prob_map.dtype == np.float32
        assert res.mask.shape == image.shape[:2] and res.mask.dtype == np.uint8
        np.testing.assert_array_equal(res.mask, (res.prob_map >= 0.5).astype(np.uint8))
        assert "<SEG>" not in res.explanation
        assert sum(r["area"] for r in res.regions) == int(res.mask.sum())


def test_three_turn_chat_encodes_the_image_once(detector):
    _, tampered = _pair(seed=1)
    calls = EncoderCalls(detector.backend.model)
    try:
        session = detector.chat(tampered)
        after_encoding = dict(calls.counts)
        answers = [session.ask(q) for q in ("Is this image edited?", "Where?", "Why do you think so?")]
    finally:
        calls.close()
    assert after_encoding == {"vision_tower": 1, "sam2_image_encoder": 1}
    assert calls.counts == {"vision_tower": 1, "sam2_image_encoder": 1}  # turns 1-3 reuse the features
    assert [m["role"] for m in session.messages] == ["user", "assistant"] * 3
    images = [p for m in session.messages for p in m["content"] if p["type"] == "image"]
    assert len(images) == 1  # the image placeholder belongs to the first turn only
    for ans in answers:
        assert ans.engine == "model" and ans.mask.shape == tampered.shape[:2]


def test_switching_images_encodes_the_new_one(detector):
    first, second = _pair(seed=2)
    calls = EncoderCalls(detector.backend.model)
    try:
        session = detector.chat(first)
        session.ask("Is this image edited?")
        session.set_image(second)
        session.ask("And this one?")
    finally:
        calls.close()
    assert calls.counts == {"vision_tower": 2, "sam2_image_encoder": 2}
    assert len(session.messages) == 2


def test_detect_with_the_model_batches_and_reports_errors(detector, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i, image in enumerate(_pair(seed=3) + _pair(h=64, w=72, seed=4)):
        cv2.imwrite(str(folder / f"img{i}.png"), image)
    (folder / "img9.jpg").write_bytes(b"\xff\xd8\xff")
    summary = run_detect([folder], tmp_path / "out", detector, batch_size=2, progress=False)
    assert (summary["done"], summary["errors"]) == (4, 1)
    rows = {r["id"]: r for r in iter_predictions(tmp_path / "out")}
    assert "img9.jpg" in rows["img9"]["error"]
    assert rows["img2"]["engine"] == "model"
    assert read_mask_png(tmp_path / "out", rows["img2"]["mask"]).shape == (64, 72)


def test_piped_chat_with_the_model(checkpoint, tmp_path, monkeypatch, capsys):
    _, tampered = _pair(seed=5)
    path = tmp_path / "pic.png"
    cv2.imwrite(str(path), tampered)
    monkeypatch.setattr(sys, "stdin", io.StringIO("Is this image edited?\nWhere?\n"))
    argv = ["chat", str(path), "--model", str(checkpoint), "--out", str(tmp_path / "o"), "--json"]
    assert main([*argv, "--max-new-tokens", str(MAX_NEW_TOKENS)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["turn"] for r in rows] == [1, 2] and rows[0]["engine"] == "model"
    assert (tmp_path / "o" / "pic_overlay.png").is_file()


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises((FileNotFoundError, OSError, ValueError), match="nothing-here"):
        Detector.from_pretrained(tmp_path / "nothing-here")


def test_a_batch_encodes_sam2_once_and_answers_like_single_images(detector):
    images = [*_pair(seed=6), _pair(h=64, w=72, seed=7)[1]]
    singles = [detector.analyze(img) for img in images]
    calls = EncoderCalls(detector.backend.model)
    try:
        batched = detector.analyze_batch(images)
    finally:
        calls.close()
    assert calls.counts == {"vision_tower": 3, "sam2_image_encoder": 1}
    for one, many, image in zip(singles, batched, images):
        assert many.prob_map.shape == image.shape[:2]
        assert many.explanation == one.explanation
        assert abs(many.score - one.score) < 1e-4
        np.testing.assert_allclose(many.prob_map, one.prob_map, atol=1e-4)


@pytest.mark.parametrize("max_new_tokens", [6, 1])  # <SEG> then end of turn; <SEG> as the very last token
def test_batched_generation_draws_the_same_masks(detector, max_new_tokens):
    model, processor = detector.backend.model, detector.backend.processor
    eos = model.hf_model.generation_config.eos_token_id
    eos = eos[0] if isinstance(eos, list) else eos
    seg = model.config.seg_token_id
    # Force an answer that emits <SEG> and then ends, so the mask path runs with random weights.
    forced = {"sequence_bias": {(seg,): 50.0, (seg, eos): 200.0}}
    images = list(_pair(seed=8))
    conversations = [
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Where?"}]}]
    ] * 2
    features = XForgePredictor(model, processor).encode_images(images)
    forced["require_mask"] = False  # the free path: the language model's own <SEG>
    with decided(model):
        batched = XForgePredictor(model, processor).generate_batch(
            conversations, features, max_new_tokens=max_new_tokens, **forced
        )
        ones = [
            XForgePredictor(model, processor).generate(
                conv, features=feats, max_new_tokens=max_new_tokens, **forced
            )
            for conv, feats in zip(conversations, features)
        ]
    for feats, many, one in zip(features, batched, ones):
        assert many.token_ids == one.token_ids and seg in many.token_ids
        # Each <SEG> opening a sentence is followed by its where-sentence, and the bias asks for the next.
        assert len(many.masks) == len(one.masks) == many.text.count("<SEG>") >= 1
        np.testing.assert_allclose(many.masks[0], one.masks[0], atol=1e-5)
        assert many.masks[0].shape == feats.image.shape[:2]
