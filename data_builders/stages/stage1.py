"""Stage 1 (alignment) conversations: segmentation prompts and short mask-grounded captions.

Only tampered images with a mask take part: stage 1 trains the ``<SEG>`` path (projector, mask decoder,
forensic stream, new token embeddings) while the language model is frozen. Authentic and fully generated
(``synthetic``) images have no region to segment, so they first appear in stage 2.
"""

from __future__ import annotations

import numpy as np

from data_builders.explain.explainer import pick, where_phrase
from data_builders.stages import questions as Q
from data_builders.stages.common import conversation, distinct_sources
from data_builders.stages.samples import StageSample
from xforge.data.conversations import SEG_TOKEN, ConversationRecord


def caption(sample: StageSample, rng: np.random.Generator) -> str:
    """A short grounded caption ending in the mask token."""
    facts = sample.facts
    adjective = Q.ADJECTIVES.get(facts.kind, Q.ADJECTIVES["unknown"])
    size = facts.location.size
    return pick(rng, Q.CAPTION_ANSWERS).format(
        size=size,
        Size=size.capitalize(),
        adjective=adjective,
        Adjective=adjective.capitalize(),
        where=where_phrase(facts.location, rng),
        seg=SEG_TOKEN,
    )


def build_stage1(sample: StageSample, rng: np.random.Generator) -> ConversationRecord | None:
    if sample.record.label != "tampered" or sample.facts.location is None:
        return None
    sources = distinct_sources(sample, rng) if sample.multi_source else None
    r = rng.random()
    if sources and r < 0.3:
        index, where = sources[int(rng.integers(len(sources)))]
        question = pick(rng, Q.SEGMENT_SOURCE).format(where=where)
        answer = pick(rng, Q.SEGMENT_ANSWERS).format(seg=SEG_TOKEN)
        return conversation(sample, 1, [(question, answer)], [index], task="segment_source")
    if r < 0.6:
        answer = pick(rng, Q.SEGMENT_ANSWERS).format(seg=SEG_TOKEN)
        return conversation(sample, 1, [(pick(rng, Q.SEGMENT), answer)], ["all"], task="segment")
    return conversation(sample, 1, [(pick(rng, Q.CAPTION), caption(sample, rng))], ["all"], task="caption")
