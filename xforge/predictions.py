"""The predictions folder: what `xforge detect` writes and `xforge eval` reads.

Layout of ``DIR``::

    DIR/predictions.jsonl   one JSON object per image (below)
    DIR/masks/<name>.png    8-bit grayscale probability map x 255, at the image's size
    DIR/overlays/<name>.png optional overlays for people

Fields of a line: ``id`` (the manifest id, or the file stem), ``image`` (the path as given), ``verdict``
(``"tampered"`` | ``"authentic"`` | null on error), ``score`` (probability the image is edited, 0..1),
``explanation`` (text), ``mask`` (path relative to ``DIR``, or null), ``engine`` (which backend answered),
``regions`` (list of ``{"box": [x0, y0, x1, y1], "area": pixels}``), and ``error`` (null, or why the image
could not be analysed). A line is appended as soon as its image is done, so an interrupted run resumes by
skipping ids already present.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

PREDICTIONS_FILE = "predictions.jsonl"
MASKS_DIR = "masks"
OVERLAYS_DIR = "overlays"
FIELDS = ("id", "image", "verdict", "score", "explanation", "mask", "engine", "regions", "error")


def mask_filename(sample_id: str) -> str:
    """A file-system-safe PNG name for an id (ids may hold '/' or odd characters); stable and unique."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", sample_id).strip("._") or "image"
    if safe != sample_id:
        safe = f"{safe[:80]}-{hashlib.sha1(sample_id.encode()).hexdigest()[:8]}"
    return safe + ".png"


def mask_relpath(sample_id: str) -> str:
    """Where an id's mask lives inside a predictions folder (the record's ``mask`` field)."""
    return f"{MASKS_DIR}/{mask_filename(sample_id)}"


def encode_mask_png(prob: np.ndarray) -> bytes:
    """A probability map (float 0..1 or uint8 0..255) as the bytes of the 8-bit PNG a mask file holds."""
    import cv2

    arr = np.asarray(prob)
    if arr.dtype != np.uint8:
        arr = np.clip(np.nan_to_num(arr.astype(np.float32)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise ValueError(f"could not encode a mask of shape {arr.shape} as PNG")
    return buf.tobytes()


def write_mask_png(out_dir: str | os.PathLike, sample_id: str, prob: np.ndarray) -> str:
    """Write a probability map (float 0..1 or uint8 0..255) as ``masks/<name>.png``; returns the relative path."""
    rel = mask_relpath(sample_id)
    path = Path(out_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.write_bytes(encode_mask_png(prob))
    except (OSError, ValueError) as exc:
        raise OSError(f"{path}: could not write mask PNG ({exc})") from None
    return rel


def prediction_record(sample_id: str, image: str, result, mask: str | None) -> dict[str, Any]:
    """The predictions line for one analysed image (an :class:`~xforge.inference.AnalysisResult`).

    One function so that ``xforge detect`` and ``xforge serve``'s API write the same record.
    """
    return {
        "id": sample_id,
        "image": image,
        "verdict": result.verdict,
        "score": result.score,
        "explanation": result.explanation,
        "mask": mask,
        "engine": result.engine,
        "regions": result.regions,
        "error": None,
    }


def append_prediction(out_dir: str | os.PathLike, row: dict[str, Any]) -> None:
    """Append one line to ``predictions.jsonl`` and flush, so a killed run loses at most the current image."""
    unknown = set(row) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown prediction fields {sorted(unknown)}")
    path = Path(out_dir) / PREDICTIONS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({k: row.get(k) for k in FIELDS}, ensure_ascii=False)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def iter_predictions(out_dir: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Read ``predictions.jsonl``; a torn last line (a killed run) is ignored, any other bad line raises."""
    path = Path(out_dir) / PREDICTIONS_FILE
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines):
                return
            raise ValueError(f"{path}:{i}: not valid JSON") from None


def drop_torn_line(out_dir: str | os.PathLike) -> bool:
    """Cut a torn last line (a run killed mid-write) off ``predictions.jsonl`` so appends start clean.

    Returns True when something was cut. Call before resuming: an append after a torn line would glue the
    new line onto it and lose both.
    """
    path = Path(out_dir) / PREDICTIONS_FILE
    if not path.is_file():
        return False
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return False
    cut = data.rfind(b"\n") + 1
    try:
        json.loads(data[cut:])
    except (json.JSONDecodeError, UnicodeDecodeError):
        with open(path, "r+b") as f:
            f.truncate(cut)
        return True
    with open(path, "ab") as f:  # a complete line that only lacks its newline is kept
        f.write(b"\n")
    return False


def done_ids(out_dir: str | os.PathLike) -> set[str]:
    """Ids already predicted (errors included), for resuming."""
    return {row["id"] for row in iter_predictions(out_dir)}


def read_mask_png(out_dir: str | os.PathLike, rel: str) -> np.ndarray:
    """Load a predicted mask as float32 probabilities in 0..1."""
    import cv2

    path = Path(out_dir) / rel
    arr = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if arr is None:
        raise ValueError(f"{path}: predicted mask missing or unreadable")
    return arr.astype(np.float32) / 255.0
