"""Stage 1/2/3 conversation builders over a generated synthetic manifest."""

import cv2
import numpy as np
import pytest

from data_builders.stages import build_file, build_records
from data_builders.synth import SynthConfig, generate, list_folder
from data_builders.synth.scene import render_scene
from xforge.data.conversations import SEG_TOKEN, read_conversations
from xforge.data.manifest import read_manifest
from xforge.data.masks import decode_mask
from xforge.data.schema import SampleRecord
from xforge.location import cells_of_mask, parse_location, verdict_from_text


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    for i in range(6):
        cv2.imwrite(str(src / f"p{i}.png"), render_scene(np.random.default_rng(i), (192, 144))[..., ::-1])
    out = tmp_path_factory.mktemp("synth")
    cfg = SynthConfig(kinds=("splice", "copy-move", "removal", "multi", "authentic"))
    generate(list_folder(src), out, 40, cfg, seed=0)
    return out, read_manifest(out / "manifest.jsonl")


def _texts(record, role="assistant"):
    return [
        c["text"] for m in record.messages if m["role"] == role for c in m["content"] if c["type"] == "text"
    ]


def _mask(root, rec):
    return decode_mask(root / rec.mask, rec.mask_format) > 0


@pytest.mark.parametrize("stage", [2, 3])
def test_seg_only_and_always_for_tampered(synth, stage):
    root, records = synth
    rows, report = build_records(records, {"synth": root}, stage, per_sample=3)
    assert len(rows) == 3 * len(records) and not report["skipped"]
    by_id = {r.id: r for r in records}
    for row in rows:
        answers = _texts(row)
        if row.label == "authentic":
            assert all(SEG_TOKEN not in a for a in answers), answers
            assert row.mask is None and row.seg_targets == []
            assert verdict_from_text(answers[0]) == "authentic", answers[0]
        else:
            assert SEG_TOKEN in answers[0], answers[0]
            assert row.mask == by_id[row.sample_id].mask
            assert verdict_from_text(answers[0]) == "tampered", answers[0]
            # The first answer names exactly the mask's cells.
            assert parse_location(answers[0]) == cells_of_mask(_mask(root, by_id[row.sample_id])), answers[0]
        assert sum(a.count(SEG_TOKEN) for a in answers) == len(row.seg_targets)


def test_stage1_segments_tampered_only(synth):
    root, records = synth
    rows, report = build_records(records, {"synth": root}, 1, per_sample=4)
    assert rows and all(r.label == "tampered" and r.seg_targets for r in rows)
    assert report["not_used_in_stage"] == {"authentic": sum(r.label == "authentic" for r in records)}
    tasks = {r.meta["task"] for r in rows}
    assert {"segment", "caption"} <= tasks
    for r in rows:
        answer = _texts(r)[0]
        if r.meta["task"] == "caption":
            assert parse_location(answer) == cells_of_mask(_mask(root, r)), answer
        else:
            assert parse_location(answer) == frozenset(), answer
        if r.meta["task"] == "segment_source":
            assert r.seg_targets[0] >= 1 and r.mask_format == "multi_source_gray"
            src = decode_mask(root / r.mask, r.mask_format) == r.seg_targets[0]
            assert parse_location(_texts(r, "user")[0]) == cells_of_mask(src)


def test_stage3_is_multi_turn_and_grounded(synth):
    root, records = synth
    rows, _ = build_records(records, {"synth": root}, 3, per_sample=4)
    assert all(len(_texts(r)) >= 2 for r in rows)
    questions = {q for r in rows for q in _texts(r, "user")}
    assert len(questions) >= 30
    # Per-source masks appear for multi-source composites whose pieces sit in distinct cells.
    assert any(any(isinstance(t, int) for t in r.seg_targets) for r in rows)
    for r in rows:
        if r.label == "authentic":
            assert all(verdict_from_text(a) == "authentic" for a in _texts(r)[1:] if "no" in a.lower()[:3])


