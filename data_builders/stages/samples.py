"""Manifest records made ready for the conversation builders: the decoded mask and the explanation facts.

Records that cannot ground a ``<SEG>`` (a tampered image without a mask, an unreadable mask) are skipped
with a reason rather than turned into text that is not true of the image.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_builders.explain import EditFacts, facts_from
from xforge.data.manifest import resolve_path, root_for
from xforge.data.masks import MaskError, decode_mask
from xforge.data.schema import SampleRecord


@dataclass
class StageSample:
    record: SampleRecord
    mask: np.ndarray | None  # decoded: 0/1, or source indices for multi_source_gray
    facts: EditFacts

    @property
    def multi_source(self) -> bool:
        return self.record.mask_format == "multi_source_gray"


@dataclass
class Skipped:
    id: str
    reason: str


def load_sample(record: SampleRecord, roots: Mapping[str, str | Path]) -> StageSample | Skipped:
    if record.label == "tampered" and record.mask is None:
        return Skipped(record.id, "tampered but no mask, so no <SEG> can be grounded")
    mask = None
    # Only an edited image has a region; a generated one (``synthetic``) is described as a whole.
    if record.mask is not None and record.label == "tampered":
        path = resolve_path(root_for(record, roots), record.mask)
        try:
            mask = decode_mask(path, record.mask_format)
        except MaskError as exc:
            return Skipped(record.id, str(exc))
        if not mask.any():
            return Skipped(record.id, f"{path}: the mask marks no pixel")
    multi = record.mask_format == "multi_source_gray"
    facts = facts_from(record.label, mask, record.manipulation, record.meta, multi_source=multi)
    return StageSample(record, mask, facts)


def load_samples(
    records: Iterable[SampleRecord], roots: Mapping[str, str | Path]
) -> Iterator[StageSample | Skipped]:
    for record in records:
        yield load_sample(record, roots)
