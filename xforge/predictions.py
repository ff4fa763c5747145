"""The predictions folder: what `xforge detect` writes and `xforge eval` reads.

Layout of ``DIR``::

    DIR/predictions.jsonl   one JSON object per image (below)
    DIR/masks/<name>.png    8-bit grayscale probability map x 255, at the image's size
    DIR/overlays/<name>.png optional overlays for people

Fields of a line: ``id`` (the manifest id, or the file's path below the folder given, without extension;
unique within ``DIR``), ``image`` (the path as given), ``verdict`` (``"authentic"`` | ``"tampered"`` (edited in
a region, which the mask shows) | ``"synthetic"`` (generated as a whole by a model; its mask is empty) | null
on error), ``score`` (probability that the image is not an authentic photo -- edited or generated -- 0..1,
so two-way metrics keep their meaning), ``scores`` (the three class probabilities
``{"authentic": ..., "tampered": ..., "synthetic": ...}``, summing to 1, with ``score = 1 - scores.authentic``;
null on error), ``explanation`` (text), ``mask`` (path relative to ``DIR``, or null), ``engine`` (which
backend answered), ``regions`` (list of ``{"box": [x0, y0, x1, y1], "area": pixels}``), ``error`` (null, or
why the image could not be analysed) and ``source`` (the file analysed: ``{"path": resolved path, "size":
bytes, "mtime_ns": ...}``, or null when it could not be read; null too in ``xforge serve``'s API answers,
whose image is an upload, not a server file).
A line is appended as soon as its image is done; a rerun into ``DIR`` recognises finished images by
``source`` (so two files with one name are two images, and a changed file is analysed again). Readers skip,
with a warning naming file and line, a line a crash tore, and a line that breaks the format above (an unknown
verdict, ``scores`` that are not three probabilities summing to 1 or disagree with ``score``).

Older files (two verdicts, no ``scores``) still read: their ``scores`` are derived from ``score`` as
``{authentic: 1 - score, tampered: score, synthetic: 0}`` (a ``synthetic`` verdict without ``scores`` puts
``score`` on ``synthetic`` instead), see :func:`complete_prediction`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from xforge.atomic import atomic_write
from xforge.inference.result import CLASSES, VERDICTS, scores_from_score

logger = logging.getLogger(__name__)

PREDICTIONS_FILE = "predictions.jsonl"
MASKS_DIR = "masks"
OVERLAYS_DIR = "overlays"
FIELDS = (
    "id",
    "image",
    "verdict",
    "score",
    "scores",
    "explanation",
    "mask",
    "engine",
    "regions",
    "error",
    "source",
)
#: how far ``scores`` may be from summing to 1, and ``score`` from ``1 - scores.authentic`` (lines hold
#: probabilities rounded to 6 digits)
SCORES_TOLERANCE = 1e-3


def mask_filename(sample_id: str) -> str:
    """A file-system-safe PNG name for an id (ids may hold '/' or odd characters); stable and unique."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", sample_id).strip("._") or "image"
    if safe != sample_id:
        # surrogateescape: an id taken from a file name that is not valid UTF-8 still hashes
        digest = hashlib.sha1(sample_id.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        safe = f"{safe[:80]}-{digest}"
    return safe + ".png"


def mask_relpath(sample_id: str) -> str:
    """Where an id's mask lives inside a predictions folder (the record's ``mask`` field)."""
    return f"{MASKS_DIR}/{mask_filename(sample_id)}"


def prob_to_uint8(prob: np.ndarray) -> np.ndarray:
    """Probabilities 0..1 (or uint8 already) as uint8 0..255."""
    arr = np.asarray(prob)
    if arr.dtype != np.uint8:
        arr = np.clip(np.nan_to_num(arr.astype(np.float32)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return arr


def encode_png(arr: np.ndarray) -> bytes:
    """``arr`` (gray, or BGR as OpenCV orders it) as the bytes of a PNG file."""
    import cv2

    arr = np.asarray(arr)
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise ValueError(f"could not encode an array of shape {arr.shape} as PNG")
    return buf.tobytes()


def encode_mask_png(prob: np.ndarray) -> bytes:
    """A probability map (float 0..1 or uint8 0..255) as the bytes of the 8-bit PNG a mask file holds."""
    return encode_png(prob_to_uint8(prob))


def write_png_atomic(path: str | os.PathLike, arr: np.ndarray) -> Path:
    """Encode ``arr`` (gray, or BGR as OpenCV orders it) as PNG and write it atomically."""
    try:
        data = encode_png(arr)
    except ValueError as exc:
        raise OSError(f"{path}: {exc}") from None
    return atomic_write(path, data)


def write_mask_png(out_dir: str | os.PathLike, sample_id: str, prob: np.ndarray) -> str:
    """Write a probability map (float 0..1 or uint8 0..255) as ``masks/<name>.png``; returns the relative path.

    The bytes are :func:`encode_mask_png`'s (what ``xforge serve`` returns), written through a temp file and
    a rename, so a killed run never leaves a truncated mask.
    """
    rel = mask_relpath(sample_id)
    path = Path(out_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        atomic_write(path, encode_mask_png(prob))
    except (OSError, ValueError) as exc:
        raise OSError(f"{path}: could not write mask PNG ({exc})") from None
    return rel


def prediction_record(
    sample_id: str, image: str, result, mask: str | None, source: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The predictions line for one analysed image (an :class:`~xforge.inference.AnalysisResult`).

    One function so that ``xforge detect`` and ``xforge serve``'s API write the same record. ``source`` is
    the analysed file's identity (detect's ``source_of``); the API analyses an upload, which has no file on
    the server, and leaves it None.
    """
    return {
        "id": sample_id,
        "image": image,
        "verdict": result.verdict,
        "score": result.score,
        "scores": result.rounded_scores(),
        "explanation": result.explanation,
        "mask": mask,
        "engine": result.engine,
        "regions": result.regions,
        "error": None,
        "source": source,
    }


def _line(row: dict[str, Any]) -> bytes:
    unknown = set(row) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown prediction fields {sorted(unknown)}")
    # ensure_ascii keeps the line valid UTF-8 whatever the strings hold (lone surrogates included)
    return (json.dumps({k: row.get(k) for k in FIELDS}) + "\n").encode("ascii")


class PredictionAppender:
    """Appends lines to ``predictions.jsonl``: each line is one ``write`` of a complete line to a file opened
    with ``O_APPEND``, so a crash leaves whole lines plus at most one torn last line, never a mix.
    :meth:`sync` (call it at batch end) and :meth:`close` fsync the file."""

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.path = Path(out_dir) / PREDICTIONS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        size = os.fstat(self._fd).st_size
        if size and os.pread(self._fd, 1, size - 1) != b"\n":
            os.write(self._fd, b"\n")  # a last line without its newline must not be glued to the next

    def append(self, row: dict[str, Any]) -> None:
        data = memoryview(_line(row))
        while data:  # a short write (signal, nearly full disk) continues where it stopped
            data = data[os.write(self._fd, data) :]

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> PredictionAppender:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def append_prediction(out_dir: str | os.PathLike, row: dict[str, Any]) -> None:
    """Append one line to ``predictions.jsonl`` and fsync (one-off writes; a batch uses PredictionAppender)."""
    with PredictionAppender(out_dir) as f:
        f.append(row)


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def prediction_problem(row: dict[str, Any]) -> str | None:
    """Why a line (a JSON object with an ``id``) breaks the format, or None when it is fine.

    Checked: ``verdict`` is null or one of :data:`~xforge.inference.result.VERDICTS`; ``scores``, when given
    and the line is not an error line, holds exactly the three classes as probabilities in 0..1 summing to 1
    and agrees with ``score`` (``score = 1 - scores.authentic``). Old lines without ``scores`` pass.
    """
    verdict = row.get("verdict")
    if verdict is not None and verdict not in VERDICTS:
        return f"verdict {verdict!r} is not one of {', '.join(VERDICTS)} (or null)"
    scores = row.get("scores")
    if scores is None or row.get("error"):
        return None
    if not isinstance(scores, dict) or set(scores) != set(CLASSES):
        return (
            f"'scores' must be an object with the keys {', '.join(CLASSES)}, got {json.dumps(scores)[:120]}"
        )
    values = [_number(scores[c]) for c in CLASSES]
    if any(v is None or not 0.0 <= v <= 1.0 for v in values):
        return f"'scores' must hold probabilities in 0..1, got {json.dumps(scores)[:120]}"
    if abs(sum(values) - 1.0) > SCORES_TOLERANCE:
        return f"'scores' must sum to 1, they sum to {sum(values):.6g}"
    score = _number(row.get("score"))
    if row.get("score") is not None and score is None:
        return f"'score' must be a finite number, got {row.get('score')!r}"
    if score is not None and abs(score - (1.0 - values[0])) > SCORES_TOLERANCE:
        return f"'score' {score:.6g} is not 1 - scores.authentic ({1.0 - values[0]:.6g})"
    return None


def complete_prediction(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with ``scores`` filled in when an older line lacks them (a checked line; a copy when changed).

    A two-way line gives ``{authentic: 1 - score, tampered: score, synthetic: 0}``; a ``synthetic`` verdict
    without ``scores`` puts ``score`` on ``synthetic``. Without a usable ``score`` (an error line, a hand-made
    line) ``scores`` stays null.
    """
    if row.get("scores") is not None:
        return row
    score = _number(row.get("score"))
    scores = None
    if score is not None and 0.0 <= score <= 1.0 and not row.get("error"):
        scores = scores_from_score(score, row.get("verdict"))
    return {**row, "scores": scores}


def read_predictions(
    out_dir: str | os.PathLike, invalid: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every usable line of ``predictions.jsonl``, and one message (``file:line: why``) per line dropped.

    A line is dropped when it is not valid UTF-8, not JSON, not an object, or has no string ``id``: what a
    crash mid-write (a torn line, a block of NUL bytes) or a hand edit leaves; and when it breaks the format
    (:func:`prediction_problem`). The other lines stay usable, with ``scores`` completed for older lines
    (:func:`complete_prediction`). ``invalid``, when given, receives id -> message for every dropped line
    whose id could be read (so an evaluation can say why that image has no usable prediction).
    """
    path = Path(out_dir) / PREDICTIONS_FILE
    if not path.is_file():
        return [], []
    rows, problems = [], []
    for i, raw in enumerate(path.read_bytes().split(b"\n"), 1):
        if not raw.strip():
            continue
        why = None
        try:
            row = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            why = "not valid UTF-8"
        except json.JSONDecodeError:
            why = "not valid JSON (a line torn by an interrupted run?)"
        else:
            if not isinstance(row, dict):
                why = f"a JSON {type(row).__name__}, not an object"
            elif not isinstance(row.get("id"), str) or not row["id"]:
                why = "no string 'id'"
            else:
                why = prediction_problem(row)
                if why and invalid is not None:
                    invalid[row["id"]] = f"{path}:{i}: {why}"
        if why:
            problems.append(f"{path}:{i}: {why}; line dropped")
        else:
            rows.append(complete_prediction(row))
    return rows, problems


def iter_predictions(out_dir: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Read ``predictions.jsonl``; unusable lines are skipped with a warning naming file and line."""
    rows, problems = read_predictions(out_dir)
    for message in problems:
        logger.warning("%s", message)
    yield from rows


def rewrite_predictions(out_dir: str | os.PathLike, rows: list[dict[str, Any]]) -> None:
    """Replace ``predictions.jsonl`` with ``rows`` atomically (a resumed run drops bad or superseded lines)."""
    path = Path(out_dir) / PREDICTIONS_FILE
    atomic_write(path, b"".join(_line({k: v for k, v in r.items() if k in FIELDS}) for r in rows))


def read_mask_png(out_dir: str | os.PathLike, rel: str) -> np.ndarray:
    """Load a predicted mask as float32 probabilities in 0..1."""
    import cv2

    path = Path(out_dir) / rel
    arr = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if arr is None:
        raise ValueError(f"{path}: predicted mask missing or unreadable")
    return arr.astype(np.float32) / 255.0
