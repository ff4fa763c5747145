"""Batch detection: files, folders or a manifest in, a predictions folder (:mod:`xforge.predictions`) out.

Each finished image is appended to ``predictions.jsonl`` at once (one write of a whole line), so an
interrupted run resumes: a rerun skips the images whose line matches the file (resolved path, size and
modification time; a manifest's id), analyses again the ones that changed, and retries the ones that got an
``error`` line (unless ``retry_errors=False``). Lines a crash tore are dropped with a warning and the file
rewritten, so every image has exactly one line. An image that cannot be read (or analysed) gets a line with
``error`` set and the run goes on. Images are read ahead on a thread while the engine works, and handed to
it ``batch_size`` at a time.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from xforge.data.images import ImageReadError, read_image
from xforge.data.manifest import read_manifest, resolve_path, root_for
from xforge.inference.detector import DEFAULT_QUESTION, Detector
from xforge.inference.overlay import write_overlay
from xforge.inference.result import AnalysisResult
from xforge.predictions import (
    MASKS_DIR,
    OVERLAYS_DIR,
    PREDICTIONS_FILE,
    PredictionAppender,
    mask_filename,
    prediction_record,
    read_predictions,
    rewrite_predictions,
    write_mask_png,
)

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".jfif"})
MANIFEST_SUFFIX = ".jsonl"


class NoInputError(ValueError):
    """The inputs hold no image at all, so a run would do nothing."""


@dataclass(frozen=True)
class DetectItem:
    """One image to analyse: its prediction id, the path as the user gave it, and the file to read.

    ``fixed_id``: the id comes from a manifest (the key eval joins on) and is never renamed. ``problem``: why
    the file cannot be read, known before reading it (a dangling or looping symbolic link).
    """

    id: str
    image: str
    path: Path
    fixed_id: bool = False
    problem: str | None = None


def link_problem(path: Path) -> str | None:
    """Why a symbolic link cannot be followed (dangling, a loop), or None when ``path`` is not such a link."""
    if not path.is_symlink():
        return None
    try:
        path.stat()
    except FileNotFoundError:
        return f"dangling symbolic link (points to {os.readlink(path)!r}, which does not exist)"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop (the link leads back to itself)"
        return f"cannot follow the symbolic link ({exc.strerror or exc})"
    return None


def real_path(path: Path) -> Path:
    """The resolved path, also for link loops (``Path.resolve`` raises RuntimeError on those)."""
    return Path(os.path.realpath(path))


def _walk(folder: Path) -> Iterator[Path]:
    """Image-named entries below ``folder``, sorted; linked folders are followed once (a loop is cut)."""
    seen: set[tuple[int, int]] = set()
    stack = [folder]
    found: list[Path] = []
    while stack:
        d = stack.pop()
        try:
            st = d.stat()
            if (st.st_dev, st.st_ino) in seen:
                logger.warning("%s: already walked (a linked folder loops back); not walked again", d)
                continue
            seen.add((st.st_dev, st.st_ino))
            entries = list(os.scandir(d))
        except OSError as exc:
            logger.warning(
                "%s: cannot list the folder (%s); its images are not analysed", d, exc.strerror or exc
            )
            continue
        for e in entries:
            p = Path(e.path)
            try:
                is_dir = e.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                stack.append(p)
            elif p.suffix.lower() in IMAGE_EXTENSIONS:
                # Broken links are kept: they get an error line instead of vanishing from the run.
                found.append(p)
    return iter(sorted(found))


def _folder_items(folder: Path) -> Iterator[DetectItem]:
    files = list(_walk(folder))
    stems: dict[str, int] = {}
    for p in files:
        key = p.relative_to(folder).with_suffix("").as_posix()
        stems[key] = stems.get(key, 0) + 1
    for p in files:
        rel = p.relative_to(folder)
        key = rel.with_suffix("").as_posix()
        # x.jpg and x.png side by side would share an id; keep the extension for those only.
        yield DetectItem(key if stems[key] == 1 else rel.as_posix(), str(p), p, problem=link_problem(p))


def _manifest_items(manifest: Path, roots: Mapping[str, str | os.PathLike]) -> Iterator[DetectItem]:
    for rec in read_manifest(manifest):
        path = resolve_path(root_for(rec, roots), rec.image)
        yield DetectItem(rec.id, rec.image, path, fixed_id=True, problem=link_problem(path))


def collect_inputs(
    inputs: Iterable[str | os.PathLike], roots: Mapping[str, str | os.PathLike] | None = None
) -> list[DetectItem]:
    """Expand files, folders (recursively, image extensions only) and ``.jsonl`` manifests into items.

    A file that does not exist (or a broken link) is kept: it gets an error line in the predictions, like any
    unreadable image. The same file under the same id is analysed once; two different files with one id get
    ``-2``, ``-3`` ... (a manifest may list one file under several ids: each id gets its line). A folder or
    manifest without images is named in a warning.
    """
    items, empty = _collect(inputs, roots)
    for message in empty:
        logger.warning("%s", message)
    return items


def _collect(
    inputs: Iterable[str | os.PathLike], roots: Mapping[str, str | os.PathLike] | None
) -> tuple[list[DetectItem], list[str]]:
    items: list[DetectItem] = []
    empty: list[str] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found = list(_folder_items(p))
            if not found:
                empty.append(f"{p}: folder holds no image file ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        elif p.suffix.lower() == MANIFEST_SUFFIX and not link_problem(p):
            found = list(_manifest_items(p, roots or {}))
            if not found:
                empty.append(f"{p}: manifest holds no record")
        else:
            found = [DetectItem(p.stem or str(p), str(p), p, problem=link_problem(p))]
        items.extend(found)
    unique: list[DetectItem] = []
    seen: set[tuple[Path, str]] = set()
    seen_ids: set[str] = set()
    for item in items:
        key = (real_path(item.path), item.id)
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
        unique.append(replace(item, id=item_id))
    return unique, empty


def source_of(path: Path) -> dict[str, Any] | None:
    """The identity of the file behind ``path`` (resolved path, size, mtime), or None if it cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return None
    return {"path": str(real_path(path)), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@dataclass
class ResumePlan:
    """What a run into an existing predictions folder does: the lines it keeps and the images it analyses."""

    keep: list[dict[str, Any]]  # lines that stay, in file order
    todo: list[DetectItem]  # images to analyse, with their final ids
    skipped: int  # images already done
    retried: int  # images whose error line is dropped and which are analysed again
    kept_errors: int  # images whose error line is kept (retry_errors=False)
    changed: int  # images analysed again because the file changed since its line was written
    rewrite: bool  # the file must be rewritten (lines dropped)


def _matches(row: dict[str, Any], item: DetectItem, source: dict[str, Any] | None) -> bool:
    """Is ``row`` the line of this very file as it is now?"""
    if "source" not in row:  # a line from before sources were recorded: the path as given decides
        return row.get("image") == item.image
    if row["source"] is None:  # the file could not be read then; is it still unreadable?
        return source is None and row.get("image") == item.image
    return row["source"] == source


def plan_resume(
    items: Sequence[DetectItem], rows: Sequence[dict[str, Any]], *, retry_errors: bool = True
) -> ResumePlan:
    """Match this run's images against the lines already in the folder.

    An image is done when a line for it exists (a manifest image: same id; a file: same resolved path)
    whose ``source`` matches the file now and, with ``retry_errors``, that is not an error line. A file new
    to the folder whose id another file's line holds gets the next free ``-N`` id. The lines of images
    analysed again are dropped, as are repeated ids (the last line of an id wins), so the folder ends with
    one line per image.
    """
    by_id: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_id[row["id"]] = row
    rewrite = len(by_id) != len(rows)
    by_path = {
        row["source"]["path"]: row
        for row in by_id.values()
        if isinstance(row.get("source"), dict) and isinstance(row["source"].get("path"), str)
    }
    dropped: set[str] = set()
    used = set(by_id) | {it.id for it in items}
    todo: list[DetectItem] = []
    skipped = retried = changed = kept_errors = 0
    for item in items:
        source = source_of(item.path)
        if item.fixed_id:
            prev = by_id.get(item.id)
        else:
            prev = by_path.get(str(real_path(item.path)))
            cand = by_id.get(item.id)
            if (
                prev is None
                and cand is not None
                and cand.get("source") is None
                and cand.get("image") == item.image
            ):
                prev = cand  # a line without a source: an unreadable file, or a line from an older xforge
            if prev is not None and prev["id"] in dropped:
                prev = None  # this line already went to another input of this run
        if prev is not None and _matches(prev, item, source):
            if not (retry_errors and prev.get("error")):
                skipped += 1
                kept_errors += bool(prev.get("error"))
                continue
            retried += 1
        elif prev is not None:
            changed += 1
        if prev is not None:
            dropped.add(prev["id"])
            item = replace(item, id=prev["id"])
        elif not item.fixed_id and item.id in by_id:
            base, n = item.id, 2
            while f"{base}-{n}" in used:
                n += 1
            logger.warning(
                "%s: id %r already holds another file's line in this folder; writing it as %r",
                item.image,
                base,
                f"{base}-{n}",
            )
            item = replace(item, id=f"{base}-{n}")
            used.add(item.id)
        todo.append(item)
    keep = [row for row in by_id.values() if row["id"] not in dropped]
    return ResumePlan(keep, todo, skipped, retried, kept_errors, changed, rewrite or bool(dropped))


def _read(item: DetectItem) -> np.ndarray:
    if item.problem:
        raise ImageReadError(item.path, item.problem)
    return read_image(item.path)


def _prefetched(items: Sequence[DetectItem], ahead: int) -> Iterator[tuple[DetectItem, Future]]:
    """Yield (item, future of its pixels) in order, reading at most ``ahead`` images in advance."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="xforge-read") as pool:
        queue: deque[tuple[DetectItem, Future]] = deque()
        it = iter(items)
        for item in it:
            queue.append((item, pool.submit(_read, item)))
            if len(queue) >= ahead:
                break
        while queue:
            yield queue.popleft()
            nxt = next(it, None)
            if nxt is not None:
                queue.append((nxt, pool.submit(_read, nxt)))


class _Writer:
    """Writes one prediction line (and its mask and overlay) per image."""

    def __init__(self, out_dir: Path, engine: str, overlays: bool, lines: PredictionAppender):
        self.out_dir, self.engine, self.overlays, self.lines = out_dir, engine, overlays, lines
        self.done = 0
        self.errors = 0

    def result(self, item: DetectItem, image: np.ndarray, res: AnalysisResult) -> None:
        # The mask and overlay go first (each atomically), so a line never names a file that is not there.
        mask_rel = write_mask_png(self.out_dir, item.id, res.prob_map)
        if self.overlays:
            write_overlay(self.out_dir / OVERLAYS_DIR / mask_filename(item.id), image, res.mask)
        self.lines.append(prediction_record(item.id, item.image, res, mask_rel, source_of(item.path)))
        self.done += 1

    def error(self, item: DetectItem, message: str) -> None:
        logger.warning("%s", message)
        self.lines.append(
            {
                "id": item.id,
                "image": item.image,
                "engine": self.engine,
                "regions": [],
                "error": message,
                "source": source_of(item.path),
            }
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
        try:
            writer.result(item, img, res)
        except (OSError, ValueError) as exc:  # this image's files; the next image may well work
            writer.error(item, f"{item.path}: could not write its mask or overlay ({exc})")


def _check_engine(path: Path, rows: Sequence[dict[str, Any]], engine: str) -> None:
    engines = {row.get("engine") for row in rows if not row.get("error")}
    other = engines - {engine, None}
    if other:
        logger.warning(
            "%s already holds predictions by engine %s; this run uses %r", path, sorted(other), engine
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
    retry_errors: bool = True,
    allow_empty: bool = False,
) -> dict[str, Any]:
    """Analyse every image of ``inputs`` into the predictions folder ``out_dir``; returns a summary.

    Summary keys: ``out_dir``, ``predictions`` (the JSONL path), ``total`` (images found), ``skipped``
    (already done by an earlier run), ``retried`` (error lines of an earlier run analysed again),
    ``kept_errors`` (error lines of an earlier run kept, ``retry_errors=False``),
    ``changed`` (files changed since their line), ``dropped_lines`` (unreadable lines removed), ``done``
    and ``errors`` (this run), ``engine``, ``seconds``. Raises :class:`NoInputError` when the inputs hold no
    image at all (unless ``allow_empty``) and :class:`OSError` when ``out_dir`` cannot be written, both
    before any work.
    """
    from tqdm.auto import tqdm

    from xforge.atomic import check_writable_dir, remove_stale_temps

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    items, empty = _collect(inputs, roots)
    # An --out inside an input folder must not feed its own masks and overlays back in on a rerun.
    own = os.path.realpath(out_dir)
    outputs = [it for it in items if os.path.commonpath([own, str(real_path(it.path))]) == own]
    if outputs:
        logger.info("%d files under %s (this run's output folder) are not inputs", len(outputs), out_dir)
        items = [it for it in items if it not in outputs]
    if not items and not allow_empty:
        raise NoInputError("nothing to analyse: " + ("; ".join(empty) or "no input given"))
    for message in empty:
        logger.warning("%s", message)
    out = check_writable_dir(out_dir)
    for folder in (out, out / MASKS_DIR, out / OVERLAYS_DIR):
        for tmp in remove_stale_temps(folder):
            logger.warning("%s: removed a temp file an interrupted run left", tmp)
    rows, problems = read_predictions(out)
    for message in problems:
        logger.warning("%s", message)
    plan = plan_resume(items, rows, retry_errors=retry_errors)
    if problems or plan.rewrite:
        rewrite_predictions(out, plan.keep)
    if plan.keep:
        _check_engine(out / PREDICTIONS_FILE, plan.keep, detector.engine)
    todo = plan.todo
    question = question or DEFAULT_QUESTION
    logger.info(
        "detect: %d images, %d already done, %d errors retried, engine %s",
        len(items),
        plan.skipped,
        plan.retried,
        detector.engine,
    )
    start = time.perf_counter()
    batch: list[tuple[DetectItem, np.ndarray]] = []
    with (
        PredictionAppender(out) as lines,
        tqdm(total=len(todo), unit="img", desc="detect", disable=not progress) as bar,
    ):
        writer = _Writer(out, detector.engine, overlays, lines)
        for item, future in _prefetched(todo, ahead=2 * batch_size):
            try:
                batch.append((item, future.result()))
            except (ValueError, OSError) as exc:  # ImageReadError is a ValueError naming the file
                writer.error(item, str(exc) if str(item.path) in str(exc) else f"{item.path}: {exc}")
                bar.update(1)
            if len(batch) >= batch_size:
                _analyse(detector, batch, question, writer)
                lines.sync()
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
        "skipped": plan.skipped,
        "retried": plan.retried,
        "kept_errors": plan.kept_errors,
        "changed": plan.changed,
        "dropped_lines": len(problems),
        "done": writer.done,
        "errors": writer.errors,
        "engine": detector.engine,
        "seconds": round(seconds, 3),
    }
