"""The conversation record contract (xforge/data/conversations.py)."""

import json

import pytest

from xforge.data.conversations import (
    SEG_TOKEN,
    ConversationError,
    ConversationRecord,
    assistant_message,
    read_conversations,
    user_message,
    write_conversations,
)
from xforge.data.manifest import ManifestError


def _tampered(**kw):
    base = dict(
        sample_id="synth/000001",
        stage=2,
        dataset="synth",
        split="train",
        image="images/000001.jpg",
        mask="masks/000001.png",
        mask_format="white_forged",
        label="tampered",
        manipulation=["splice"],
        messages=[
            user_message("Is this image edited? Where?", with_image=True),
            assistant_message(f"Yes. A region in the upper left was spliced in {SEG_TOKEN}."),
        ],
        seg_targets=["all"],
    )
    base.update(kw)
    return ConversationRecord(**base)


def test_roundtrip(tmp_path):
    authentic = ConversationRecord(
        sample_id="synth/000002",
        stage=2,
        dataset="synth",
        split="train",
        image="images/000002.jpg",
        label="authentic",
        messages=[user_message("Edited?", with_image=True), assistant_message("No edit was found.")],
    )
    path = tmp_path / "c.jsonl"
    assert write_conversations(path, [_tampered(), authentic.to_dict()]) == 2
    rows = read_conversations(path)
    assert rows[0] == _tampered() and rows[1] == authentic
    first = json.loads(path.read_text().splitlines()[0])
    assert first["messages"][0]["content"][0] == {"type": "image"}
    assert first["seg_targets"] == ["all"]


def test_contract_example_without_meta_reads():
    data = _tampered().to_dict()
    del data["meta"]
    assert ConversationRecord.from_dict(data).meta == {}


@pytest.mark.parametrize(
    "kw, problem",
    [
        (dict(seg_targets=[]), "seg_targets"),
        (dict(seg_targets=["all", 1]), "seg_targets"),
        (dict(seg_targets=[0]), "source index"),
        (dict(mask=None, mask_format=None), "no mask"),
        (dict(label="authentic"), "authentic"),
        (dict(image="/abs/x.jpg"), "relative"),
        (dict(stage=4), "stage"),
        (dict(messages=[assistant_message("x <SEG>")]), "image placeholder"),
        (
            dict(
                messages=[
                    user_message(f"{SEG_TOKEN}?", with_image=True),
                    assistant_message(f"ok {SEG_TOKEN}"),
                ]
            ),
            "assistant turns",
        ),
    ],
)
def test_contract_violations_are_named(kw, problem):
    with pytest.raises(ConversationError, match=problem):
        _tampered(**kw)


def test_bad_line_names_file_and_record(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = json.dumps(_tampered().to_dict())
    bad = json.dumps({**_tampered().to_dict(), "seg_targets": []})
    path.write_text(good + "\n" + bad + "\n")
    with pytest.raises(ManifestError, match=r"bad.jsonl: record 2"):
        read_conversations(path)
