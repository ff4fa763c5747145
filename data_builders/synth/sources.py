"""Where the generator's authentic photos come from: a folder of images, or a manifest (with object masks).

Images are decoded lazily and kept in a small cache; an image that cannot be read is remembered as bad,
reported once, and never drawn again.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from data_builders.synth.edits import Source
from xforge.data.images import ImageReadError, read_image
from xforge.data.manifest import read_manifest, resolve_path, root_for
from xforge.data.masks import MaskError, decode_mask

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class SourceError(ValueError):
    """No usable source images (empty folder, nothing readable); the message names the place."""


@dataclass(frozen=True)
class SourceEntry:
    name: str  # how the manifest's meta names it (relative to the folder or dataset root)
    path: Path
    object_masks: tuple[tuple[Path, str, str | None], ...] = ()  # (mask file, mask_format, label)


def list_folder(folder: str | os.PathLike) -> list[SourceEntry]:
    """Every image file under ``folder`` (recursive, sorted, hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a folder of images")
    entries = [
        SourceEntry(p.relative_to(folder).as_posix(), p)
        for p in sorted(folder.rglob("*"))
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    if not entries:
        raise SourceError(
            f"{folder}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)}, recursively)"
        )
    return entries


def list_manifest(manifest: str | os.PathLike, roots: dict[str, Path]) -> list[SourceEntry]:
    """Authentic records of a manifest; a record's mask (if any) is taken as an object outline in it.

    Several records with the same image contribute several object masks (e.g. one per COCO instance).
    ``meta["object_label"]`` (or ``meta["category"]``) names the object, e.g. "person"; explanations then
    say what was pasted or removed.
    """
    by_image: dict[Path, SourceEntry] = {}
    for rec in read_manifest(manifest):
        if rec.label != "authentic":
            continue
        path = resolve_path(root_for(rec, roots), rec.image)
        masks = ()
        if rec.mask is not None:
            label = rec.meta.get("object_label") or rec.meta.get("category")
            masks = ((resolve_path(root_for(rec, roots), rec.mask), rec.mask_format, label),)
        old = by_image.get(path)
        name = f"{rec.dataset}/{rec.image}"
        by_image[path] = SourceEntry(name, path, (old.object_masks if old else ()) + masks)
    if not by_image:
        raise SourceError(f"{manifest}: no authentic records to use as sources")
    return list(by_image.values())


def _shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    if max_side <= 0 or max(h, w) <= max_side:
        return image
    f = max_side / max(h, w)
    return cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


class SourcePool:
    """Lazy, cached access to the source images; bad files are recorded in ``bad`` (path -> reason)."""

    MIN_SIDE = 32

    def __init__(self, entries: list[SourceEntry], max_side: int, cache_size: int = 32):
        self.entries = entries
        self.max_side = max_side
        self.cache_size = cache_size
        self._cache: OrderedDict[int, Source] = OrderedDict()
        self.bad: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def is_bad(self, index: int) -> bool:
        return str(self.entries[index].path) in self.bad

    def get(self, index: int) -> Source | None:
        """The decoded source, or None (after recording why) when it cannot be used."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        entry = self.entries[index]
        if str(entry.path) in self.bad:
            return None
        try:
            image = read_image(entry.path)
            if min(image.shape[:2]) < self.MIN_SIDE:
                raise ImageReadError(entry.path, f"too small to edit ({image.shape[1]}x{image.shape[0]})")
            h, w = image.shape[:2]
            objects, labels = [], []
            for mask_path, fmt, label in entry.object_masks:
                m = decode_mask(mask_path, fmt, expected_size=(w, h), resize_policy="nearest") > 0
                if m.any():
                    objects.append(m.astype(np.uint8))
                    labels.append(label)
        except (ImageReadError, MaskError, OSError) as exc:
            reason = str(exc)
            self.bad[str(entry.path)] = reason
            log.warning("skipping source %s", reason)
            return None
        small = _shrink(image, self.max_side)
        if small.shape != image.shape:
            size = small.shape[1::-1]
            resized = [cv2.resize(m, size, interpolation=cv2.INTER_NEAREST) for m in objects]
            kept = [(m, lab) for m, lab in zip(resized, labels) if m.any()]
            objects, labels = [m for m, _ in kept], [lab for _, lab in kept]
        source = Source(entry.name, small, objects, labels)
        self._cache[index] = source
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return source
