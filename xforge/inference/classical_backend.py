"""The weight-free backend: the classical forensic engine, with follow-up questions answered from its evidence.

The engine analyses an image once (:meth:`ClassicalBackend.prepare`); the first answer is its own
explanation and later questions ("where?", "why?", "what kind of edit?", "how sure?") are answered from the
same :class:`~xforge.forensics.ForensicResult`, always saying that the classical engine is speaking.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from xforge.inference.backend import Backend, Reply, last_user_text
from xforge.inference.result import AnalysisResult
from xforge.location import describe_mask

ENGINE_NAME = "classical"
_SPEAKER = "Classical forensic engine (no trained model loaded)"

# Follow-up topics, tried in order; the first whose pattern matches the question answers it.
_TOPICS: tuple[tuple[str, str], ...] = (
    ("kind", r"\b(what|which) (kind|type|sort)\b|\bhow was it\b|\bmanipulat|\btechnique|\bmethod"),
    ("where", r"\bwhere\b|\bwhich (part|area|region)|\blocat|\bregion|\barea\b|\bmask"),
    ("confidence", r"\b(sure|confident|confidence|certain|probability|score|likely)\b"),
    ("why", r"\bwhy\b|\bhow do you know\b|\bevidence\b|\bcue|\breason|\bexplain|\bproof|\bbasis\b"),
)


def _topic(question: str) -> str | None:
    q = question.lower()
    return next((name for name, pattern in _TOPICS if re.search(pattern, q)), None)


def _finding_text(findings: Any) -> str:
    """Render one cue's findings for people, whatever shape the engine gave them."""
    if isinstance(findings, str):
        return findings
    if isinstance(findings, dict):
        for key in ("summary", "text", "description"):
            if isinstance(findings.get(key), str):
                return findings[key]
        parts = []
        for k, v in findings.items():
            if isinstance(v, float):
                v = f"{v:.3g}"
            if isinstance(v, (str, int, float, bool)):
                parts.append(f"{k.replace('_', ' ')} {v}")
        return ", ".join(parts)
    if isinstance(findings, (list, tuple)):
        return "; ".join(_finding_text(f) for f in findings)
    return str(findings)


def _evidence_lines(evidence: dict[str, Any]) -> list[str]:
    return [f"- {cue.replace('_', ' ')}: {_finding_text(f)}" for cue, f in evidence.items() if f]


class ClassicalBackend(Backend):
    """Answers with :class:`xforge.forensics.ForensicEngine` (CPU, no weights)."""

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
        text = prepared.explanation if first_turn else self._follow_up(prepared, question)
        result = AnalysisResult(
            verdict=prepared.verdict,
            score=prepared.score,
            prob_map=prepared.prob_map,
            mask=prepared.mask,
            regions=[dict(r) for r in prepared.regions],
            explanation=text,
            engine=self.engine,
            question=question,
            downscaled=bool(getattr(prepared, "downscaled", False)),
            evidence=dict(prepared.evidence),
        )
        return Reply(result=result, history_text=text)

    def _follow_up(self, res, question: str) -> str:
        topic = _topic(question)
        tampered = res.verdict == "tampered"
        if topic == "where":
            return self._where(res)
        if topic == "confidence":
            return (
                f"{_SPEAKER}: it rates the probability that the image is edited at {res.score:.2f}. "
                "This is a heuristic combination of classical cues, not a calibrated model output."
            )
        if topic == "kind":
            return (
                self._kind(res) if tampered else f"{_SPEAKER}: it found no edit, so there is no kind to name."
            )
        if topic == "why":
            lines = _evidence_lines(res.evidence)
            head = f"{_SPEAKER}: its verdict ({res.verdict}, score {res.score:.2f}) rests on these cues:"
            return "\n".join([head, *lines]) if lines else f"{_SPEAKER}: no cue gave a usable signal."
        return (
            f"{_SPEAKER}: it can only report what its cues measured. Verdict: {res.verdict} "
            f"(score {res.score:.2f}). Ask where the edit is, why it thinks so, what kind of edit it is, "
            "or how sure it is."
        )

    def _where(self, res) -> str:
        if not np.asarray(res.mask).any():
            return f"{_SPEAKER}: no region stands out; it marks nothing."
        d = describe_mask(res.mask)
        pieces = "one region" if d.n_regions == 1 else f"{d.n_regions} regions"
        return (
            f"{_SPEAKER}: it marks a {d.size}, {d.shape} area in the {d.phrase} ({pieces}, "
            f"{100 * d.area_fraction:.1f}% of the image). The mask is the thresholded map of its cues."
        )

    def _kind(self, res) -> str:
        fired = [cue for cue, findings in res.evidence.items() if findings]
        copy_move = [c for c in fired if "copy" in c.lower()]
        if copy_move:
            kind = "a copy-move (a part of the image duplicated elsewhere in it)"
        elif fired:
            kind = "content from another source (a splice or local retouch)"
        else:
            kind = "an edit of unknown kind"
        cues = ", ".join(c.replace("_", " ") for c in fired) or "none"
        return f"{_SPEAKER}: the cues that fired ({cues}) point to {kind}."
