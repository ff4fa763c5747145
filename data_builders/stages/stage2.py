"""Stage 2 (localization) conversations: one detection/localization question and its answer.

A tampered image's answer always states the verdict and emits ``<SEG>``; an authentic image's answer never
does. Fully synthetic images (no mask) get a verdict without a mask.
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
    if facts.location is None:  # fully synthetic: nothing to segment
        return exp.verdict, []
    parts = ("verdict", "where", "what") if rng.random() < 0.5 else ("verdict", "where")
    return exp.text(seg=True, parts=parts), ["all"]


def build_stage2(sample: StageSample, rng: np.random.Generator) -> ConversationRecord:
    question_kind = pick(rng, ("detect", "locate", "both", "both"))
    bank = {"detect": Q.DETECT, "locate": Q.LOCATE, "both": Q.DETECT_AND_LOCATE}[question_kind]
    answer, targets = answer_stage2(sample, rng, question_kind)
    return conversation(sample, 2, [(pick(rng, bank), answer)], targets, task=question_kind)
