"""Split protocols as data: which reference list gives which dataset's samples for which split.

A protocol is a list of :class:`ListSpec` (one per reference list file in ``lists/``) plus, where a list
was never published, a rule that rebuilds it from the image folders. :func:`build_protocol` reads the lists,
asks each dataset's adapter to describe the named files (mask format, manipulation, quirks), checks the
files under the roots the user gives, and returns the records per split with every skip and every dataset
left out for want of a root.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from data_builders.adapters.base import DatasetAdapter
from data_builders.probe import BuildResult, Candidate, Skip, finalize
from data_builders.registry import get_adapter
from xforge.data.schema import SampleRecord

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListSpec:
    """One reference list file and how to read it."""

    file: str  # under data_builders/splits/lists/, e.g. "catnet/CASIA_v2_train_list.txt"
    dataset: str  # adapter key; the list's paths are relative to this dataset's --root
    split: str
    syntax: str = "csv"  # "csv": comma-separated (CAT-Net, TruFor); "space": MVSS-Net's "image mask label"
    label: str | None = None  # fixed label; None = from the line (mask "None" / MVSS label column)
    image_prefix: str = ""  # prepended to image paths (lists that hold bare file names)
    mask_prefix: str = ""
    mask_for: Callable[[str], str] | None = None  # mask path of a tampered image when the list has none
    original_column: int | None = None  # column naming the pristine/donor image (IMD2020, NC16)
    keep: frozenset[str] = frozenset({"tampered", "authentic"})  # labels taken from this list


@dataclass
class Protocol:
    name: str
    description: str
    specs: list[ListSpec]
    # Extra candidates rebuilt from folders, for lists that were never published: (roots, named images)
    extra: (
        Callable[[Mapping[str, Path], Mapping[str, set[str]]], Iterator[tuple[str, Candidate | Skip]]] | None
    ) = None
    extra_datasets: tuple[str, ...] = ()  # datasets the ``extra`` rule reads (their own --root, not '*')

    def datasets(self) -> list[str]:
        """Every dataset key this protocol reads, in list order."""
        return list(dict.fromkeys([*(s.dataset for s in self.specs), *self.extra_datasets]))


@dataclass
class SplitResult:
    records: dict[str, list[SampleRecord]]  # split -> records
    skips: list[tuple[str, Skip]]  # (dataset, skip)
    missing_roots: dict[
        str, int | None
    ]  # dataset -> samples not built for want of a root (None: a folder rule)

    def counts(self) -> dict[str, int]:
        return {split: len(recs) for split, recs in self.records.items()}


def list_lines(file: str) -> list[str]:
    """Non-empty lines of a packaged reference list."""
    text = resources.files("data_builders.splits").joinpath("lists", file).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _clean(path: str) -> str:
    path = path.strip()
    return path[2:] if path.startswith("./") else path


def _safe(path: str) -> bool:
    p = PurePosixPath(path)
    return not p.is_absolute() and ".." not in p.parts and not (len(path) > 1 and path[1] == ":")


def candidates_of(spec: ListSpec, adapter: DatasetAdapter) -> Iterator[Candidate | Skip]:
    """The samples a list names, described by the dataset's adapter."""
    for lineno, line in enumerate(list_lines(spec.file), 1):
        fields = line.split() if spec.syntax == "space" else line.split(",")
        image = spec.image_prefix + _clean(fields[0])
        raw_mask = _clean(fields[1]) if len(fields) > 1 else ""
        mask = None if raw_mask in ("", "None") else spec.mask_prefix + raw_mask
        if spec.label is not None:
            label = spec.label
        elif spec.syntax == "space" and len(fields) > 2:
            # MVSS-Net: 0 authentic; 1 and 2 tampered (CASIAv1plus.txt marks copy-move 1, splicing 2)
            label = "authentic" if fields[2] == "0" else "tampered"
        else:
            label = "tampered" if mask else "authentic"
        if label not in spec.keep:
            continue
        if label == "tampered" and mask is None and spec.mask_for is not None:
            mask = spec.mask_for(image)
        if label == "authentic":
            mask = None
        bad = next((p for p in (image, mask) if p is not None and not _safe(p)), None)
        if bad is not None:
            yield Skip(f"{spec.file}:{lineno}", f"path {bad!r} escapes the dataset root")
            continue
        cand = adapter.describe(image, mask, label)
        cand.split = spec.split
        if spec.original_column is not None and len(fields) > spec.original_column:
            cand.original = _clean(fields[spec.original_column])
        cand.meta = {**cand.meta, "list": spec.file}
        yield cand


