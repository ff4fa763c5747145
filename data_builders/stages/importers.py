"""Importers of public explanation corpora into stage-3 conversation records.

The formats are read as their projects publish them (field names below; other fields are ignored):

**FakeShield MMTD-Set** (Xu et al., ICLR 2025, github.com/zhipeixu/FakeShield), a JSON list in either form:

- LLaVA style (DTE-FDM training files): ``{"id", "image", "conversations": [{"from": "human", "value":
  "<image>\\n..."}, {"from": "gpt", "value": "..."}, ...]}``;
- MFLM style (``lisa_*_gt.json`` / ``lisa_*_output.json``): ``{"image", "query", "outputs"}``.

**SIDA SID-Set descriptions** (Huang et al., CVPR 2025): a JSON list (or JSONL, or a mapping image -> text) of
objects with the image under ``image`` / ``image_path`` / ``img_path`` / ``path`` / ``file_name``, the text
under ``description`` / ``explanation`` / ``text`` / ``caption`` / ``answer`` / ``output(s)``, optionally a
question (``question`` / ``query`` / ``prompt``), a label (``label`` / ``cls`` / ``class``: 0 or ``real``,
1 or ``full_synthetic``, 2 or ``tampered`` -- SID-Set's three classes) and a mask path (``mask``).

A corpus entry is joined to a manifest record (same image path, else same unique file name) for its label
and mask; without one, the label is read from the text (``xforge.location.verdict_from_text``). The corpus
text is kept; for tampered images the first answer gets a mask sentence with ``<SEG>`` if it has none.
SID-Set's three classes are kept (a ``synthetic`` record has no mask and no ``<SEG>``). Entries that cannot
be made true (tampered without a mask, a label contradicting the manifest, a generated image whose text names
a place or holds ``<SEG>``) are skipped with a reason.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from data_builders.explain.explainer import pick, rng_for
from data_builders.stages import questions as Q
from xforge.data.conversations import SEG_TOKEN, ConversationError, ConversationRecord
from xforge.data.manifest import ManifestError, iter_jsonl
from xforge.data.schema import SampleRecord
from xforge.location import parse_location, verdict_from_text

SEG_SENTENCES = (
    "The tampered region: {seg}.",
    "Mask of the edited area: {seg}.",
    "Here is the forged region: {seg}.",
)
_IMAGE_TOKEN = re.compile(r"\s*<image>\s*")
SIDA_LABELS = {
    0: "authentic",
    1: "synthetic",
    2: "tampered",
    "real": "authentic",
    "authentic": "authentic",
    "full_synthetic": "synthetic",
    "synthetic": "synthetic",
    "fake": "synthetic",
    "tampered": "tampered",
    "tampering": "tampered",
}


class CorpusError(ValueError):
    """A corpus file that cannot be read; the message names the file."""


def _load(path: Path) -> list[Any]:
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    if path.suffix == ".jsonl":
        try:
            return list(iter_jsonl(path))
        except ManifestError as exc:
            raise CorpusError(str(exc)) from None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: not valid JSON ({exc})") from None
    if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
        return [{"image": k, "description": v} for k, v in data.items()]
    if isinstance(data, dict):
        for key in ("data", "annotations", "items"):
            if isinstance(data.get(key), list):
                return data[key]
    if not isinstance(data, list):
        raise CorpusError(f"{path}: expected a JSON list of entries")
    return data


class ManifestIndex:
    """Find a manifest record by image path, else by file name (a path suffix decides between namesakes)."""

    def __init__(self, records: Iterable[SampleRecord]):
        self.by_path: dict[str, SampleRecord] = {}
        self.by_name: dict[str, list[SampleRecord]] = {}
        for r in records:
            self.by_path[r.image] = r
            self.by_name.setdefault(PurePosixPath(r.image).name, []).append(r)

    def find(self, image: str) -> SampleRecord | None:
        image = image.replace("\\", "/").removeprefix("./")
        if image in self.by_path:
            return self.by_path[image]
        same_name = self.by_name.get(PurePosixPath(image).name, [])
        if len(same_name) == 1:
            return same_name[0]
        matches = [r for r in same_name if image.endswith("/" + r.image) or r.image.endswith("/" + image)]
        return matches[0] if len(matches) == 1 else None


@dataclass(frozen=True)
class CorpusEntry:
    """One corpus entry read by a format's parser, before it is joined to the manifest."""

    sample_id: str
    image: str
    turns: list[tuple[str, str]]
    label: str | None = None
    mask: str | None = None