def test_stage3_replay_marks_stage2_records(synth):
    root, records = synth
    rows, _ = build_records(records, {"synth": root}, 3, replay=1.0)
    assert all(r.stage == 3 and r.meta["replay"] == "stage2" and len(_texts(r)) == 1 for r in rows)


def test_build_is_deterministic_and_written(synth, tmp_path):
    root, _ = synth
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    build_file(root / "manifest.jsonl", a, 3, {"synth": root}, seed=1)
    build_file(root / "manifest.jsonl", b, 3, {"synth": root}, seed=1)
    assert a.read_bytes() == b.read_bytes()
    assert len(read_conversations(a)) == 40
    c = tmp_path / "c.jsonl"
    build_file(root / "manifest.jsonl", c, 3, {"synth": root}, seed=2)
    assert c.read_bytes() != a.read_bytes()


def test_unusable_records_are_skipped_with_reasons(synth, tmp_path):
    root, records = synth
    tampered = next(r for r in records if r.label == "tampered")
    no_mask = SampleRecord(
        id="x/no-mask", dataset="synth", split="train", image=tampered.image, label="tampered"
    )
    missing = SampleRecord(
        id="x/missing",
        dataset="synth",
        split="train",
        image=tampered.image,
        label="tampered",
        mask="masks/none.png",
        mask_format="white_forged",
    )
    (root / "masks" / "blank.png").write_bytes(cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes())
    blank = SampleRecord(
        id="x/blank",
        dataset="synth",
        split="train",
        image=tampered.image,
        label="tampered",
        mask="masks/blank.png",
        mask_format="white_forged",
    )
    rows, report = build_records([no_mask, missing, blank, tampered], {"synth": root}, 2)
    assert len(rows) == 1
    reasons = {s["id"]: s["reason"] for s in report["skipped"]}
    assert "no mask" in reasons["x/no-mask"]
    assert "none.png" in reasons["x/missing"]
    assert "marks no pixel" in reasons["x/blank"]


def test_synthetic_label_gets_a_verdict_without_mask(synth):
    root, records = synth
    rec = SampleRecord(
        id="gen/1",
        dataset="synth",
        split="train",
        image=records[0].image,
        label="synthetic",
        manipulation=["full-synthetic"],
    )
    for stage in (2, 3):
        rows, _ = build_records([rec], {"synth": root}, stage)
        assert rows[0].seg_targets == [] and verdict_from_text(_texts(rows[0])[0]) == "synthetic"


def test_known_object_is_named_in_answers(synth):
    root, records = synth
    base = next(r for r in records if r.manipulation == ["splice"])
    rec = SampleRecord.from_dict({**base.to_dict(), "meta": {**base.meta, "object_label": "person"}})
    rows, _ = build_records([rec], {"synth": root}, 3, per_sample=30)
    texts = [t for r in rows for t in _texts(r)]
    assert any("person" in t for t in texts)
    asked = [r for r in rows if any("person" in q for q in _texts(r, "user"))]
    assert asked, "the object follow-up was never asked"
    for r in asked:
        i = next(i for i, q in enumerate(_texts(r, "user")) if "person" in q)
        assert _texts(r)[i].startswith("Yes, the person") and SEG_TOKEN in _texts(r)[i]


def test_stage3_answers_name_only_the_edit_or_its_source(synth):
    root, records = synth
    rows, _ = build_records(records, {"synth": root}, 3, per_sample=4)
    by_id = {r.id: r for r in records}
    for row in rows:
        if row.label != "tampered":
            continue
        cells = cells_of_mask(_mask(root, by_id[row.sample_id]))
        for question, answer in zip(_texts(row, "user"), _texts(row)):
            named = parse_location(answer)
            if "copied from" in answer or "piece 1" in answer.lower() or "Yes, the" in answer:
                continue  # the copy's source, per-source pieces, or a single cell of the edit
            assert named in (frozenset(), cells), (question, answer)
