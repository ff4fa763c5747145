"""The classical engine's synthetic verdict: the spectral cue, detect and chat on a simulated generated image."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_builders.synth import SynthConfig
from data_builders.synth.generated import simulate
from data_builders.synth.postprocess import decode_bytes, encode_jpeg
from data_builders.synth.scene import render_scene
from xforge.cli import main
from xforge.forensics import ForensicEngine
from xforge.forensics.spectral import spectral_cue, synthetic_probability
from xforge.forensics.synthetic import three_scores
from xforge.inference.classical_backend import ClassicalBackend
from xforge.location import parse_location, verdict_from_text
from xforge.predictions import iter_predictions, read_mask_png

ASSETS = Path(__file__).resolve().parent.parent / "xforge" / "assets" / "examples"
FOLLOW_UPS = (
    "Where is the edit?",
    "Is the upper left part edited?",
    "How big is it?",
    "How many regions are there?",
    "What kind of edit is it?",
    "Why do you think so?",
    "How sure are you?",
    "Tell me more.",
)


def _generated(seed: int = 0, upsampling: str = "transposed") -> np.ndarray:
    cfg = SynthConfig(gen_upsampling=(upsampling,), gen_factors=(2,), gen_kernel_jitter=(0.05, 0.05))
    return simulate(render_scene(np.random.default_rng(seed), (384, 288)), np.random.default_rng(seed), cfg)[
        0
    ]


def _no_place_no_edit(text: str) -> None:
    assert parse_location(text) == frozenset(), text
    # neither "edited" nor "no sign of editing": at most "generated as a whole"
    assert verdict_from_text(text) in (None, "synthetic"), text


@pytest.fixture(scope="module")
def generated_png(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gen") / "generated.png"
    cv2.imwrite(str(path), _generated()[..., ::-1])
    return path


def test_engine_calls_a_generated_image_synthetic_with_no_mask(generated_png):
    res = ForensicEngine().analyze(generated_png)
    assert res.verdict == "synthetic" and res.synthetic_score > 0.9
    assert not res.mask.any() and not res.prob_map.any() and res.regions == []
    assert max(res.scores, key=res.scores.get) == "synthetic"
    assert abs(sum(res.scores.values()) - 1) < 1e-9
    assert res.evidence["spectral"]["period"] == 2
    assert "generated" in res.explanation and "image-wide" in res.explanation
    _no_place_no_edit(res.explanation)


def test_three_scores_split_the_evidence_and_keep_the_two_way_score():
    for s, p in ((0.1, 0.0), (0.7, 0.01), (0.2, 0.95), (0.6, 0.6)):
        scores = three_scores(s, p)
        assert abs(sum(scores.values()) - 1) < 1e-9
        assert np.isclose(scores["authentic"], (1 - s) * (1 - p))
    assert np.isclose(three_scores(0.3, 0.0)["tampered"], 0.3)  # no generator trace: the two-way answer


def test_authentic_photos_and_scenes_are_not_flipped():
    """Real photos (those installed with scikit-image / scikit-learn, and the shipped example), as stored and
    re-saved as JPEG (quality 75 or 95), and rendered scenes, all stay below the synthetic threshold."""
    images = [render_scene(np.random.default_rng(s), (384, 288)) for s in range(6)]
    images.append(cv2.imread(str(ASSETS / "astronaut_original.jpg"))[..., ::-1])
    try:
        from data_builders.synth.real_splices import load_photos

        images += [img for _, img in load_photos()]
    except RuntimeError:  # scikit-image missing: the shipped photo and the scenes still run
        pass
    images = [np.ascontiguousarray(img[:640, :640]) for img in images]  # keeps the test quick
    images += [decode_bytes(encode_jpeg(img, q)) for img, q in zip(list(images), [75, 95] * len(images))]
    probs = [synthetic_probability(spectral_cue(img).cue) for img in images]
    assert max(probs) < 0.5, probs


@pytest.mark.parametrize("upsampling", ["nearest", "bilinear"])
def test_interpolated_images_fire_the_cue(upsampling):
    assert synthetic_probability(spectral_cue(_generated(1, upsampling)).cue) > 0.5


def test_detect_writes_a_synthetic_verdict_with_an_empty_mask(generated_png, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "generated.png").write_bytes(generated_png.read_bytes())
    (folder / "photo.jpg").write_bytes((ASSETS / "astronaut_original.jpg").read_bytes())
    out = tmp_path / "preds"
    assert main(["detect", str(folder), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    rows = {r["id"]: r for r in iter_predictions(out)}
    gen, photo = rows["generated"], rows["photo"]
    assert gen["verdict"] == "synthetic" and gen["regions"] == []
    assert gen["mask"] is None or not read_mask_png(out, gen["mask"]).any()
    _no_place_no_edit(gen["explanation"])
    assert photo["verdict"] == "authentic"


def test_chat_follow_ups_about_a_generated_image_name_no_place(generated_png, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Is this image edited?\n" + "\n".join(FOLLOW_UPS) + "\n"))
    assert main(["chat", str(generated_png), "--out", str(tmp_path / "o"), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 1 + len(FOLLOW_UPS)
    for row in rows:
        assert row["verdict"] == "synthetic"
        _no_place_no_edit(row["explanation"])


def test_backend_answers_carry_the_three_scores(generated_png):
    backend = ClassicalBackend()
    prepared = backend.prepare(cv2.imread(str(generated_png))[..., ::-1].copy(), str(generated_png))
    messages = [{"role": "user", "content": "Is this image edited?"}]
    first = backend.respond(prepared, messages).result
    assert first.verdict == "synthetic" and not first.mask.any()
    assert first.scores == pytest.approx(prepared.scores)
    assert first.score == pytest.approx(1 - prepared.scores["authentic"])
    messages += [{"role": "assistant", "content": first.explanation}, {"role": "user", "content": "Where?"}]
    reply = backend.respond(prepared, messages).result
    assert reply.verdict == "synthetic" and "no region" in reply.explanation