@dataclass(frozen=True)
class Skip:
    """Why a format's parser skips an entry; ``sample_id`` None = the entry has no id (its position is used)."""

    reason: str
    sample_id: str | None = None


EntryParser = Callable[[Any, str], "CorpusEntry | Skip"]


def _first(entry: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    return next((entry[k] for k in keys if entry.get(k) not in (None, "")), None)


def _conversation(
    sample_id: str,
    image: str,
    turns: list[tuple[str, str]],
    label: str,
    record: SampleRecord | None,
    dataset: str,
    mask: str | None,
    mask_format: str | None,
    source: str,
) -> ConversationRecord:
    turns = [(q, a) for q, a in turns]
    targets: list[str | int] = []
    if label == "tampered":
        n = sum(a.count(SEG_TOKEN) for _, a in turns)
        if n == 0:
            q, a = turns[0]
            turns[0] = (q, a.rstrip() + " " + pick(rng_for(sample_id), SEG_SENTENCES).format(seg=SEG_TOKEN))
            n = 1
        targets = ["all"] * n
    messages = []
    for i, (q, a) in enumerate(turns):
        content = ([{"type": "image"}] if i == 0 else []) + [{"type": "text", "text": q}]
        messages.append({"role": "user", "content": content})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": a}]})
    return ConversationRecord(
        sample_id=record.id if record else sample_id,
        stage=3,
        dataset=record.dataset if record else dataset,
        split=record.split if record else "train",
        image=record.image if record else image,
        label=label,
        messages=messages,
        mask=mask if targets else None,
        mask_format=mask_format if targets else None,
        manipulation=list(record.manipulation) if record else [],
        seg_targets=targets,
        meta={"imported_from": source},
    )


def _resolve(
    entry: CorpusEntry, index: ManifestIndex | None, dataset: str, mask_format: str, source: str
) -> ConversationRecord | str:
    """A record, or the reason the entry is skipped."""
    sample_id, image, turns, label, mask = entry.sample_id, entry.image, entry.turns, entry.label, entry.mask
    if not turns or not all(q is not None and a for q, a in turns):
        return "no question/answer text"
    text_label = verdict_from_text(turns[0][1])
    record = index.find(image) if index else None
    if index is not None and record is None:
        return f"image {image!r} is not in the manifest"
    if record is not None:
        if label is not None and label != record.label:
            return f"corpus label {label!r} disagrees with the manifest's {record.label!r}"
        if text_label is not None and (text_label == "authentic") != (record.label == "authentic"):
            return f"the text says {text_label!r} but the manifest says {record.label!r}"
        label, mask, mask_format = record.label, record.mask, record.mask_format
    label = label or text_label
    if label is None:
        return "no label given and the text states no verdict"
    if label == "tampered" and mask is None:
        return "tampered but no mask (pass a manifest that has the masks)"
    if label == "synthetic":
        # A generated image has no region: a text that names a place (even "the whole image") or holds
        # <SEG> would teach the model to locate something that is not there.
        for _, answer in turns:
            if SEG_TOKEN in answer or parse_location(answer):
                return f"a generated (synthetic) image has no region, but the text names one: {answer[:80]!r}"
    try:
        return _conversation(sample_id, image, turns, label, record, dataset, mask, mask_format, source)
    except ConversationError as exc:
        return str(exc)


def _clean_question(text: str) -> str:
    return _IMAGE_TOKEN.sub(" ", text).strip()


def _import(
    path: str | os.PathLike,
    parse: EntryParser,
    *,
    source: str,
    records: Iterable[SampleRecord] | None,
    dataset: str,
    mask_format: str,
) -> tuple[list[ConversationRecord], list[dict[str, str]]]:
    """Parse each entry of ``path`` with ``parse(entry, dataset)``, join it to ``records``; (records, skipped)."""
    path = Path(path)
    index = ManifestIndex(records) if records is not None else None
    rows, skipped = [], []
    for n, raw in enumerate(_load(path)):
        entry = parse(raw, dataset)
        if isinstance(entry, Skip):
            skipped.append({"id": entry.sample_id or f"{path.name}#{n}", "reason": entry.reason})
            continue
        result = _resolve(entry, index, dataset, mask_format, source)
        if isinstance(result, str):
            skipped.append({"id": entry.sample_id, "reason": result})
        else:
            rows.append(result)
    return rows, skipped


def _fakeshield_entry(entry: Any, dataset: str) -> CorpusEntry | Skip:
    """An MMTD-Set entry, LLaVA style (``conversations``) or MFLM style (``query`` / ``outputs``)."""
    if not isinstance(entry, dict) or not entry.get("image"):
        return Skip("entry without an image")
    image = str(entry["image"])
    sample_id = str(entry.get("id") or f"{dataset}/{image}")
    if "conversations" in entry:
        conv = entry["conversations"] or []
        humans = [_clean_question(c.get("value", "")) for c in conv if c.get("from") == "human"]
        gpts = [c.get("value", "") for c in conv if c.get("from") == "gpt"]
        turns = list(zip(humans, gpts))
    else:
        question = str(entry.get("query") or pick(rng_for(sample_id), Q.EXPLAIN))
        turns = [(_clean_question(question), entry.get("outputs"))]
    return CorpusEntry(sample_id, image, turns, mask=entry.get("mask"))


def _sida_entry(entry: Any, dataset: str) -> CorpusEntry | Skip:
    """A SID-Set description entry (field names in the module docstring)."""
    image = (
        _first(entry, ("image", "image_path", "img_path", "path", "file_name", "filename"))
        if isinstance(entry, dict)
        else None
    )
    if image is None:
        return Skip("entry without an image")
    image = str(image)
    sample_id = f"{dataset}/{image}"
    text = _first(entry, ("description", "explanation", "text", "caption", "answer", "output", "outputs"))
    question = _first(entry, ("question", "query", "prompt")) or pick(rng_for(sample_id), Q.EXPLAIN)
    raw_label = _first(entry, ("label", "cls", "class"))
    if isinstance(raw_label, str) and raw_label.strip().isdigit():
        raw_label = int(raw_label)
    label = SIDA_LABELS.get(raw_label.lower() if isinstance(raw_label, str) else raw_label)
    if raw_label is not None and label is None:
        return Skip(f"unknown label {raw_label!r}", sample_id)
    return CorpusEntry(sample_id, image, [(_clean_question(str(question)), text)], label, entry.get("mask"))


def import_fakeshield(
    path: str | os.PathLike,
    *,
    records: Iterable[SampleRecord] | None = None,
    dataset: str = "mmtd",
    mask_format: str = "white_forged",
) -> tuple[list[ConversationRecord], list[dict[str, str]]]:
    """Read an MMTD-Set JSON file (LLaVA or MFLM style); returns (records, skipped)."""
    return _import(
        path,
        _fakeshield_entry,
        source="fakeshield",
        records=records,
        dataset=dataset,
        mask_format=mask_format,
    )


def import_sida(
    path: str | os.PathLike,
    *,
    records: Iterable[SampleRecord] | None = None,
    dataset: str = "sid_set",
    mask_format: str = "white_forged",
) -> tuple[list[ConversationRecord], list[dict[str, str]]]:
    """Read a SID-Set description file; returns (records, skipped)."""
    return _import(
        path, _sida_entry, source="sida", records=records, dataset=dataset, mask_format=mask_format
    )


IMPORTERS = {"fakeshield": import_fakeshield, "sida": import_sida}
