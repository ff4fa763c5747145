"""Pieces shared by the stage builders: the conversation record of a sample and a few answer sentences."""

from __future__ import annotations

from typing import Any

import numpy as np

from data_builders.explain.explainer import where_phrase
from data_builders.stages.samples import StageSample
from xforge.data.conversations import ConversationRecord, assistant_message, user_message


def conversation(
    sample: StageSample,
    stage: int,
    turns: list[tuple[str, str]],
    seg_targets: list[str | int],
    **meta: Any,
) -> ConversationRecord:
    """A record from (question, answer) turns; the image placeholder goes with the first question."""
    rec = sample.record
    messages = []
    for i, (question, answer) in enumerate(turns):
        messages.append(user_message(question, with_image=i == 0))
        messages.append(assistant_message(answer))
    return ConversationRecord(
        sample_id=rec.id,
        stage=stage,
        dataset=rec.dataset,
        split=rec.split,
        image=rec.image,
        label=rec.label,
        messages=messages,
        mask=rec.mask if seg_targets else None,
        mask_format=rec.mask_format if seg_targets else None,
        manipulation=list(rec.manipulation),
        seg_targets=seg_targets,
        meta=meta,
    )


def distinct_sources(sample: StageSample, rng: np.random.Generator) -> list[tuple[int, str]] | None:
    """``(source index, where phrase)`` for each source of a multi-source mask when every source has its own
    place in the grid (so a question naming the place refers to exactly one source), else None."""
    sources = sample.facts.sources
    if len(sources) < 2:
        return None
    cells = [s.cells for s in sources]
    if len(set(cells)) != len(cells) or any(a & b for i, a in enumerate(cells) for b in cells[i + 1 :]):
        return None
    return [(i, where_phrase(s, rng)) for i, s in enumerate(sources, 1)]
