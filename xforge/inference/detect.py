"""Batch detection: files, folders or a manifest in, a predictions folder (:mod:`xforge.predictions`) out.

Each finished image is appended to ``predictions.jsonl`` at once, so an interrupted run resumes by skipping
the ids already there. An image that cannot be read (or analysed) gets a line with ``error`` set and the run
goes on. Images are read ahead on a thread while the engine works, and handed to it ``batch_size`` at a time.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xforge.data.images import read_image
from xforge.data.manifest import read_manifest, resolve_path, root_for
from xforge.inference.detector import DEFAULT_QUESTION, Detector
from xforge.inference.overlay import write_overlay
from xforge.inference.result import AnalysisResult
from xforge.predictions import (
    OVERLAYS_DIR,
    PREDICTIONS_FILE,
    append_prediction,
    done_ids,
    drop_torn_line,
    iter_predictions,
    mask_filename,
    prediction_record,
    write_mask_png,
)

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".jfif"})
MANIFEST_SUFFIX = ".jsonl"


@dataclass(frozen=True)
class DetectItem:
    """One image to analyse: its prediction id, the path as the user gave it, and the file to read."""

    id: str
    image: str
    path: Path


def _folder_items(folder: Path) -> Iterator[DetectItem]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    stems: dict[str, int] = {}
    for p in files:
        key = p.relative_to(folder).with_suffix("").as_posix()
        stems[key] = stems.get(key, 0) + 1
    for p in files:
        rel = p.relative_to(folder)
        key = rel.with_suffix("").as_posix()
        # x.jpg and x.png side by side would share an id; keep the extension for those only.
        yield DetectItem(key if stems[key] == 1 else rel.as_posix(), str(p), p)


def _manifest_items(manifest: Path, roots: Mapping[str, str | os.PathLike]) -> Iterator[DetectItem]:
    for rec in read_manifest(manifest):
        yield DetectItem(rec.id, rec.image, resolve_path(root_for(rec, roots), rec.image))


def collect_inputs(
    inputs: Iterable[str | os.PathLike], roots: Mapping[str, str | os.PathLike] | None = None
) -> list[DetectItem]:
    """Expand files, folders (recursively, image extensions only) and ``.jsonl`` manifests into items.

    A file that does not exist is kept: it gets an error line in the predictions, like any unreadable image.
    The same file under the same id is analysed once; two different files with one id get ``-2``, ``-3`` ...
    (a manifest may list one file under several ids: each id gets its line).
    """
    items: list[DetectItem] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            items.extend(_folder_items(p))
        elif p.suffix.lower() == MANIFEST_SUFFIX:
            items.extend(_manifest_items(p, roots or {}))
        else:
            items.append(DetectItem(p.stem or str(p), str(p), p))
    unique: list[DetectItem] = []
    seen: set[tuple[Path, str]] = set()
    seen_ids: set[str] = set()
    for item in items:
        key = (item.path.resolve(), item.id)
        if key in seen:
            continue
        seen.add(key)
        item_id, n = item.id, 1
        while item_id in seen_ids:
            n += 1
            item_id = f"{item.id}-{n}"
        if item_id != item.id:
            logger.warning("%s: id %r already used, writing it as %r", item.image, item.id, item_id)
        seen_ids.add(item_id)
        unique.append(DetectItem(item_id, item.image, item.path))
    return unique


def _prefetched(items: Sequence[DetectItem], ahead: int) -> Iterator[tuple[DetectItem, Future]]:
    """Yield (item, future of its pixels) in order, reading at most ``ahead`` images in advance."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="xforge-read") as pool:
        queue: deque[tuple[DetectItem, Future]] = deque()
        it = iter(items)
        for item in it:
            queue.append((item, pool.submit(read_image, item.path)))
            if len(queue) >= ahead:
                break
        while queue:
            yield queue.popleft()
            nxt = next(it, None)
            if nxt is not None:
                queue.append((nxt, pool.submit(read_image, nxt.path)))