def root_of(dataset: str, roots: Mapping[str, Path]) -> Path | None:
    return roots.get(dataset) or roots.get("*")


def build_protocol(
    protocol: Protocol,
    roots: Mapping[str, str | os.PathLike],
    *,
    workers: int | None = None,
    progress=None,
    resize_masks: bool = False,
    verify: bool = False,
) -> SplitResult:
    """Build the manifests of ``protocol`` for the datasets whose roots are given.

    ``resize_masks`` and ``verify`` as in :meth:`data_builders.adapters.base.DatasetAdapter.build`.
    """
    roots = {k.lower(): Path(v) for k, v in roots.items()}
    per_dataset: dict[str, list[Candidate]] = defaultdict(list)
    skips: list[tuple[str, Skip]] = []
    missing: dict[str, int | None] = defaultdict(int)
    named: dict[str, set[str]] = defaultdict(set)  # dataset -> images any list names
    placed: dict[tuple[str, str, str | None], str] = {}  # (dataset, image, mask) -> split
    adapters: dict[str, DatasetAdapter] = {}

    def add(dataset: str, item: Candidate | Skip) -> None:
        if isinstance(item, Skip):
            skips.append((dataset, item))
            return
        key = (dataset, item.image, item.mask)
        if key in placed:
            if placed[key] != item.split:
                skips.append(
                    (
                        dataset,
                        Skip(
                            item.image, f"named for both {placed[key]} and {item.split}; kept {placed[key]}"
                        ),
                    )
                )
            return  # the same sample named by two lists of one split (MVSS CASIAv1 / CASIAv1plus)
        placed[key] = item.split or "test"
        if resize_masks:
            item.resize_policy = "nearest"
        per_dataset[dataset].append(item)

    for spec in protocol.specs:
        if spec.dataset not in adapters:
            adapters[spec.dataset] = get_adapter(spec.dataset)
        items = list(candidates_of(spec, adapters[spec.dataset]))
        named[spec.dataset].update(c.image for c in items if isinstance(c, Candidate))
        if root_of(spec.dataset, roots) is None:
            missing[spec.dataset] += len(items)
            continue
        for item in items:
            add(spec.dataset, item)
    if protocol.extra is not None:
        # Rules that scan whole folders need the dataset's own root: under a shared '*' root they would
        # read every other dataset's files as this one's.
        usable = {k: roots[k] for k in protocol.extra_datasets if k in roots}
        missing.update({k: None for k in protocol.extra_datasets if k not in roots and k not in missing})
        for dataset, item in protocol.extra(usable, named):
            add(dataset, item)
    for dataset, count in missing.items():
        logger.info(
            "%s: no --root %s=PATH given; %s samples not built", protocol.name, dataset, count or "its"
        )
    if progress is not None:
        progress.total = sum(len(c) for c in per_dataset.values())
        progress.refresh()
    out = BuildResult([], [])
    for dataset, cands in per_dataset.items():
        root = root_of(dataset, roots)
        if not root.is_dir():
            skips.append((dataset, Skip(str(root), "dataset root is not a folder")))
            continue
        result = finalize(
            dataset, root, cands, default_split="test", workers=workers, progress=progress, verify=verify
        )
        out.records.extend(result.records)
        skips.extend((dataset, s) for s in result.skips)
    by_split: dict[str, list[SampleRecord]] = defaultdict(list)
    for record in out.records:
        by_split[record.split].append(record)
    return SplitResult(dict(by_split), skips, dict(missing))
