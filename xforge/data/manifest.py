"""Manifest I/O: JSONL of sample records, safe path resolution against dataset roots, `datasets` loading."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from xforge.data.schema import RecordError, SampleRecord

ROOT_ENV_PREFIX = "XFORGE_ROOT_"  # e.g. XFORGE_ROOT_CASIA2=/data/CASIA2 gives the root of dataset "casia2"


class ManifestError(ValueError):
    """A manifest that cannot be read; the message names the file and the line."""


def write_jsonl(path: str | os.PathLike, rows: Iterable[SampleRecord | Mapping[str, Any]]) -> int:
    """Write records to ``path`` atomically (temp file + rename); returns the number written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            data = row.to_dict() if isinstance(row, SampleRecord) else dict(row)
            f.write(json.dumps(data, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSONL file; blank lines are skipped, a bad line raises naming file:line."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ManifestError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ManifestError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield obj


def read_manifest(path: str | os.PathLike) -> list[SampleRecord]:
    """Read and validate every record of a manifest."""
    records = []
    for lineno, obj in enumerate(iter_jsonl(path), 1):
        try:
            records.append(SampleRecord.from_dict(obj))
        except (RecordError, TypeError) as exc:
            raise ManifestError(f"{path}: record {lineno}: {exc}") from None
    return records


def parse_roots(pairs: Iterable[str] | None) -> dict[str, Path]:
    """Parse ``KEY=PATH`` strings (``--root`` flags) and ``XFORGE_ROOT_<KEY>`` environment variables.

    Flags win over the environment.
    """
    roots: dict[str, Path] = {
        k[len(ROOT_ENV_PREFIX) :].lower(): Path(v)
        for k, v in os.environ.items()
        if k.startswith(ROOT_ENV_PREFIX)
    }
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise ValueError(f"--root expects KEY=PATH, got {pair!r}")
        roots[key.strip().lower()] = Path(value)
    return roots


def resolve_path(root: str | os.PathLike, relative: str) -> Path:
    """Join a manifest path to its root, refusing paths that escape the root (``../../x``, absolute paths)."""
    root_path = Path(root).resolve()
    if os.path.isabs(relative):
        raise ManifestError(f"{relative!r}: manifest paths must be relative to the dataset root {root_path}")
    full = (root_path / relative).resolve()
    if full != root_path and root_path not in full.parents:
        raise ManifestError(f"{relative!r}: path escapes the dataset root {root_path}")
    return full


def root_for(record: SampleRecord | Mapping[str, Any], roots: Mapping[str, str | os.PathLike]) -> Path:
    """The root of a record's dataset; a single root given as ``*`` (or the only root) serves every dataset."""
    dataset = record.dataset if isinstance(record, SampleRecord) else record["dataset"]
    for key in (dataset.lower(), "*"):
        if key in roots:
            return Path(roots[key])
    if len(roots) == 1:
        return Path(next(iter(roots.values())))
    raise ManifestError(f"no root given for dataset {dataset!r}: pass --root {dataset}=PATH")


def load_as_dataset(path: str | os.PathLike):
    """Load a manifest as a ``datasets.Dataset`` (validated first, so schema errors name the line)."""
    import datasets

    records = read_manifest(path)
    rows = [r.to_dict() for r in records]
    for row in rows:  # Arrow needs one type per column: keep meta as a JSON string.
        row["meta"] = json.dumps(row["meta"])
    return datasets.Dataset.from_list(rows)
