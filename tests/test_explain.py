"""Mask-grounded explanations: the location words are right for a mask at a known place and parse back."""

import itertools

import numpy as np
import pytest

from data_builders.explain import check_grounding, explain, facts_from, rng_for
from data_builders.explain import phrases as P
from data_builders.explain.explainer import ALTERNATES
from xforge.data.conversations import SEG_TOKEN
from xforge.location import BAND_NAMES, CELL_NAMES, parse_location, verdict_from_text


def _mask_at(rows, cols, size=(300, 450)):
    """A mask filling the given grid rows/cols (0..2) of an image of ``size`` (h, w)."""
    h, w = size
    m = np.zeros(size, np.uint8)
    for r, c in itertools.product(rows, cols):
        m[r * h // 3 + 10 : (r + 1) * h // 3 - 10, c * w // 3 + 10 : (c + 1) * w // 3 - 10] = 1
    return m


@pytest.mark.parametrize("cell", sorted(CELL_NAMES))
def test_single_cell_named_and_parsed_back(cell):
    mask = _mask_at([cell[0]], [cell[1]])
    facts = facts_from("tampered", mask, ["splice"])
    assert facts.location.cells == {cell}
    for salt in range(6):
        text = explain(facts, rng_for("s", salt)).text()
        assert parse_location(text) == {cell}, text
        # The canonical or an accepted alternate wording of the cell appears in the text.
        name = CELL_NAMES[cell]
        assert any(w in text for w in (name, *ALTERNATES.get(name, ()))), text


def test_known_places_in_words():
    upper_left = facts_from("tampered", _mask_at([0], [0]), ["removal"])
    lower_band = facts_from("tampered", _mask_at([2], [0, 1, 2]), ["splice"])
    right_half = facts_from("tampered", _mask_at([0, 1, 2], [1, 2]), ["copy-move"])
    texts = [explain(f, rng_for("k")).text() for f in (upper_left, lower_band, right_half)]
    assert "upper left" in texts[0] or "top left" in texts[0]
    assert "lower third" in texts[1] or "bottom third" in texts[1]
    assert "right half" in texts[2]


@pytest.mark.parametrize(
    "rows, cols", [([0], [0, 1]), ([1, 2], [0]), ([0, 1, 2], [0, 1, 2]), ([0], [0, 1, 2]), ([1], [1, 2])]
)
def test_multi_cell_masks_parse_back(rows, cols):
    mask = _mask_at(rows, cols)
    facts = facts_from("tampered", mask, ["splice"])
    for salt in range(5):
        text = explain(facts, rng_for("m", salt)).text()
        assert check_grounding(text, facts.location), text


def test_random_masks_parse_back_exactly():
    rng = np.random.default_rng(0)
    kinds = ["splice", "copy-move", "removal", "inpainting", "ai-edit", "unknown"]
    for i in range(60):
        m = np.zeros((240, 320), np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            x, y = int(rng.integers(0, 280)), int(rng.integers(0, 200))
            m[y : y + int(rng.integers(10, 80)), x : x + int(rng.integers(10, 100))] = 1
        meta = {
            "postprocess": [
                {"op": "resize", "factor": 0.7, "size": [224, 168]},
                {"op": "jpeg", "quality": 71},
            ]
        }
        facts = facts_from("tampered", m, [kinds[i % len(kinds)]], meta)
        exp = explain(facts, rng_for(f"r{i}"))
        for seg in (True, False):
            text = exp.text(seg=seg)
            assert check_grounding(text, facts.location), text
            assert verdict_from_text(text) == "tampered", text
            assert text.count(SEG_TOKEN) == int(seg)


def test_authentic_and_synthetic_verdicts():
    for salt in range(20):
        a = explain(facts_from("authentic", None), rng_for("a", salt)).text()
        assert verdict_from_text(a) == "authentic", a
        assert SEG_TOKEN not in a and parse_location(a) == frozenset()
        s = explain(facts_from("synthetic", None), rng_for("s", salt)).text()
        assert verdict_from_text(s) == "synthetic", s
        assert SEG_TOKEN not in s and parse_location(s) == frozenset()


def test_every_verdict_sentence_reads_back():
    for v in P.TAMPERED_VERDICTS:
        assert verdict_from_text(v) == "tampered", v
    for v in P.SYNTHETIC_VERDICTS:
        assert verdict_from_text(v) == "synthetic", v
    for v in P.AUTHENTIC_VERDICTS:
        assert verdict_from_text(v) == "authentic", v


def test_phrase_banks_name_no_place_and_no_verdict_flip():
    banks = [P.AUTHENTIC_CUES, *P.WHAT.values(), *P.CUES.values(), P.CUE_INTROS, P.AUTHENTIC_CUE_INTROS]
    for phrase in itertools.chain(*banks):
        assert parse_location(phrase) == frozenset(), phrase
    for phrase in itertools.chain(*P.WHAT.values(), *P.CUES.values()):
        # an edit's description never reads as "no edit" nor as "generated as a whole" (inpainting included)
        assert verdict_from_text(phrase) not in ("authentic", "synthetic"), phrase


def test_alternate_wordings_parse_to_the_same_cells():
    canonical = {
        **{v: frozenset({k}) for k, v in CELL_NAMES.items()},
        **{v: k for k, v in BAND_NAMES.items()},
    }
    for name, alternates in ALTERNATES.items():
        for alt in alternates:
            assert parse_location(alt) == canonical[name] == parse_location(name), alt


def test_phrasing_varies():
    facts = facts_from("tampered", _mask_at([1], [1]), ["splice"])
    texts = {explain(facts, rng_for(f"v{i}")).text() for i in range(40)}
    assert len(texts) >= 35
    verdicts = {t.split(".")[0] for t in texts}
    assert len(verdicts) >= 5


def test_multi_source_and_copy_move_facts():
    m = np.zeros((300, 300), np.uint8)
    m[10:60, 10:60] = 1
    m[220:290, 220:290] = 2
    f = facts_from(
        "tampered",
        m,
        ["splice", "multi-source"],
        {"sources": [{"donor_jpeg_quality": 60}]},
        multi_source=True,
    )
    assert f.kind == "multi-source" and f.n_regions == 2
    assert [s.cells for s in f.sources] == [{(0, 0)}, {(2, 2)}]
    text = explain(f, rng_for("ms")).text()
    assert "two" in text and check_grounding(text, f.location)
    cm = np.zeros((300, 300), np.uint8)
    cm[200:260, 200:260] = 1
    meta = {
        "source_box": [10, 10, 40, 40],
        "rotation_deg": 20.0,
        "scale": 1.0,
        "postprocess": [{"op": "resize", "factor": 0.5, "size": [150, 150]}],
    }
    f = facts_from("tampered", cm[::2, ::2], ["copy-move"], meta)
    assert f.copy_source.cells == {(0, 0)}
    assert "rotated by about 20 degrees" in explain(f, rng_for("cm")).what


def test_multi_source_label_without_labelled_mask():
    # A dataset may say "multi-source" with a plain 0/1 mask: the count comes from the regions, never 0.
    m = _mask_at([0], [0])
    for salt in range(10):
        text = explain(facts_from("tampered", m, ["multi-source"]), rng_for("x", salt)).text()
        assert " 0 " not in text and "zero" not in text
