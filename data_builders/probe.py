"""Turn candidate samples into manifest records: header sizes, mask checks, skips with reasons.

Shared by every adapter (``xforge data build``) and every split protocol (``xforge data split``), so a file
is judged the same way wherever it comes from. Only headers are read (Pillow's lazy open), in worker
processes for large scans because header parsing is CPU-bound Python that threads cannot overlap.
A file whose end marker is missing (a likely truncated download) is decoded in full to decide.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xforge.data.images import ImageReadError, read_image, read_image_info
from xforge.data.masks import MaskError, decode_mask
from xforge.data.schema import SampleRecord

logger = logging.getLogger(__name__)

# Below this many files a process pool costs more to start than it saves.
PARALLEL_MIN_FILES = 4000
CHUNK = 512


@dataclass
class Candidate:
    """A sample an adapter found, before its files are checked. Paths are POSIX, relative to the root."""

    image: str
    label: str
    mask: str | None = None
    mask_format: str | None = None
    manipulation: list[str] = field(default_factory=list)
    original: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # "nearest" only where the dataset has a documented size quirk that nearest resampling repairs.
    resize_policy: str = "error"
    split: str | None = None
    size_note: str = ""  # the dataset's known size quirk and its published fix, added to a mismatch skip


@dataclass(frozen=True)
class Skip:
    """A file left out of a manifest, and why (always reported, never silent)."""

    path: str
    reason: str


@dataclass
class BuildResult:
    records: list[SampleRecord]
    skips: list[Skip]

    def extend(self, other: BuildResult) -> None:
        self.records.extend(other.records)
        self.skips.extend(other.skips)


def _npz_shape(path: str) -> tuple[int, int]:
    """(width, height) of the array in a FantasticReality-style .npz, from the .npy header only."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(".npy")]
            if not names:
                raise MaskError(path, "the .npz archive holds no array")
            name = "arr_0.npy" if "arr_0.npy" in names else names[0]
            with archive.open(name) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, _ = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, _, _ = np.lib.format.read_array_header_2_0(f)
    except FileNotFoundError:
        raise MaskError(path, "no such file") from None
    except PermissionError:
        raise MaskError(path, "permission denied") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise MaskError(path, f"not a readable .npz archive ({exc})") from None
    dims = [d for d in shape if d != 1]
    if len(dims) < 2:
        raise MaskError(path, f"the mask array has shape {shape}, not an image")
    return dims[1], dims[0]


def _mask_facts(path: str, mask_format: str) -> tuple[tuple[int, int], bool]:
    """((width, height) as stored, ends_cleanly) of a mask file, from its header."""
    if mask_format == "npz":
        return _npz_shape(path), True
    try:
        info = read_image_info(path)
    except ImageReadError as exc:
        raise MaskError(path, exc.problem) from None
    return info.stored_size, info.ends_cleanly


def probe_one(root: str, cand: Candidate, verify: bool = False) -> tuple[dict[str, Any] | None, Skip | None]:
    """Check one candidate's files; returns (record fields, None) or (None, Skip). Runs in workers.

    Headers only, unless ``verify`` (decode every image and mask in full) or a file's end marker is
    missing (then a full decode decides whether it is truncated).
    """
    image_path = os.path.join(root, cand.image)
    try:
        info = read_image_info(image_path)
        if verify or not info.ends_cleanly:
            read_image(image_path)
    except ImageReadError as exc:
        return None, Skip(cand.image, exc.problem)
    fields: dict[str, Any] = {"width": info.width, "height": info.height}
    meta = dict(cand.meta)
    if cand.mask is not None:
        mask_path = os.path.join(root, cand.mask)
        try:
            (mw, mh), ends_cleanly = _mask_facts(mask_path, cand.mask_format or "")
            if verify or not ends_cleanly:
                decode_mask(mask_path, cand.mask_format or "white_forged")
            if (mw, mh) != (info.width, info.height):
                if cand.resize_policy != "nearest":
                    note = f"; {cand.size_note}" if cand.size_note else ""
                    if (mw, mh) == info.stored_size:
                        note += "; it matches the image as stored, before the image's EXIF rotation"
                    raise MaskError(
                        mask_path,
                        f"mask is {mw}x{mh} but its image is {info.width}x{info.height}{note} "
                        "(--resize-masks resamples such masks, nearest neighbour, and records it in meta)",
                    )
                meta["mask_resize"] = "nearest"
                meta["mask_size"] = [mw, mh]
        except MaskError as exc:
            return None, Skip(cand.mask, f"mask of {cand.image}: {exc.problem}")
    fields["meta"] = meta
    return fields, None


