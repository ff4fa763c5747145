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
    """Write records to ``path`` atomically (temp file + rename, removed on failure); returns the number written."""
    from xforge.atomic import atomic_open

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    # A file name that is not valid UTF-8 reaches us as lone surrogates; "backslashreplace" writes them as
    # the JSON escape \udcXX, which reads back as the same name.
    with atomic_open(path, "w", errors="backslashreplace") as f:
        for row in rows:
            data = row.to_dict() if isinstance(row, SampleRecord) else dict(row)
            f.write(json.dumps(data, ensure_ascii=False) + "\n")
            n += 1
    return n


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSONL file; blank lines are skipped, a bad line raises naming file:line."""
    for _, obj in iter_jsonl_lines(path):
        yield obj


def iter_jsonl_lines(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """Like :func:`iter_jsonl`, with each object's line number."""
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"{path}: manifest not found")
    if not path.is_file():
        raise ManifestError(f"{path}: manifest is not a file")
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot open the manifest ({exc.strerror or exc})") from None
    with f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise ManifestError(f"{path}:{lineno}: not valid UTF-8") from None
            except json.JSONDecodeError as exc:
                raise ManifestError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ManifestError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


# Field -> (accepted JSON types, may be null); checked before SampleRecord sees the values, so a wrong type
# is an error naming the line instead of an AttributeError deep in the code.
_FIELD_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "id": ((str,), False),
    "dataset": ((str,), False),
    "split": ((str,), False),
    "image": ((str,), False),
    "label": ((str,), False),
    "mask": ((str,), True),
    "mask_format": ((str,), True),
    "manipulation": ((list,), True),
    "width": ((int,), True),
    "height": ((int,), True),
    "original": ((str,), True),
    "meta": ((dict,), True),
}
_JSON_NAMES = {str: "a string", int: "an integer", list: "a list", dict: "an object"}


def check_record_types(obj: Mapping[str, Any]) -> None:
    """Raise :class:`RecordError` naming the first field whose JSON type is wrong (``"id": 123``...)."""
    for name, (types, nullable) in _FIELD_TYPES.items():
        if name not in obj:
            continue
        value = obj[name]
        if value is None and nullable:
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            want = " or ".join(_JSON_NAMES[t] for t in types) + (" or null" if nullable else "")
            raise RecordError(f"field {name!r} must be {want}, got {json.dumps(value)[:60]}")
        if types == (str,) and name in ("id", "image") and not value.strip():
            raise RecordError(f"field {name!r} is empty")
    manipulation = obj.get("manipulation") or []
    if not all(isinstance(m, str) for m in manipulation):
        raise RecordError(
            f"field 'manipulation' must be a list of strings, got {json.dumps(manipulation)[:60]}"
        )


def read_manifest(path: str | os.PathLike) -> list[SampleRecord]:
    """Read and validate every record of a manifest; a bad record raises :class:`ManifestError` at file:line."""
    records = []
    for lineno, obj in iter_jsonl_lines(path):
        try:
            check_record_types(obj)
            records.append(SampleRecord.from_dict(obj))
        except (RecordError, TypeError, ValueError) as exc:
            raise ManifestError(f"{path}:{lineno}: {exc}") from None
    return records


def parse_roots(pairs: Iterable[str] | None, *, must_exist: bool = False) -> dict[str, Path]:
    """Parse ``KEY=PATH`` strings (``--root`` flags) and ``XFORGE_ROOT_<KEY>`` environment variables.

    Flags win over the environment. ``must_exist``: a flag's PATH that is not a folder raises ValueError
    (the environment may name roots of datasets this run does not read, so those are not checked).
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
        if must_exist and not Path(value).is_dir():
            what = "is not a folder" if Path(value).exists() else "no such folder"
            raise ValueError(f"--root {pair}: {what}")
        roots[key.strip().lower()] = Path(value)
    return roots


def resolve_path(root: str | os.PathLike, relative: str) -> Path:
    """Join a manifest path to its root, refusing paths that escape the root (``../../x``, absolute paths)."""
    # realpath, not Path.resolve: the latter raises RuntimeError on a symbolic link loop
    root_path = Path(os.path.realpath(root))
    if os.path.isabs(relative):
        raise ManifestError(f"{relative!r}: manifest paths must be relative to the dataset root {root_path}")
    full = Path(os.path.realpath(root_path / relative))
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
