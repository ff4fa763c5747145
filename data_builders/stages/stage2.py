"""Stage 2 (localization) conversations: one detection/localization question and its answer.

A tampered image's answer always states the verdict and emits ``<SEG>``; an authentic image's answer never
does. A fully generated (``synthetic``) image is also asked whether it was generated; its answer states the
verdict, says there is no region to mark when asked where, may name image-wide generator traces, and never
names a place or emits ``<SEG>``.
"""

from __future__ import annotations

import numpy as np

from data_builders.explain import explain
from data_builders.explain import phrases as P
from data_builders.explain.explainer import cue_sentence, pick
from data_builders.stages import questions as Q
from data_builders.stages.common import conversation
from data_builders.stages.samples import StageSample
from xforge.data.conversations import ConversationRecord


def answer_stage2(sample: StageSample, rng: np.random.Generator, question_kind: str) -> tuple[str, list]:
    """The answer text and its seg_targets for a detection (+localization) question."""
    facts = sample.facts
    if facts.label == "authentic":
        parts = [pick(rng, P.AUTHENTIC_VERDICTS)]
        if question_kind != "detect":
            parts.append(pick(rng, Q.NO_REGION))
        if rng.random() < 0.3:
            parts.append(cue_sentence(facts, rng, n=2))
        return " ".join(parts), []
    exp = explain(facts, rng)
    if facts.label == "synthetic":  # generated as a whole: nothing to segment, no place to name
        parts = [exp.verdict]
        if question_kind in ("locate", "both"):
            parts.append(pick(rng, P.SYNTHETIC_NO_REGION))
        if question_kind == "generated" or rng.random() < 0.3:
            parts.append(exp.cues)
        return " ".join(parts), []
    parts = ("verdict", "where", "what") if rng.random() < 0.5 else ("verdict", "where")
    return exp.text(seg=True, parts=parts), ["all"]


def build_stage2(sample: StageSample, rng: np.random.Generator) -> ConversationRecord:
    kinds = ("detect", "locate", "both", "both")
    if sample.facts.label == "synthetic":
        kinds += ("generated", "generated")
    question_kind = pick(rng, kinds)
    bank = {"detect": Q.DETECT, "locate": Q.LOCATE, "both": Q.DETECT_AND_LOCATE, "generated": Q.GENERATED}[
        question_kind
    ]
    answer, targets = answer_stage2(sample, rng, question_kind)
    return conversation(sample, 2, [(pick(rng, bank), answer)], targets, task=question_kind)
