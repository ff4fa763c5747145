"""Explanation and grounding metrics against hand computations and their libraries' plain use."""

from __future__ import annotations

import numpy as np
import pytest

from eval.metrics import explanation as xm
from eval.metrics.grounding import grounding_agreement, grounding_consistent, read_claim
from eval.references import load_references
from xforge.data.manifest import write_jsonl
from xforge.data.schema import SampleRecord


def _lcs(a, b):
    t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            t[i + 1][j + 1] = t[i][j] + 1 if x == y else max(t[i][j + 1], t[i + 1][j])
    return t[-1][-1]


def test_tokenize_drops_seg_and_punctuation():
    assert xm.tokenize("Yes. The UPPER-left was edited <SEG>.") == [
        "yes",
        "the",
        "upper",
        "left",
        "was",
        "edited",
    ]


def test_rouge_l_equals_lcs_f_measure():
    hyp, ref = "the upper left region was spliced", "a spliced region sits in the upper left"
    h, r = xm.tokenize(hyp), xm.tokenize(ref)
    lcs = _lcs(h, r)
    p, rec = lcs / len(h), lcs / len(r)
    assert xm.rouge_l_scores([hyp], [[ref]])[0] == pytest.approx(2 * p * rec / (p + rec))
    # best of several references
    assert xm.rouge_l_scores([hyp], [["unrelated words", hyp]])[0] == 1.0


def test_bleu4_identical_is_one_and_unrelated_near_zero():
    refs = [["the lower right corner was edited with a copy move"]]
    assert xm.bleu4(["the lower right corner was edited with a copy move"], refs) == pytest.approx(1.0)
    assert xm.bleu4(["nothing in common here at all"], refs) < 0.05
    assert xm.bleu4([], []) is None


def test_meteor_uses_exact_and_stem_matches_but_no_synonyms():
    ref = [["the", "image", "was", "edited"]]
    exact = xm.meteor_scores(["the image was edited"], [[" ".join(ref[0])]])[0]
    stem = xm.meteor_scores(["the image was editing"], [[" ".join(ref[0])]])[0]
    synonym = xm.meteor_scores(["the picture was edited"], [[" ".join(ref[0])]])[0]
    assert exact > 0.9 and stem == pytest.approx(exact)  # "editing" and "edited" share the Porter stem "edit"
    assert synonym < exact  # picture/image would match only through WordNet, which is disabled
    assert xm.meteor_scores([""], [["anything"]]) == [0.0]
    assert "WordNet" in xm.METEOR_LABEL


def test_cider_matches_toolkit_conventions():
    refs = [
        ["a spliced region in the upper left"],
        ["no sign of editing was found"],
        ["the lower right was cloned"],
    ]
    score, per = xm.cider([r[0] for r in refs], refs)
    assert per == pytest.approx([10.0, 10.0, 10.0]) and score == pytest.approx(10.0)
    worse, _ = xm.cider(["a region", "editing", "cloned"], refs)
    assert 0 <= worse < score
    single, _ = xm.cider(["same text"], [["same text"]])
    assert single == 0.0  # IDF from a one-image set is log(1/1) = 0, documented


def test_css_uses_the_offline_model():
    hyps = ["The upper left corner was spliced in.", "Completely unrelated sentence about cooking pasta."]
    refs = [
        ["The upper left corner was spliced in."],
        ["A region in the upper left was pasted from another photo."],
    ]
    s = xm.css_scores(hyps, refs)
    assert s[0] == pytest.approx(1.0, abs=1e-5) and s[1] < 0.5
    assert xm.css_scores([""], [["anything"]]) == [0.0]


def _mask(cells):
    m = np.zeros((90, 90), np.uint8)
    for r, c in cells:
        m[r * 30 + 5 : r * 30 + 25, c * 30 + 5 : c * 30 + 25] = 1
    return m


def test_grounding_rules():
    ul = _mask([(0, 0)])
    empty = np.zeros((90, 90), np.uint8)
    assert read_claim("The image was edited in the upper left.") == ("tampered", frozenset({(0, 0)}))
    assert grounding_consistent("The image was edited in the upper left.", ul) is True
    assert grounding_consistent("The image was edited in the lower right.", ul) is False
    assert grounding_consistent("The image was edited.", ul) is False  # edited, but names no place
    assert grounding_consistent("No signs of editing were found.", empty) is True
    assert grounding_consistent("No signs of editing were found.", ul) is False
    assert grounding_consistent("The image was edited in the upper left.", empty) is False
    assert grounding_consistent("A cat on a sofa.", ul) is None  # no claim at all
    two = _mask([(0, 0), (0, 1)])
    assert grounding_agreement("Spliced object in the upper left.", two) == 0.5
    assert grounding_consistent("Spliced object in the upper left.", two, min_agreement=0.5) is True
    assert grounding_consistent("Spliced object in the upper left.", two, min_agreement=0.6) is False


def test_references_from_manifest_meta_and_files(tmp_path):
    recs = [
        SampleRecord(
            id="a", dataset="d", split="test", image="a.png", label="authentic", meta={"explanation": "x"}
        ),
        SampleRecord(id="b", dataset="d", split="test", image="b.png", label="authentic"),
    ]
    write_jsonl(
        tmp_path / "refs.jsonl",
        [
            {"id": "b", "references": ["y1", "y2"]},
            {
                "sample_id": "a",
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "q"}]},
                    {"role": "assistant", "content": [{"type": "text", "text": "edited <SEG>."}]},
                ],
            },
        ],
    )
    refs = load_references(recs, [tmp_path / "refs.jsonl"])
    assert refs == {"a": ["x", "edited <SEG>."], "b": ["y1", "y2"]}
