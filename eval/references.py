"""Reference explanations for the explanation metrics, from the manifest or from reference files.

Sources, later ones adding to earlier ones:

- a manifest record's ``meta``: ``references`` (list of strings), ``reference`` or ``explanation`` (string);
- reference files (JSONL): one object per line with ``id`` (or ``sample_id``) and ``references`` /
  ``reference`` / ``explanation``, or a conversation record (``xforge.data.conversations``) whose assistant
  turns are joined into one reference (``<SEG>`` tokens are dropped by the metrics' tokenizer).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from xforge.data.manifest import ManifestError, iter_jsonl
from xforge.data.schema import SampleRecord


def _texts(obj: dict) -> list[str]:
    refs = obj.get("references")
    if isinstance(refs, str):
        refs = [refs]
    out = [r for r in (refs or []) if isinstance(r, str) and r.strip()]
    for key in ("reference", "explanation"):
        if isinstance(obj.get(key), str) and obj[key].strip():
            out.append(obj[key])
    if not out and isinstance(obj.get("messages"), list):
        parts = []
        for msg in obj["messages"]:
            if msg.get("role") != "assistant":
                continue
            content = msg.get("content")
            if isinstance(content, str):
                parts.append(content)
            else:
                parts += [c.get("text", "") for c in content or [] if c.get("type") == "text"]
        joined = " ".join(p for p in parts if p)
        if joined.strip():
            out.append(joined)
    return out


def load_references(
    records: Iterable[SampleRecord], files: Iterable[str | os.PathLike] = ()
) -> dict[str, list[str]]:
    """Map id -> reference texts (empty ids are absent)."""
    refs: dict[str, list[str]] = {}
    for rec in records:
        texts = _texts(rec.meta)
        if texts:
            refs.setdefault(rec.id, []).extend(texts)
    for path in files:
        for lineno, obj in enumerate(iter_jsonl(path), 1):
            rid = obj.get("id", obj.get("sample_id"))
            if not isinstance(rid, str):
                raise ManifestError(f"{path}: line {lineno}: reference without an 'id'")
            texts = _texts(obj)
            if texts:
                refs.setdefault(rid, []).extend(texts)
    return refs
