"""Training examples from conversation records (docs/ARCHITECTURE.md, "Formats").

:class:`ConversationDataset` reads a conversations JSONL (``xforge.data.conversations``), resolves each
record's ``image``/``mask`` against the dataset roots given at read time, decodes them with the project's one
image reader and one mask decoder, and returns the example dict ``XForgeProcessor.collate`` takes::

    {"messages": [...], "image": HxWx3 uint8, "masks": [HxW uint8 0/1 per <SEG>], "label": ...}

A file that cannot be read (truncated image, mask of the wrong size, missing file) is logged with its path
and the problem, counted, and replaced by the next readable record, so one bad file never stops a
multi-day run and every process still sees a full batch (a skipped step on one rank would hang the others).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Sampler

from xforge.data.conversations import read_conversations
from xforge.data.images import ImageReadError, read_image
from xforge.data.manifest import ManifestError, parse_roots, resolve_path, root_for
from xforge.data.masks import MaskError, decode_mask

logger = logging.getLogger(__name__)

Roots = str | os.PathLike | Mapping[str, str | os.PathLike]


def _as_roots(roots: Roots) -> dict[str, Path]:
    if isinstance(roots, Mapping):
        return {k.lower(): Path(v) for k, v in roots.items()}
    return {"*": Path(roots)}


def seg_masks(mask: np.ndarray, targets: Sequence[str | int]) -> list[np.ndarray]:
    """One 0/1 mask per ``<SEG>``: ``"all"`` is every forged pixel, an int ``i`` the pixels of source ``i``."""
    return [
        (mask > 0 if t == "all" else mask == t).astype(np.uint8)  # decode_mask gives 0/1 or source indices
        for t in targets
    ]


class ConversationDataset(Dataset):
    """Examples of one conversations JSONL, images and masks resolved against ``roots``.

    ``roots`` is one folder (every record) or a mapping dataset name -> folder (``"*"`` as a fallback).
    ``max_pixels`` refuses larger images (decompression bombs) through ``read_image``.
    """

    def __init__(
        self,
        conversations_jsonl: str | os.PathLike,
        roots: Roots,
        *,
        max_pixels: int | None = None,
        skip_bad: bool = True,
    ) -> None:
        self.path = Path(conversations_jsonl)
        self.records = read_conversations(self.path)
        if not self.records:
            raise ManifestError(f"{self.path}: no conversation records")
        self.roots = _as_roots(roots)
        self.max_pixels = max_pixels
        self.skip_bad = skip_bad
        self.bad: dict[str, str] = {}  # sample_id -> problem, for this process (and worker)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def datasets(self) -> list[str]:
        """The dataset name of every index (what the balanced sampler groups by)."""
        return [r.dataset for r in self.records]

    def load(self, index: int) -> dict[str, Any]:
        """The example at ``index``; raises ImageReadError / MaskError / ManifestError naming the file."""
        record = self.records[index]
        root = root_for({"dataset": record.dataset}, self.roots)
        kwargs = {} if self.max_pixels is None else {"max_pixels": self.max_pixels}
        image = read_image(resolve_path(root, record.image), **kwargs)
        masks: list[np.ndarray] = []
        if record.seg_targets:
            height, width = image.shape[:2]
            mask = decode_mask(
                resolve_path(root, record.mask), record.mask_format, expected_size=(width, height)
            )
            masks = seg_masks(mask, record.seg_targets)
        return {"messages": record.messages, "image": image, "masks": masks, "label": record.label}

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not self.skip_bad:
            return self.load(index)
        for offset in range(len(self.records)):
            i = (index + offset) % len(self.records)
            try:
                return self.load(i)
            except (ImageReadError, MaskError, ManifestError) as exc:
                sample_id = self.records[i].sample_id
                if sample_id not in self.bad:
                    self.bad[sample_id] = str(exc)
                    logger.warning("skipping %s: %s", sample_id, exc)
        raise ManifestError(f"{self.path}: no record could be read ({len(self.bad)} bad)")


def build_dataset(sources: Sequence[Any], *, max_pixels: int | None = None) -> ConcatDataset:
    """One dataset over several :class:`~train_stages.config.DataSource` entries, in the order given."""
    parts = []
    for src in sources:
        # Without a root in the config, the XFORGE_ROOT_<DATASET> environment variables give them.
        roots = src.roots or src.root or parse_roots(None)
        if not roots:
            raise ManifestError(
                f"{src.conversations}: no dataset root: set data root(s) in the config or XFORGE_ROOT_<DATASET>"
            )
        parts.append(ConversationDataset(src.conversations, roots, max_pixels=max_pixels))
    return ConcatDataset(parts)


def dataset_names(dataset: ConcatDataset) -> list[str]:
    """The dataset name of every index of a :func:`build_dataset` result."""
    return [name for part in dataset.datasets for name in part.datasets]


class SeededShuffleSampler(Sampler[int]):
    """A permutation of ``range(n)`` that depends only on ``(seed, epoch)``, so a resumed run sees the
    same order and can skip the batches it already consumed."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n = n
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())


def build_sampler(kind: str, dataset: ConcatDataset, *, seed: int, per_dataset: int) -> Sampler[int]:
    if kind == "balanced":
        from data_builders.sampling import BalancedDatasetSampler

        return BalancedDatasetSampler(dataset_names(dataset), per_dataset=per_dataset, seed=seed)
    return SeededShuffleSampler(len(dataset), seed=seed)
