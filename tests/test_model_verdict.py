"""One verdict: the text's yes/no, the score and the mask agree, for any weights (xforge.model.generation).

The checkpoints are tiny and untrained; their score head's output bias is pushed to decide every image one
way, and sequence biases push the language model to contradict that decision. Whatever the language model
would say, the answer must follow the score, and predictions.jsonl must never hold an authentic verdict with
a mask or a tampered verdict without one.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from model_helpers import forged_image, user_turn
from PIL import Image

from xforge.cli import main as xforge_main
from xforge.location import cells_of_mask, parse_location, verdict_from_text
from xforge.model import XForgeModel, XForgeProcessor
from xforge.model.predictor import XForgePredictor
from xforge.testing import build_tiny_checkpoint


def _checkpoint(root, bias: float | None):
    path = build_tiny_checkpoint(root / "ck", score_from_image=True)
    if bias is None:
        return path
    model = XForgeModel.from_pretrained(path)
    with torch.no_grad():
        model.score_head.mlp[-1].bias.fill_(bias)
    out = root / f"bias{bias:+.0f}"
    model.save_pretrained(out)
    XForgeProcessor.from_pretrained(path).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("verdict")
    return {name: _checkpoint(root, bias) for name, bias in (("tampered", 9.0), ("authentic", -9.0))}


@pytest.fixture(scope="module")
def images():
    return [forged_image(64, 80, seed)[0] for seed in range(3)]


def _load(path):
    return XForgeModel.from_pretrained(path), XForgeProcessor.from_pretrained(path)


@pytest.mark.parametrize("decision", ["tampered", "authentic"])
def test_the_answer_follows_the_score_whatever_the_language_model_says(checkpoints, images, decision):
    model, processor = _load(checkpoints[decision])
    features = XForgePredictor(model, processor).encode_images(images)
    seg = processor.seg_token_id
    # Push the language model towards <SEG> (a tampered answer) or away from it.
    bias = {(seg,): 8.0} if decision == "authentic" else {(seg,): -8.0}
    outs = XForgePredictor(model, processor).generate_batch(
        [[user_turn()]] * len(images), features, max_new_tokens=24, sequence_bias=bias
    )
    for out, image in zip(outs, images):
        assert out.verdict == decision == ("tampered" if out.score >= 0.5 else "authentic")
        assert verdict_from_text(out.text.replace("<SEG>", " ")) == decision
        if decision == "authentic":
            assert out.masks == [] and "<SEG>" not in out.text
        else:
            assert out.masks and all(m.shape == image.shape[:2] for m in out.masks)
            binary = out.masks[0] >= 0.5
            assert binary.any()
            # The sentence after <SEG> was written from the mask: its words read back as the mask's cells.
            where = out.text.split("<SEG>", 1)[1].split(".", 1)[0]
            assert parse_location(where) == cells_of_mask(binary)
        assert out.forced  # the pushed language model disagreed, so the answer was restarted


def test_a_follow_up_may_answer_without_a_mask(checkpoints, images):
    model, processor = _load(checkpoints["tampered"])
    features = XForgePredictor(model, processor).encode_images(images[:1])
    history = [user_turn(), {"role": "assistant", "content": [{"type": "text", "text": "Yes, edited."}]}]
    seg = processor.seg_token_id
    out = XForgePredictor(model, processor).generate_batch(
        [history + [user_turn("How sure are you?", with_image=False)]],
        features,
        max_new_tokens=6,
        sequence_bias={(seg,): -20.0},
    )[0]
    assert out.verdict == "tampered" and out.masks == []


@pytest.mark.parametrize("decision", ["tampered", "authentic", None])
def test_detect_predictions_obey_the_agreement_rule(checkpoints, tmp_path, decision):
    folder = tmp_path / "images"
    folder.mkdir()
    for seed in range(4):
        Image.fromarray(forged_image(48 + 8 * seed, 64, seed)[0]).save(folder / f"img{seed}.png")
    model = (
        checkpoints[decision] if decision else build_tiny_checkpoint(tmp_path / "ck", score_from_image=True)
    )
    out = tmp_path / "preds"
    args = ["detect", str(folder), "--model", str(model), "--out", str(out), "--batch-size", "3"]
    assert xforge_main([*args, "--max-new-tokens", "24", "--no-progress"]) == 0
    lines = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(lines) == 4
    for line in lines:
        mask = np.asarray(Image.open(out / line["mask"])) >= 128
        if line["verdict"] == "authentic":
            assert not mask.any() and not line["regions"], line
        else:
            assert mask.any() and line["regions"], line
        assert (line["score"] >= 0.5) == (line["verdict"] == "tampered")
        assert verdict_from_text(line["explanation"]) == line["verdict"]
        if decision:
            assert line["verdict"] == decision
