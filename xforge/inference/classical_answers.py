"""Follow-up answers of the classical engine, written from its evidence (no language model involved).

The question is matched to a topic (the follow-ups the stage-3 conversations teach the model: where, why,
what kind, how big, how many, how sure, "is the upper left edited?") and the answer is composed from the
:class:`~xforge.forensics.ForensicResult` in the project's location vocabulary (:mod:`xforge.location`).
Every answer starts by saying that the classical engine is speaking.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from xforge.location import cells_of_mask, describe_mask, parse_location, phrase_for_cells

SPEAKER = "Classical forensic engine (no trained model loaded)"

# Tried in order; the first topic whose pattern matches the question answers it.
TOPICS: tuple[tuple[str, str], ...] = (
    ("cell", r"^\s*(is|was|has) (the|its) .+ (part|area|region|corner|side|half|third|band)\b"),
    ("count", r"\bhow many\b|\bmore than one\b|\bseveral\b|\bseparate\b"),
    ("size", r"\bhow (big|large|much|small)\b|\bsize\b"),
    (
        "kind",
        r"\b(what|which) (kind|type|sort)\b|\bhow was it\b|\bspliced\b|\bcloned\b|\bremoved\b|\btechnique\b"
        r"|\bmethod\b",
    ),
    ("confidence", r"\b(sure|confident|confidence|certain|probability|score|likely)\b"),
    (
        "why",
        r"\bwhy\b|\bhow (do|can) you (know|tell)\b|\bevidence\b|\bcues?\b|\breason|\bexplain|\bgives? it away\b"
        r"|\bmakes? you say\b|\bproof\b",
    ),
    ("where", r"\bwhere\b|\bwhich (part|area|region)\b|\blocat|\bregion\b|\barea\b|\bmask\b|\bshow me\b"),
)


def topic_of(question: str) -> str | None:
    """The follow-up topic a question asks about, or None."""
    q = question.lower()
    return next((name for name, pattern in TOPICS if re.search(pattern, q)), None)


def finding_text(findings: Any) -> str:
    """One cue's findings as a short phrase, whatever shape the engine gave them."""
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
        return "; ".join(finding_text(f) for f in findings)
    return str(findings)


def _fired(evidence: dict[str, Any]) -> list[str]:
    return [cue for cue, findings in evidence.items() if findings]


def answer_follow_up(res, question: str) -> str:
    """Answer a follow-up question about a :class:`~xforge.forensics.ForensicResult`."""
    topic = topic_of(question)
    handler = _HANDLERS.get(topic, _general)
    return f"{SPEAKER}: {handler(res, question)}"


def _where(res, _question: str) -> str:
    if not np.asarray(res.mask).any():
        return "no region stands out, so it marks nothing."
    d = describe_mask(res.mask)
    pieces = "one region" if d.n_regions == 1 else f"{d.n_regions} regions"
    return (
        f"it marks a {d.size}, {d.shape} area in the {d.phrase} ({pieces}, {100 * d.area_fraction:.1f}% of the "
        "image); the mask is the thresholded map of its cues."
    )


def _size(res, _question: str) -> str:
    if not np.asarray(res.mask).any():
        return "it marks no edited area."
    d = describe_mask(res.mask)
    return f"the marked area is {d.size}: {100 * d.area_fraction:.1f}% of the image, in the {d.phrase}."


def _count(res, _question: str) -> str:
    n = describe_mask(res.mask).n_regions
    if n == 0:
        return "it marks no edited region."
    return "it marks one connected region." if n == 1 else f"it marks {n} separate regions."


def _cell(res, question: str) -> str:
    asked = parse_location(question)
    if not asked:
        return _where(res, question)
    marked = cells_of_mask(res.mask)
    place = phrase_for_cells(asked)
    if asked & marked:
        return f"yes, part of what it marks lies in the {place}."
    if marked:
        return f"no, nothing it marks lies in the {place}; its marks are in the {phrase_for_cells(marked)}."
    return f"no, it marks nothing anywhere in the image, the {place} included."


def _kind(res, _question: str) -> str:
    if res.verdict != "tampered":
        return "it found no edit, so there is no kind to name."
    fired = _fired(res.evidence)
    if any("copy" in cue.lower() for cue in fired):
        kind = "a copy-move (a part of the image duplicated elsewhere in it)"
    elif fired:
        kind = "content from another source or a local retouch (a splice, removal or inpainting)"
    else:
        kind = "an edit of unknown kind"
    cues = ", ".join(c.replace("_", " ") for c in fired) or "none"
    return f"the cues that fired ({cues}) point to {kind}."


def _confidence(res, _question: str) -> str:
    return (
        f"it rates the probability that the image is edited at {res.score:.2f}. That is a heuristic "
        "combination of classical cues, not a calibrated model output."
    )


def _why(res, _question: str) -> str:
    lines = [f"- {cue.replace('_', ' ')}: {finding_text(f)}" for cue, f in res.evidence.items() if f]
    if not lines:
        return f"no cue gave a usable signal, hence the verdict {res.verdict} (score {res.score:.2f})."
    return "\n".join([f"its verdict ({res.verdict}, score {res.score:.2f}) rests on these cues:", *lines])


def _general(res, _question: str) -> str:
    return (
        f"it can only report what its cues measured. Verdict: {res.verdict} (score {res.score:.2f}). Ask where "
        "the edit is, why it thinks so, what kind of edit it is, how big it is, or how sure it is."
    )


_HANDLERS = {
    "cell": _cell,
    "count": _count,
    "size": _size,
    "kind": _kind,
    "confidence": _confidence,
    "why": _why,
    "where": _where,
}