class _Writer:
    """Writes one prediction line (and its mask and overlay) per image."""

    def __init__(self, out_dir: Path, engine: str, overlays: bool):
        self.out_dir, self.engine, self.overlays = out_dir, engine, overlays
        self.done = 0
        self.errors = 0

    def result(self, item: DetectItem, image: np.ndarray, res: AnalysisResult) -> None:
        mask_rel = write_mask_png(self.out_dir, item.id, res.prob_map)
        if self.overlays:
            write_overlay(self.out_dir / OVERLAYS_DIR / mask_filename(item.id), image, res.mask)
        append_prediction(self.out_dir, prediction_record(item.id, item.image, res, mask_rel))
        self.done += 1

    def error(self, item: DetectItem, message: str) -> None:
        logger.warning("%s", message)
        append_prediction(
            self.out_dir,
            {"id": item.id, "image": item.image, "engine": self.engine, "regions": [], "error": message},
        )
        self.errors += 1


def _analyse(
    detector: Detector,
    batch: list[tuple[DetectItem, np.ndarray]],
    question: str,
    writer: _Writer,
) -> None:
    """Analyse a batch and write its lines; a failing batch is retried image by image, then reported."""
    try:
        results = detector.analyze_batch(
            [img for _, img in batch], question, source_paths=[str(item.path) for item, _ in batch]
        )
    except Exception as exc:  # noqa: BLE001 -- a batch job reports the image and goes on
        if len(batch) > 1:
            # One bad image must not cost its batch-mates their answers.
            logger.warning("a batch of %d failed (%s); analysing its images one at a time", len(batch), exc)
            for pair in batch:
                _analyse(detector, [pair], question, writer)
            return
        item = batch[0][0]
        logger.debug("analysis of %s failed", item.path, exc_info=True)
        writer.error(item, f"{item.path}: analysis failed ({type(exc).__name__}: {exc})")
        return
    for (item, img), res in zip(batch, results):
        writer.result(item, img, res)


def _check_engine(out_dir: Path, engine: str) -> None:
    engines = {row.get("engine") for row in iter_predictions(out_dir) if not row.get("error")}
    other = engines - {engine, None}
    if other:
        logger.warning(
            "%s already holds predictions by engine %s; this run uses %r",
            out_dir / PREDICTIONS_FILE,
            sorted(other),
            engine,
        )


def run_detect(
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    detector: Detector,
    question: str | None = None,
    overlays: bool = False,
    roots: Mapping[str, str | os.PathLike] | None = None,
    batch_size: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Analyse every image of ``inputs`` into the predictions folder ``out_dir``; returns a summary.

    Summary keys: ``out_dir``, ``predictions`` (the JSONL path), ``total`` (images found), ``skipped``
    (already done by an earlier run), ``done`` and ``errors`` (this run), ``engine``, ``seconds``.
    """
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items = collect_inputs(inputs, roots)
    if drop_torn_line(out):
        logger.warning("%s: dropped a torn last line left by an interrupted run", out / PREDICTIONS_FILE)
    finished = done_ids(out)
    if finished:
        _check_engine(out, detector.engine)
    todo = [it for it in items if it.id not in finished]
    question = question or DEFAULT_QUESTION
    writer = _Writer(out, detector.engine, overlays)
    logger.info(
        "detect: %d images, %d already done, engine %s", len(items), len(items) - len(todo), detector.engine
    )
    start = time.perf_counter()
    batch: list[tuple[DetectItem, np.ndarray]] = []
    with tqdm(total=len(todo), unit="img", desc="detect", disable=not progress) as bar:
        for item, future in _prefetched(todo, ahead=2 * batch_size):
            try:
                batch.append((item, future.result()))
            except (ValueError, OSError) as exc:  # ImageReadError is a ValueError naming the file
                writer.error(item, str(exc) if str(item.path) in str(exc) else f"{item.path}: {exc}")
                bar.update(1)
            if len(batch) >= batch_size:
                _analyse(detector, batch, question, writer)
                bar.update(len(batch))
                batch = []
        if batch:
            _analyse(detector, batch, question, writer)
            bar.update(len(batch))
    seconds = time.perf_counter() - start
    return {
        "out_dir": str(out),
        "predictions": str(out / PREDICTIONS_FILE),
        "total": len(items),
        "skipped": len(items) - len(todo),
        "done": writer.done,
        "errors": writer.errors,
        "engine": detector.engine,
        "seconds": round(seconds, 3),
    }
