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


# ------------------------------------------------------------------------ three verdicts (synthetic)
@pytest.fixture(scope="module")
def synthetic_checkpoint(tmp_path_factory):
    """A three-way checkpoint whose heads call every image generated as a whole."""
    root = tmp_path_factory.mktemp("synthetic")
    path = build_tiny_checkpoint(root / "ck", score_from_image=True, synthetic_head=True)
    model = XForgeModel.from_pretrained(path)
    with torch.no_grad():
        model.score_head.mlp[-1].bias.fill_(9.0)
        model.synthetic_head.mlp[-1].bias.fill_(9.0)
    out = root / "generated"
    model.save_pretrained(out)
    XForgeProcessor.from_pretrained(path).save_pretrained(out)
    return out


def test_a_generated_image_gets_no_mask_and_no_place(synthetic_checkpoint, images):
    model, processor = _load(synthetic_checkpoint)
    predictor = XForgePredictor(model, processor)
    features = predictor.encode_images(images)
    seg = processor.seg_token_id
    # The language model is pushed to emit <SEG>, as a tampered answer would.
    outs = predictor.generate_batch(
        [[user_turn()]] * len(images), features, max_new_tokens=24, sequence_bias={(seg,): 8.0}
    )
    for out in outs:
        assert out.verdict == "synthetic" and out.masks == [] and "<SEG>" not in out.text
        assert verdict_from_text(out.text) == "synthetic"
        assert parse_location(out.text) == frozenset()
        probs = out.scores
        assert probs["synthetic"] > probs["tampered"] and probs["synthetic"] > probs["authentic"]
        assert sum(probs.values()) == pytest.approx(1.0)


def test_detect_and_chat_on_a_generated_image(synthetic_checkpoint, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for seed in range(2):
        Image.fromarray(forged_image(64, 72, seed)[0]).save(folder / f"img{seed}.png")
    out = tmp_path / "preds"
    args = ["detect", str(folder), "--model", str(synthetic_checkpoint), "--out", str(out), "--no-progress"]
    assert xforge_main([*args, "--max-new-tokens", "24"]) == 0
    for line in map(json.loads, (out / "predictions.jsonl").read_text().splitlines()):
        assert line["verdict"] == "synthetic" and not line["regions"]
        assert not (np.asarray(Image.open(out / line["mask"])) >= 128).any()
        assert (
            line["score"] == pytest.approx(1 - line["scores"]["authentic"], abs=1e-5) and line["score"] >= 0.5
        )
        assert parse_location(line["explanation"]) == frozenset()

    from xforge.inference import Detector

    session = Detector.from_pretrained(synthetic_checkpoint, max_new_tokens=24).chat(folder / "img0.png")
    for question in ("Is this image edited? Where?", "Where exactly?", "Why do you think so?"):
        answer = session.ask(question)
        assert answer.verdict == "synthetic" and not answer.mask.any()
        assert parse_location(answer.explanation) == frozenset(), answer.explanation


def test_a_two_way_checkpoint_still_loads_and_answers(checkpoints, images, tmp_path):
    """Checkpoints without the synthetic head (and with the old flat config file) answer two ways."""
    import shutil

    old = tmp_path / "old"
    shutil.copytree(checkpoints["tampered"], old)
    config = json.loads((old / "xforge_config.json").read_text())
    flat = {k: v for k, v in config.items() if not isinstance(v, dict) and k != "synthetic_head"}
    flat.update({f"sam2_{k}": v for k, v in config["sam2"].items()})
    flat.update({f"lora_{k}": v for k, v in config["lora"].items()})
    flat.update({f"{k}_loss_weight": v for k, v in config["loss_weights"].items()})
    flat.update(config["loss"])
    flat["forensic_stream"] = config["forensic_stream"]["enabled"]
    flat["forensic_channels"] = config["forensic_stream"]["channels"]
    (old / "xforge_config.json").write_text(json.dumps(flat))
    model, processor = _load(old)
    assert model.synthetic_head is None
    out = XForgePredictor(model, processor).generate([user_turn()], image=images[0], max_new_tokens=24)
    assert out.verdict == "tampered" and out.masks and out.synthetic_score == 0.0
    assert out.scores["synthetic"] == 0.0 and out.scores["tampered"] == pytest.approx(out.score)
