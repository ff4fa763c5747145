"""The weight-free backend: the classical forensic engine (:class:`xforge.forensics.ForensicEngine`).

The engine analyses an image once (:meth:`ClassicalBackend.prepare`); the first answer is its own
explanation, and later questions are answered from the same result's evidence
(:mod:`xforge.inference.classical_answers`), always saying that the classical engine is speaking.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xforge.inference.backend import Backend, Reply, last_user_text
from xforge.inference.classical_answers import answer_follow_up
from xforge.inference.result import AnalysisResult

ENGINE_NAME = "classical"


class ClassicalBackend(Backend):
    """Answers with the classical forensic engine (CPU, no weights)."""

    engine = ENGINE_NAME

    def __init__(self, forensic_engine=None):
        if forensic_engine is None:
            from xforge.forensics import ForensicEngine

            forensic_engine = ForensicEngine()
        self.forensic_engine = forensic_engine

    def describe(self) -> str:
        return "classical forensic engine (no model weights; pass --model for the trained model)"

    def prepare(self, image: np.ndarray, source_path: str | None = None):
        return self.forensic_engine.analyze(image, source_path=source_path)

    def respond(self, prepared, messages: list[dict[str, Any]]) -> Reply:
        question = last_user_text(messages)
        first_turn = sum(1 for m in messages if m.get("role") == "user") == 1
        text = prepared.explanation if first_turn else answer_follow_up(prepared, question)
        result = AnalysisResult(
            verdict=prepared.verdict,
            score=prepared.score,
            prob_map=prepared.prob_map,
            mask=prepared.mask,
            regions=[dict(r) for r in prepared.regions],
            explanation=text,
            engine=self.engine,
            question=question,
            downscaled=bool(prepared.downscaled),
            evidence=dict(prepared.evidence),
            scores=prepared.scores,
        )
        return Reply(result=result, history_text=text)