def _probe_chunk(
    root: str, chunk: Sequence[Candidate], verify: bool = False
) -> list[tuple[dict[str, Any] | None, Skip | None]]:
    return [probe_one(root, c, verify) for c in chunk]


def default_workers() -> int:
    """Header-reading processes: one per CPU (at most 8), but none extra on machines with 2 CPUs or fewer,
    where the pool's pickling and start-up cost more than they save (measured with scripts/bench_data.py
    on a 2-CPU machine: 7,300-14,800 records/s in one process vs 6,000-6,500 with two workers)."""
    cpus = os.cpu_count() or 1
    return 1 if cpus <= 2 else min(cpus, 8)


def _probed_chunks(
    root: str, chunks: list[list[Candidate]], workers: int, verify: bool
) -> Iterator[list[tuple[dict[str, Any] | None, Skip | None]]]:
    """Probe results chunk by chunk, in order; in worker processes when the scan is big enough."""
    n = sum(len(c) for c in chunks)
    if workers > 1 and n >= PARALLEL_MIN_FILES:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield from pool.map(_probe_chunk, [root] * len(chunks), chunks, [verify] * len(chunks))
    else:
        for chunk in chunks:
            yield _probe_chunk(root, chunk, verify)


def finalize(
    dataset: str,
    root: str | os.PathLike,
    candidates: Iterable[Candidate],
    *,
    default_split: str,
    workers: int | None = None,
    progress: Any | None = None,
    verify: bool = False,
) -> BuildResult:
    """Probe candidates (in parallel for big scans) and build validated records; skips carry reasons.

    ``verify`` decodes every image and mask in full (slow; finds corruption a header cannot show).
    ``progress`` is a tqdm-like bar: its ``total`` is set here and ``update(n)`` called as chunks finish.
    Record ids are ``<dataset>/<image path>`` (``...::<mask path>`` for an image listed with several masks).
    """
    cands = list(candidates)
    root = str(Path(root).resolve())
    chunks = [cands[i : i + CHUNK] for i in range(0, len(cands), CHUNK)]
    if workers is None:
        workers = default_workers()
    if progress is not None and progress.total is None:
        progress.total = len(cands)
        progress.refresh()
    out = BuildResult([], [])
    seen: set[tuple[str, str | None]] = set()
    per_image = Counter(c.image for c in cands)
    # Records are made as chunks come back, so this process works while the workers read headers.
    for chunk, part in zip(chunks, _probed_chunks(root, chunks, workers, verify)):
        for cand, (fields, skip) in zip(chunk, part):
            if skip is not None:
                out.skips.append(skip)
                continue
            if (cand.image, cand.mask) in seen:
                out.skips.append(
                    Skip(cand.image, "listed twice with the same mask; kept the first occurrence")
                )
                continue
            seen.add((cand.image, cand.mask))
            out.records.append(_record(dataset, root, cand, fields, default_split, per_image[cand.image] > 1))
        if progress is not None:
            progress.update(len(part))
    for skip in out.skips:
        logger.debug("%s: skipped %s: %s", dataset, skip.path, skip.reason)
    if out.skips:
        logger.info("%s: %d records, %d files skipped", dataset, len(out.records), len(out.skips))
    return out


def _record(
    dataset: str, root: str, cand: Candidate, fields: dict[str, Any], default_split: str, shared_image: bool
) -> SampleRecord:
    # An image paired with several masks (NIST16 splice rows, one per donor) gives one record per pair.
    record_id = f"{dataset}/{cand.image}::{cand.mask}" if shared_image else f"{dataset}/{cand.image}"
    original = cand.original
    meta = fields["meta"]
    if original is not None and not os.path.isfile(os.path.join(root, original)):
        meta = {**meta, "original_missing": original}
        original = None
    return SampleRecord(
        id=record_id,
        dataset=dataset,
        split=cand.split or default_split,
        image=cand.image,
        label=cand.label,
        mask=cand.mask,
        mask_format=cand.mask_format if cand.mask else None,
        manipulation=list(cand.manipulation),
        width=fields["width"],
        height=fields["height"],
        original=original,
        meta=meta,
    )
