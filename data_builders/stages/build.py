"""Turn a manifest into one stage's conversation records (``xforge data convos``).

Each sample's phrasing is drawn from a generator seeded by (sample id, stage, seed), so a rebuild gives the
same file. Stage 3 can replay a share of stage-2 style single-turn questions (see "Training" in
docs/ARCHITECTURE.md), written
with ``stage: 3`` and ``meta.replay = "stage2"``.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from data_builders.stages.samples import Skipped, load_sample
from data_builders.stages.stage1 import build_stage1
from data_builders.stages.stage2 import build_stage2
from data_builders.stages.stage3 import build_stage3
from xforge.data.conversations import ConversationRecord, write_conversations
from xforge.data.manifest import read_manifest

log = logging.getLogger(__name__)


def _rng(sample_id: str, stage: int, seed: int, variant: int) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(sample_id.encode("utf-8")), stage, seed, variant])


def build_records(
    records,
    roots: Mapping[str, str | Path],
    stage: int,
    *,
    seed: int = 0,
    per_sample: int = 1,
    replay: float = 0.0,
) -> tuple[list[ConversationRecord], dict[str, Any]]:
    """Conversation records for ``stage`` from manifest records; returns (rows, report)."""
    if stage not in (1, 2, 3):
        raise ValueError(f"stage must be 1, 2 or 3, got {stage}")
    if not 0.0 <= replay <= 1.0:
        raise ValueError(f"replay must lie in [0, 1], got {replay}")
    rows: list[ConversationRecord] = []
    skipped: list[dict[str, str]] = []
    not_used = Counter()
    for record in tqdm(records, desc=f"stage {stage}", unit="sample"):
        sample = load_sample(record, roots)
        if isinstance(sample, Skipped):
            skipped.append({"id": sample.id, "reason": sample.reason})
            log.warning("skipping %s: %s", sample.id, sample.reason)
            continue
        for variant in range(per_sample):
            rng = _rng(record.id, stage, seed, variant)
            if stage == 1:
                row = build_stage1(sample, rng)
                if row is None:
                    not_used[record.label] += 1
                    break
            elif stage == 2:
                row = build_stage2(sample, rng)
            elif rng.random() < replay:
                row = build_stage2(sample, rng)
                row = ConversationRecord.from_dict(
                    {**row.to_dict(), "stage": 3, "meta": {**row.meta, "replay": "stage2"}}
                )
            else:
                row = build_stage3(sample, rng)
            rows.append(row)
    report = {
        "stage": stage,
        "records": len(rows),
        "by_label": dict(Counter(r.label for r in rows)),
        "with_seg": sum(1 for r in rows if r.seg_targets),
        "skipped": skipped,
        "not_used_in_stage": dict(not_used),
        "seed": seed,
    }
    return rows, report


def build_file(
    manifest: str | os.PathLike,
    out: str | os.PathLike,
    stage: int,
    roots: Mapping[str, str | Path],
    **kwargs: Any,
) -> dict[str, Any]:
    """Read a manifest, build the stage's conversations and write them to ``out`` (JSONL)."""
    rows, report = build_records(read_manifest(manifest), roots, stage, **kwargs)
    if not rows:
        raise ValueError(
            f"{manifest}: no conversation could be built for stage {stage} (see the skipped records)"
        )
    write_conversations(out, rows)
    return report
