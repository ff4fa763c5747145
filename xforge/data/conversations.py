"""Conversation records: the training examples of the three stages (docs/ARCHITECTURE.md, "Formats").

One JSON object per line. ``messages`` is in the chat-template form transformers processors take
(``{"role": ..., "content": [{"type": "image"}, {"type": "text", "text": ...}]}``); an assistant turn that
emits a mask contains :data:`SEG_TOKEN`. ``seg_targets`` has one entry per ``<SEG>`` in the assistant turns,
in order: ``"all"`` (every forged pixel) or an int (one source index of a multi-source mask).
``image``/``mask`` are relative to the dataset root given at read time, as in manifests. Authentic samples
have no mask, no ``<SEG>`` and an empty ``seg_targets``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xforge.data.manifest import ManifestError, iter_jsonl, write_jsonl
from xforge.data.schema import LABELS, MASK_FORMATS

SEG_TOKEN = "<SEG>"
ROLES = ("system", "user", "assistant")
STAGES = (1, 2, 3)


class ConversationError(ValueError):
    """A conversation record that breaks the contract; the message names the record and the problem."""


def _texts(message: Mapping[str, Any]) -> list[str]:
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    return [part.get("text", "") for part in content or [] if part.get("type") == "text"]


def count_seg_tokens(messages: Iterable[Mapping[str, Any]], role: str = "assistant") -> int:
    """How many ``<SEG>`` tokens the turns of ``role`` contain."""
    return sum(t.count(SEG_TOKEN) for m in messages if m.get("role") == role for t in _texts(m))


def user_message(text: str, *, with_image: bool = False) -> dict[str, Any]:
    """A user turn; the first turn of a conversation carries the image placeholder."""
    content: list[dict[str, Any]] = [{"type": "image"}] if with_image else []
    content.append({"type": "text", "text": text})
    return {"role": "user", "content": content}


def assistant_message(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


@dataclass
class ConversationRecord:
    sample_id: str
    stage: int
    dataset: str
    split: str
    image: str
    label: str
    messages: list[dict[str, Any]]
    mask: str | None = None
    mask_format: str | None = None
    manipulation: list[str] = field(default_factory=list)
    seg_targets: list[str | int] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check the contract: roles, one image placeholder, ``<SEG>`` count equal to ``seg_targets``."""
        where = f"conversation {self.sample_id!r}"
        if not self.sample_id:
            raise ConversationError("conversation without a sample_id")
        if self.stage not in STAGES:
            raise ConversationError(f"{where}: stage {self.stage!r} is not one of {STAGES}")
        if self.label not in LABELS:
            raise ConversationError(f"{where}: label {self.label!r} is not one of {LABELS}")
        if self.mask is not None and self.mask_format not in MASK_FORMATS:
            raise ConversationError(f"{where}: mask_format {self.mask_format!r} is not one of {MASK_FORMATS}")
        for name in ("image", "mask"):
            value = getattr(self, name)
            if value is not None and (value.startswith(("/", "\\")) or ":" in value[:3]):
                raise ConversationError(
                    f"{where}: {name} path {value!r} must be relative to the dataset root"
                )
        if not self.messages:
            raise ConversationError(f"{where}: no messages")
        images = 0
        for i, m in enumerate(self.messages):
            if m.get("role") not in ROLES:
                raise ConversationError(
                    f"{where}: message {i} has role {m.get('role')!r}, not one of {ROLES}"
                )
            content = m.get("content")
            if not isinstance(content, (list, str)):
                raise ConversationError(f"{where}: message {i} content must be a list of parts or a string")
            if isinstance(content, list):
                images += sum(1 for part in content if part.get("type") == "image")
        if images != 1:
            raise ConversationError(f"{where}: expected exactly one image placeholder, found {images}")
        if not any(m["role"] == "assistant" for m in self.messages):
            raise ConversationError(f"{where}: no assistant turn")
        if count_seg_tokens(self.messages, role="user") or count_seg_tokens(self.messages, role="system"):
            raise ConversationError(f"{where}: {SEG_TOKEN} may only appear in assistant turns")
        n_seg = count_seg_tokens(self.messages)
        if n_seg != len(self.seg_targets):
            raise ConversationError(
                f"{where}: {n_seg} {SEG_TOKEN} token(s) but {len(self.seg_targets)} seg_targets"
            )
        for t in self.seg_targets:
            if t != "all" and not (isinstance(t, int) and not isinstance(t, bool) and t >= 1):
                raise ConversationError(f"{where}: seg_target {t!r} must be 'all' or a source index >= 1")
        if n_seg and self.mask is None:
            raise ConversationError(f"{where}: {SEG_TOKEN} in the answer but no mask")
        if self.label == "authentic" and n_seg:
            raise ConversationError(f"{where}: an authentic image must not get a {SEG_TOKEN}")

    @property
    def n_seg(self) -> int:
        return len(self.seg_targets)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConversationRecord:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ConversationError(
                f"conversation {data.get('sample_id')!r}: unknown fields {sorted(unknown)}"
            )
        missing = {"sample_id", "stage", "dataset", "split", "image", "label", "messages"} - set(data)
        if missing:
            raise ConversationError(
                f"conversation {data.get('sample_id')!r}: missing fields {sorted(missing)}"
            )
        return cls(
            **{
                **data,
                "manipulation": list(data.get("manipulation") or []),
                "seg_targets": list(data.get("seg_targets") or []),
                "meta": dict(data.get("meta") or {}),
            }
        )


def read_conversations(path: str | os.PathLike) -> list[ConversationRecord]:
    """Read and validate a conversations JSONL; a bad record raises naming the file and line."""
    rows = []
    for lineno, obj in enumerate(iter_jsonl(path), 1):
        try:
            rows.append(ConversationRecord.from_dict(obj))
        except (ConversationError, TypeError) as exc:
            raise ManifestError(f"{Path(path)}: record {lineno}: {exc}") from None
    return rows


def write_conversations(
    path: str | os.PathLike, rows: Iterable[ConversationRecord | Mapping[str, Any]]
) -> int:
    """Write conversation records atomically; dicts are validated first. Returns the number written."""

    def checked():
        for row in rows:
            yield row if isinstance(row, ConversationRecord) else ConversationRecord.from_dict(row)

    return write_jsonl(path, (r.to_dict() for r in checked()))
