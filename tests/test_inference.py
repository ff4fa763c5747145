"""Detector API with the classical forensic engine (the weight-free default)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from inference_helpers import CountingEngine

from xforge import Detector
from xforge.data.images import ImageReadError
from xforge.inference import AnalysisResult, ChatSession
from xforge.inference.classical_backend import ClassicalBackend
from xforge.inference.overlay import make_overlay, write_overlay
from xforge.inference.result import regions_from_mask


def scene(size: int = 256, seed: int = 0) -> np.ndarray:
    """A camera-like test picture: texture at three scales (so keypoints are distinctive) and sensor noise."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 128.0, np.float32)
    for sigma, amplitude in ((1.5, 25), (4, 45), (12, 60)):
        layer = cv2.GaussianBlur(rng.normal(0, 1, img.shape).astype(np.float32), (0, 0), sigma)
        img += amplitude * layer / layer.std()
    img += rng.normal(0, 2.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def copy_moved(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image with a textured block pasted elsewhere in it (a copy-move), and the ground-truth mask."""
    out = image.copy()
    h, w = image.shape[:2]
    s = h // 4
    out[h - s - 16 : h - 16, w - s - 16 : w - 16] = image[16 : 16 + s, 16 : 16 + s]
    mask = np.zeros((h, w), np.uint8)
    mask[h - s - 16 : h - 16, w - s - 16 : w - 16] = 1
    return out, mask


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.default()


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    authentic = scene()
    tampered, mask = copy_moved(authentic)
    return {"authentic": authentic, "tampered": tampered, "mask": mask}


def _check_result(res: AnalysisResult, image: np.ndarray) -> None:
    h, w = image.shape[:2]
    assert res.engine == "classical"
    assert res.verdict in ("tampered", "authentic")
    assert 0.0 <= res.score <= 1.0
    assert res.mask.dtype == np.uint8 and res.mask.shape == (h, w)
    assert set(np.unique(res.mask)) <= {0, 1}
    assert res.prob_map.dtype == np.float32 and res.prob_map.shape == (h, w)
    assert sum(r["area"] for r in res.regions) == int(res.mask.sum())
    assert "classical" in res.explanation.lower()


def test_default_engine_finds_a_copy_move(detector, images):
    res = detector.analyze(images["tampered"])
    _check_result(res, images["tampered"])
    assert res.verdict == "tampered"
    assert res.score >= 0.5
    # The mask overlaps the pasted block (the engine may also mark where it was copied from).
    truth = images["mask"].astype(bool)
    assert (res.mask.astype(bool) & truth).sum() >= 0.3 * truth.sum()
    assert res.regions and all(len(r["box"]) == 4 for r in res.regions)


def test_default_engine_calls_an_untouched_image_authentic(detector, images):
    res = detector.analyze(images["authentic"])
    _check_result(res, images["authentic"])
    assert res.verdict == "authentic"
    assert res.score < 0.5


def test_analyze_accepts_paths_and_names_unreadable_files(detector, images, tmp_path):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), cv2.cvtColor(images["tampered"], cv2.COLOR_RGB2BGR))
    res = detector.analyze(path, question="Was this photo changed?")
    assert res.question == "Was this photo changed?"
    assert res.mask.shape == images["tampered"].shape[:2]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageReadError, match="broken.jpg"):
        detector.analyze(bad)


def test_classical_chat_analyses_once_and_answers_follow_ups_from_evidence(images):
    counting = CountingEngine()
    session = Detector(ClassicalBackend(counting)).chat(images["tampered"])
    assert isinstance(session, ChatSession)
    first = session.ask("Is this image edited?")
    where = session.ask("Where exactly?")
    why = session.ask("Why do you think so?")
    assert counting.calls == 1
    assert [q for q, _ in session.history] == [
        "Is this image edited?",
        "Where exactly?",
        "Why do you think so?",
    ]
    assert [m["role"] for m in session.messages] == ["user", "assistant"] * 3
    assert session.messages[0]["content"][0] == {"type": "image"}
    for answer in (where, why):
        assert "classical" in answer.explanation.lower()
        assert answer.verdict == first.verdict
        np.testing.assert_array_equal(answer.mask, first.mask)
    assert where.explanation != why.explanation
    if first.verdict == "tampered":
        from xforge.location import parse_location

        assert parse_location(where.explanation), where.explanation


def test_switching_images_starts_a_new_conversation(images, tmp_path):
    counting = CountingEngine()
    session = Detector(ClassicalBackend(counting)).chat(images["tampered"])
    session.ask("Is this image edited?")
    with pytest.raises(ImageReadError):
        session.set_image(tmp_path / "missing.png")
    assert len(session.messages) == 2  # a failed switch keeps the conversation
    session.set_image(images["authentic"])
    assert session.messages == [] and session.last_result is None
    session.ask("And this one?")
    assert counting.calls == 2
    with pytest.raises(ValueError, match="empty"):
        session.ask("   ")


def test_regions_and_overlay(tmp_path):
    mask = np.zeros((40, 60), np.uint8)
    mask[5:10, 5:15] = 1
    mask[20:35, 30:50] = 1
    regions = regions_from_mask(mask)
    assert regions == [{"box": [30, 20, 50, 35], "area": 300}, {"box": [5, 5, 15, 10], "area": 50}]
    image = np.full((40, 60, 3), 100, np.uint8)
    over = make_overlay(image, mask)
    assert over.shape == image.shape and over.dtype == np.uint8
    assert over[27, 40, 0] > over[27, 40, 1]  # tinted red inside
    np.testing.assert_array_equal(over[0, 0], image[0, 0])  # untouched far outside
    path = write_overlay(tmp_path / "o.png", image, mask)
    back = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(back, over)
    with pytest.raises(ValueError, match="mask shape"):
        make_overlay(image, mask[:10])


def test_result_validates_its_fields():
    prob = np.zeros((8, 8), np.float32)
    prob[2:4, 2:4] = 0.9
    res = AnalysisResult(verdict="tampered", score=1.7, prob_map=prob, explanation="x", engine="model")
    assert res.score == 1.0 and int(res.mask.sum()) == 4 and res.regions[0]["area"] == 4
    assert res.to_dict()["mask_area"] == 4
    with pytest.raises(ValueError, match="verdict"):
        AnalysisResult(verdict="maybe", score=0.5, prob_map=prob, explanation="", engine="model")


def test_results_and_old_prediction_lines_derive_scores_by_one_rule():
    """Without ``scores`` a result and an older predictions line get the same three probabilities."""
    from xforge.predictions import complete_prediction

    prob = np.zeros((8, 8), np.float32)
    for verdict, expected in (
        ("tampered", {"authentic": 0.2, "tampered": 0.8, "synthetic": 0.0}),
        ("synthetic", {"authentic": 0.2, "tampered": 0.0, "synthetic": 0.8}),
    ):
        res = AnalysisResult(verdict=verdict, score=0.8, prob_map=prob, explanation="x", engine="model")
        line = complete_prediction({"id": "a", "verdict": verdict, "score": 0.8})
        for scores in (res.scores, line["scores"]):
            assert scores == pytest.approx(expected)


@pytest.mark.parametrize(
    "question, topic",
    [
        ("Why do you think so?", "why"),
        ("Which cues give it away?", "why"),
        ("How can you tell?", "why"),
        ("What kind of edit is it?", "kind"),
        ("Was it spliced, cloned or removed?", "kind"),
        ("How big is the edited area?", "size"),
        ("How many regions were changed?", "count"),
        ("Is the upper left part of the image edited?", "cell"),
        ("How sure are you?", "confidence"),
        ("Where exactly?", "where"),
        ("Thanks!", None),
    ],
)
def test_follow_up_topics(question, topic):
    from xforge.inference.classical_answers import topic_of

    assert topic_of(question) == topic


def test_follow_up_answers_come_from_the_evidence(images):
    from xforge.forensics import ForensicEngine
    from xforge.inference.classical_answers import answer_follow_up

    res = ForensicEngine().analyze(images["tampered"])
    assert res.verdict == "tampered"
    where = answer_follow_up(res, "Where?")
    assert "lower right" in where
    assert answer_follow_up(res, "Is the lower right part of the image edited?").endswith(
        "lies in the lower right."
    )
    assert "no, nothing" in answer_follow_up(res, "Is the upper right part of the image edited?")
    assert "copy-move" in answer_follow_up(res, "What kind of edit is it?")
    why = answer_follow_up(res, "Why?").splitlines()
    assert why[1].startswith("- copy-move matching: +")  # the strongest cue first
    assert "keypoint matches" in why[1] and "upper left" in why[1]
    from xforge.forensics.fusion import CUES, weighted_cues

    assert len(why) == 1 + len(CUES)  # a line per cue: fused ones with their share, the rest "reported only"
    assert sum("reported only" in line for line in why) == len(CUES) - len(weighted_cues())
    assert f"{res.score:.2f}" in answer_follow_up(res, "How sure are you?")
    assert "one connected region" in answer_follow_up(res, "How many regions were changed?")
    for q in ("Where?", "Hello", "Why?", "How big is it?"):
        assert answer_follow_up(res, q).startswith("Classical forensic engine")


def test_model_text_is_shown_without_seg():
    from xforge.inference.model_backend import _clean_text

    text = "Yes. The lower right was pasted in <SEG>.\nIt is small <SEG> , compact."
    assert _clean_text(text) == "Yes. The lower right was pasted in.\nIt is small, compact."


def test_a_follow_up_without_a_mask_keeps_the_region_under_discussion():
    from xforge.inference.backend import Backend, Reply, last_user_text

    class Scripted(Backend):
        """Draws a mask on the first turn only, as a model answering "why?" does."""

        engine = "model"

        def prepare(self, image, source_path=None):
            return image.shape[:2]

        def respond(self, prepared, messages):
            first = len(messages) == 1
            prob = np.zeros(prepared, np.float32)
            if first:
                prob[:4, :4] = 0.9
            res = AnalysisResult(
                "tampered", 0.9, prob, "text", self.engine, question=last_user_text(messages)
            )
            return Reply(res, "text <SEG>" if first else "text", new_mask=first)

    session = Detector(Scripted()).chat(np.zeros((8, 8, 3), np.uint8))
    first, second = session.ask("Where?"), session.ask("Why?")
    assert int(second.mask.sum()) == 16 and second.regions == first.regions
    assert session.messages[1]["content"][0]["text"] == "text <SEG>"  # history keeps what the model said
