"""Find (edited, original) pairs in the layouts people keep them in.

- a folder where each edit ``X.jpg`` sits next to its source ``X_original.jpg`` (also ``X_orig``,
  ``X_source``, ``X_src``; any image extension; searched recursively);
- a folder with ``edited/`` and ``original/`` (or ``originals/``) subfolders holding files of the same stem;
- a CSV (header with ``edited`` and ``original`` columns, optionally ``id``) or a JSONL file (objects with
  ``edited`` and ``original``, optionally ``id``); relative paths are relative to that file's folder.

Each layout yields :class:`Pair` objects; problems with individual entries (a missing file, a line without
both paths) are returned as skips with the reason, never dropped silently.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
ORIGINAL_SUFFIXES = ("_original", "_orig", "_source", "_src")
EDITED_DIRS = ("edited", "edits")
ORIGINAL_DIRS = ("original", "originals")


class PairsError(ValueError):
    """A pairs source that cannot be read at all; the message names the file or folder."""


@dataclass(frozen=True)
class Pair:
    id: str
    edited: Path
    original: Path


def _images(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _from_subfolders(folder: Path) -> tuple[list[Pair], list[dict]] | None:
    edited_dir = next((folder / d for d in EDITED_DIRS if (folder / d).is_dir()), None)
    original_dir = next((folder / d for d in ORIGINAL_DIRS if (folder / d).is_dir()), None)
    if edited_dir is None or original_dir is None:
        return None
    originals = {p.relative_to(original_dir).with_suffix("").as_posix(): p for p in _images(original_dir)}
    pairs, skipped = [], []
    for p in _images(edited_dir):
        key = p.relative_to(edited_dir).with_suffix("").as_posix()
        if key in originals:
            pairs.append(Pair(key, p, originals[key]))
        else:
            skipped.append({"edited": str(p), "reason": f"no original named {key}.* in {original_dir}"})
    return pairs, skipped


def _from_suffixes(folder: Path) -> tuple[list[Pair], list[dict]]:
    images = _images(folder)
    by_stem = {p.with_suffix("").as_posix(): p for p in images}
    pairs, skipped = [], []
    for p in images:
        stem = p.with_suffix("").as_posix()
        suffix = next((s for s in ORIGINAL_SUFFIXES if stem.endswith(s)), None)
        if suffix is None:
            continue
        edited = by_stem.get(stem[: -len(suffix)])
        if edited is None:
            reason = f"no edited image {p.stem[: -len(suffix)]}.* next to it"
            skipped.append({"original": str(p), "reason": reason})
            continue
        pairs.append(Pair(edited.relative_to(folder).with_suffix("").as_posix(), edited, p))
    return sorted(pairs, key=lambda q: q.id), skipped


def _from_rows(path: Path, rows: list[tuple[int, dict]]) -> tuple[list[Pair], list[dict]]:
    base = path.parent
    pairs, skipped, seen = [], [], set()
    for lineno, row in rows:
        edited, original = row.get("edited"), row.get("original")
        if not edited or not original:
            skipped.append({"line": lineno, "reason": f"{path}:{lineno}: needs both 'edited' and 'original'"})
            continue
        e, o = base / str(edited), base / str(original)
        missing = [str(p) for p in (e, o) if not p.is_file()]
        if missing:
            skipped.append(
                {"line": lineno, "edited": str(e), "reason": f"file not found: {', '.join(missing)}"}
            )
            continue
        pid = str(row.get("id") or Path(str(edited)).with_suffix("").as_posix())
        if pid in seen:
            pid = f"{pid}#{lineno}"
        seen.add(pid)
        pairs.append(Pair(pid, e, o))
    return pairs, skipped


def _read_csv(path: Path) -> list[tuple[int, dict]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"edited", "original"} <= set(reader.fieldnames):
            raise PairsError(f"{path}: a pairs CSV needs a header with 'edited' and 'original' columns")
        return [(i, row) for i, row in enumerate(reader, 2)]


def _read_jsonl(path: Path) -> list[tuple[int, dict]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PairsError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise PairsError(f"{path}:{lineno}: expected a JSON object")
            rows.append((lineno, obj))
    return rows


def find_pairs(source: str | os.PathLike) -> tuple[list[Pair], list[dict]]:
    """``(pairs, skipped)`` from a folder, a CSV or a JSONL file (see the module docstring)."""
    path = Path(source)
    if path.is_dir():
        found = _from_subfolders(path) or _from_suffixes(path)
        if not found[0] and not found[1]:
            raise PairsError(
                f"{path}: no pairs found (expected X.jpg next to X_original.jpg, or edited/ and original/ "
                "subfolders)"
            )
        return found
    if not path.is_file():
        raise PairsError(f"{path}: no such file or folder")
    if path.suffix.lower() == ".csv":
        return _from_rows(path, _read_csv(path))
    if path.suffix.lower() in (".jsonl", ".json"):
        return _from_rows(path, _read_jsonl(path))
    raise PairsError(f"{path}: expected a folder, a .csv or a .jsonl file")
