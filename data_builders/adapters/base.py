"""What every dataset adapter shares: walking a root, pairing images with masks, reporting skips.

An adapter knows one dataset as its authors ship it: which files are tampered or authentic, where each
mask is, how the mask is encoded (``mask_format``), and which quirks have a documented repair. It yields
:class:`~data_builders.probe.Candidate` samples (or :class:`~data_builders.probe.Skip` with a reason) from
:meth:`DatasetAdapter.scan`; :meth:`DatasetAdapter.build` checks the files and returns records.

Matching is by file *name* anywhere under the root, not by fixed folder paths, so the same adapter reads
the original release and the re-arranged copies that CAT-Net, MVSS-Net and TruFor users keep (their lists
name the same files under different folders). JPEG copies that CAT-Net writes next to the data (folders
``0jpg``, ``jpg``, ``*-jpg``) are not part of any release and are ignored.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import ClassVar

from data_builders.probe import BuildResult, Candidate, Skip, finalize

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
_JPEG_COPY_DIRS = re.compile(r"^(0jpg|jpg|.*-jpg)$", re.IGNORECASE)


class DatasetRootError(ValueError):
    """The dataset root is missing or holds nothing this adapter recognises."""


def is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTS)


# String operations rather than PurePosixPath: these run several times per file in 100,000-file scans.
def name(path: str) -> str:
    return path.rpartition("/")[2]


def stem(path: str) -> str:
    base = name(path)
    dot = base.rfind(".")
    return base[:dot] if dot > 0 else base


def under(path: str, folder: re.Pattern[str]) -> bool:
    """Whether any folder above ``path`` matches ``folder`` (full match, case as compiled)."""
    return any(folder.fullmatch(part) for part in PurePosixPath(path).parts[:-1])


class FileIndex:
    """Every file under a root, as POSIX paths relative to it, indexed by file name."""

    def __init__(self, root: Path, paths: list[str], skips: list[Skip]) -> None:
        self.root = root
        self.paths = paths
        self.skips = skips
        self.by_name: dict[str, list[str]] = defaultdict(list)
        self.by_lower_name: dict[str, list[str]] = defaultdict(list)
        for p in paths:
            base = p.rpartition("/")[2]
            self.by_name[base].append(p)
            self.by_lower_name[base.lower()].append(p)
        self._set = set(paths)

    @classmethod
    def scan(cls, root: str | os.PathLike) -> FileIndex:
        root = Path(root)
        paths: list[str] = []
        skips: list[Skip] = []

        def on_error(exc: OSError) -> None:
            skips.append(
                Skip(os.path.relpath(exc.filename, root), f"cannot list the folder ({exc.strerror})")
            )

        for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
            dirnames[:] = sorted(
                d for d in dirnames if not _JPEG_COPY_DIRS.match(d) and not d.startswith(".")
            )
            rel_dir = os.path.relpath(dirpath, root)
            for fn in sorted(filenames):
                if fn.startswith("."):
                    continue
                rel = fn if rel_dir == "." else f"{rel_dir}/{fn}"
                rel = rel.replace(os.sep, "/")
                try:
                    rel.encode("utf-8")
                except UnicodeEncodeError:
                    skips.append(
                        Skip(rel.encode("utf-8", "replace").decode(), "file name is not valid UTF-8")
                    )
                    continue
                paths.append(rel)
        return cls(root, paths, skips)

    def __contains__(self, rel: str) -> bool:
        return rel in self._set

    def images(self) -> Iterator[str]:
        return (p for p in self.paths if is_image(p))

    def find(
        self,
        filename: str,
        *,
        near: str | None = None,
        ignore_case: bool = False,
        folder: re.Pattern[str] | None = None,
    ) -> str | None:
        """The file called ``filename`` (optionally only inside a folder matching ``folder``); with
        several, the one sharing most leading folders with ``near``."""
        hits = (self.by_lower_name if ignore_case else self.by_name).get(
            filename.lower() if ignore_case else filename, []
        )
        if folder is not None:
            hits = [h for h in hits if under(h, folder)]
        if len(hits) <= 1 or near is None:
            return hits[0] if hits else None
        near_parts = PurePosixPath(near).parts

        def shared(p: str) -> int:
            n = 0
            for a, b in zip(PurePosixPath(p).parts, near_parts):
                if a != b:
                    break
                n += 1
            return n

        return max(hits, key=shared)

    def in_folder(self, folder: str) -> Iterator[str]:
        """Images whose parent folder is called ``folder`` (case-insensitive)."""
        folder = folder.lower()
        return (p for p in self.images() if PurePosixPath(p).parent.name.lower() == folder)


class DatasetAdapter:
    """Base class: subclasses set the class attributes and implement :meth:`scan`."""

    key: ClassVar[str]  # registry key, e.g. "casia2"
    title: ClassVar[str]  # human name with the paper or release it comes from
    default_split: ClassVar[str] = "test"  # split written by `xforge data build` (protocols override)
    mask_format: ClassVar[str] = "white_forged"
    resize_policy: ClassVar[str] = "error"  # "nearest" only where a size quirk has a documented repair
    mask_size_note: ClassVar[str] = ""  # known misaligned masks and where corrected ones are published
    manipulation: ClassVar[tuple[str, ...]] = ("unknown",)

    # -- to implement -------------------------------------------------------------------------------
    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        raise NotImplementedError

    # -- shared behaviour -----------------------------------------------------------------------------
    def manipulation_of(self, image: str) -> list[str]:
        """Manipulation types of a tampered image (from its name where the dataset encodes them)."""
        return list(self.manipulation)

    def tampered(self, image: str, mask: str | None, **extra) -> Candidate:
        return Candidate(
            image=image,
            label="tampered",
            mask=mask,
            mask_format=self.mask_format if mask else None,
            manipulation=self.manipulation_of(image),
            resize_policy=self.resize_policy,
            size_note=self.mask_size_note,
            **extra,
        )

    def authentic(self, image: str, **extra) -> Candidate:
        return Candidate(image=image, label="authentic", **extra)

    def synthetic(self, image: str, **extra) -> Candidate:
        """A fully generated image: no part of it comes from a photo, so it has no mask."""
        return Candidate(image=image, label="synthetic", manipulation=["full-synthetic"], **extra)

    def describe(self, image: str, mask: str | None, label: str) -> Candidate:
        """A candidate for a sample named by a split list (the list fixes the files, we add the rest)."""
        if label == "authentic":
            return self.authentic(image)
        if label == "synthetic":
            return self.synthetic(image)
        return self.tampered(image, mask)

    def pair(
        self,
        files: FileIndex,
        images: Iterable[str],
        mask_names: Callable[[str], Iterable[str]],
        *,
        missing: str = "no ground-truth mask found",
    ) -> Iterator[Candidate | Skip]:
        """Tampered candidates for ``images``, each with the first existing mask among ``mask_names(image)``."""
        for image in images:
            mask = None
            for candidate_name in mask_names(image):
                mask = files.find(candidate_name, near=image)
                if mask:
                    break
            if mask is None:
                yield Skip(image, f"{missing} (looked for {', '.join(mask_names(image))})")
            else:
                yield self.tampered(image, mask)

    def build(
        self,
        root: str | os.PathLike,
        *,
        workers: int | None = None,
        progress=None,
        files: FileIndex | None = None,
        resize_masks: bool = False,
        verify: bool = False,
    ) -> BuildResult:
        """Scan ``root`` and return the records and the skipped files with reasons.

        ``resize_masks`` resamples masks whose size differs from their image (nearest neighbour) instead
        of skipping them; such records carry ``meta.mask_resize`` so the choice stays visible. ``verify``
        decodes every file in full instead of reading headers.
        """
        root = Path(root)
        if not root.is_dir():
            raise DatasetRootError(f"{root}: {self.title} root is not a folder")
        files = files or FileIndex.scan(root)
        found = list(self.scan(files))
        cands = [c for c in found if isinstance(c, Candidate)]
        if resize_masks:
            for c in cands:
                c.resize_policy = "nearest"
        skips = list(files.skips) + [s for s in found if isinstance(s, Skip)]
        if not cands and not skips:
            raise DatasetRootError(
                f"{root}: nothing of {self.title} found here; see the layout in data_builders/adapters/"
                f"{self.key}.py"
            )
        result = finalize(
            self.key,
            root,
            cands,
            default_split=self.default_split,
            workers=workers,
            progress=progress,
            verify=verify,
        )
        result.skips[:0] = skips
        return result


class FolderPairAdapter(DatasetAdapter):
    """Datasets that keep tampered images, their masks and authentic images in named folders, a mask
    sharing its image's stem. Subclasses set the folder patterns and the mask name templates."""

    tampered_dirs: ClassVar[re.Pattern[str]]
    mask_dirs: ClassVar[re.Pattern[str]]
    authentic_dirs: ClassVar[re.Pattern[str] | None] = None
    mask_names: ClassVar[tuple[str, ...]] = ("{stem}.png",)  # tried in order
    # A tampered image without a mask: a record with no mask (still usable for detection) instead of a skip,
    # for datasets whose release is known to lack some masks.
    keep_unmasked: ClassVar[bool] = False

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        tampered = [
            p for p in files.images() if under(p, self.tampered_dirs) and not under(p, self.mask_dirs)
        ]
        for image in tampered:
            names = [t.format(stem=stem(image)) for t in self.mask_names]
            mask = next(
                (m for m in (files.find(n, near=image, folder=self.mask_dirs) for n in names) if m), None
            )
            if mask is None and self.keep_unmasked:
                yield self.tampered(image, None)
            elif mask is None:
                yield Skip(
                    image, f"no ground-truth mask found (looked for {', '.join(names)} in a mask folder)"
                )
            else:
                yield self.tampered(image, mask)
        if self.authentic_dirs is not None:
            for image in files.images():
                if under(image, self.authentic_dirs) and not under(image, self.mask_dirs):
                    yield self.authentic(image)
