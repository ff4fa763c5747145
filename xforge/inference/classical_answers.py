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

from xforge.forensics.engine import STRONG_LOGIT
from xforge.forensics.fusion import weighted_cues
from xforge.location import cells_of_mask, describe_mask, parse_location, phrase_for_cells

SPEAKER = "Classical forensic engine (no trained model loaded)"
CUE_NAMES = {
    "copymove": "copy-move matching",
    "djpeg": "double-JPEG quantisation",
    "ghost": "JPEG ghost",
    "jpeg_grid": "JPEG block grid",
    "cfa": "camera (demosaicing) trace",
    "noise": "noise consistency",
    "ela": "error level analysis",
}
SPLICE_CUES = {"djpeg", "ghost", "jpeg_grid", "cfa", "noise"}

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


def _box_place(box: list[int] | None, size: list[int] | None) -> str:
    """Where a box ``[x0, y0, x1, y1]`` lies in an image of ``size`` ``[w, h]``, in the location vocabulary."""
    if not box or not size:
        return "an unknown place"
    w, h = size
    m = np.zeros((h, w), np.uint8)
    x0, y0, x1, y1 = box
    m[max(0, y0) : y1, max(0, x0) : x1] = 1
    return "the region in the " + phrase_for_cells(cells_of_mask(m)) if m.any() else "an unknown place"


def _cue_details(cue: str, ev: dict[str, Any]) -> str:
    """What one cue measured, from the engine's evidence."""
    size = ev.get("original_size")
    if cue == "copymove":
        found = ev.get("copy_move") or []
        if not found:
            return "no copied regions found"
        return "; ".join(
            f"{_box_place(f['target_box'], size)} matches {_box_place(f['source_box'], size)} "
            f"({f['matches']} keypoint matches, correlation {f['correlation']:.2f})"
            for f in found
        )
    if cue == "noise":
        n = ev.get("noise") or {}
        if n.get("region_box") is None:
            return f"a consistent noise level (about {n.get('global_sigma', 0.0):.1f} grey levels)"
        return (
            f"noise in {_box_place(n['region_box'], size)} differs from the rest by a factor "
            f"{max(n['ratio'], 1 / max(n['ratio'], 1e-6)):.1f}"
        )
    j = ev.get("jpeg") or {}
    if cue == "jpeg_grid":
        if not j.get("is_jpeg"):
            return "the file has no JPEG history to examine"
        quality = f"saved at about quality {j['quality']:.0f}, " if j.get("quality") is not None else ""
        share = j.get("misaligned_fraction") or 0.0
        if not share:
            return f"{quality}no second, out-of-phase 8x8 block grid"
        return f"{quality}a second, out-of-phase 8x8 block grid over {100 * share:.0f}% of the image"
    if cue == "ghost":
        if not j.get("ghost_strength"):
            return "no JPEG ghost"
        return f"a JPEG ghost at quality {j.get('ghost_quality')} (strength {j['ghost_strength']:.2f})"
    if cue == "djpeg":
        d = ev.get("double_jpeg") or {}
        if d.get("region_box") is None:
            if not d.get("double_compressed"):
                return "no double JPEG compression to compare regions by"
            return f"double JPEG compression throughout ({d.get('frequencies')} DCT frequencies show it)"
        # Without a clear image-wide trace the region was found from faint ones (a last save at the same or a
        # lower quality than the first): say so rather than claim two clear compressions.
        rest = "shows two compressions" if d.get("double_compressed") else "shows faint traces of two"
        return (
            f"{_box_place(d['region_box'], size)} ({100 * d.get('share', 0.0):.0f}% of the image) was compressed "
            f"only once while the rest {rest} (coefficients from the {d.get('coefficients_from')})"
        )
    if cue == "cfa":
        c = ev.get("cfa") or {}
        if not c.get("present"):
            return "no demosaicing trace in the image (resized or compressed away)"
        if c.get("region_box") is None:
            return "demosaicing traces everywhere"
        return f"demosaicing traces missing in {_box_place(c['region_box'], size)}"
    if cue == "ela":
        return f"error level peaks at {(ev.get('ela') or {}).get('peak', 0.0):.1f}x the typical level (a weak cue)"
    return ""


def _strong(ev: dict[str, Any]) -> list[str]:
    """Cues the engine counts as evidence, strongest first."""
    parts = ev.get("contributions") or {}
    return [c for c in sorted(parts, key=parts.get, reverse=True) if parts[c] >= STRONG_LOGIT]


def answer_follow_up(res, question: str) -> str:
    """Answer a follow-up question about a :class:`~xforge.forensics.ForensicResult`."""
    topic = topic_of(question)
    if res.verdict == "synthetic":
        handler = _SYNTHETIC_HANDLERS.get(topic, _synthetic_general)
    else:
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
    ev = res.evidence
    strong = _strong(ev)
    copies = ev.get("copy_move") or []
    if "copymove" in strong and copies:
        f = copies[0]
        plain = abs(f["rotation_deg"]) < 1 and abs(f["scale"] - 1) < 0.02
        how = (
            "a shifted copy"
            if plain
            else f"a copy rotated by {abs(f['rotation_deg']):.0f} degrees, scaled x{f['scale']:.2f}"
        )
        return f"it reads the edit as a copy-move: part of the image duplicated elsewhere in it ({how})."
    if SPLICE_CUES & set(strong):
        cues = ", ".join(CUE_NAMES[c] for c in strong if c != "ela")
        return f"it reads the edit as most likely a splice, content from another source: {cues} differ(s) there from the rest of the image."
    if strong == ["ela"]:
        return "it reads the edit as possibly a local retouch; only error level analysis, a weak cue, points to it."
    return (
        "it cannot name the kind of edit: no single cue is decisive; the score comes from several weak ones."
    )


def _confidence(res, _question: str) -> str:
    return (
        f"it rates the probability that the image is edited at {res.score:.2f} (the verdict threshold is 0.5). "
        "The number is a logistic fusion of its cue strengths, not the trained model's."
    )


def cue_lines(evidence: dict[str, Any]) -> list[str]:
    """One line per cue: those with weight in the verdict first, largest share first
    (``"<cue>: +1.54, <what it measured>"``), then the cues that are reported only."""
    parts = evidence.get("contributions") or {}
    weighted = weighted_cues()
    used = [c for c in sorted(parts, key=parts.get, reverse=True) if c in weighted]
    lines = [f"{CUE_NAMES.get(c, c)}: {parts[c]:+.2f}, {_cue_details(c, evidence)}" for c in used]
    lines += [
        f"{CUE_NAMES.get(c, c)}: reported only (no weight in the verdict), {_cue_details(c, evidence)}"
        for c in parts
        if c not in weighted
    ]
    return lines


def _why(res, _question: str) -> str:
    ev = res.evidence
    if ev.get("too_small"):
        return "the image is too small for its cues to be measured, so there is no evidence either way."
    used = [c for c in ev.get("contributions") or {} if c in weighted_cues()]
    lines = [f"- {line}" for line in cue_lines(ev)]
    head = (
        f"its verdict ({res.verdict}, score {res.score:.2f}) fuses {len(used)} cues; each line gives the cue's share "
        f"of the decision (cues adding at least {STRONG_LOGIT:.1f} count as evidence) and what it measured:"
    )
    return "\n".join([head, *lines])


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


# Answers about an image the engine reads as generated as a whole: its traces belong to no region, so these
# answers name no place (no words of xforge.location) and no edit.


def _synthetic_trace(res) -> str:
    sp = res.evidence.get("spectral") or {}
    return (
        f"periodic peaks at multiples of 1/{sp.get('period')} cycles per pixel in the spectrum of its high-pass "
        f"residual, {sp.get('cue', 0.0):.1f} log units above the JPEG-grid reference: the trace of a "
        "generator's upsampling layers"
    )


def _synthetic_region(res, _question: str) -> str:
    return (
        "it marks no region: it reads the image as generated as a whole by a model, and the generator traces "
        f"it found run image-wide rather than in one part. It found {_synthetic_trace(res)}."
    )


def _synthetic_kind(res, _question: str) -> str:
    return (
        "it reads the image as fully generated by a model (synthetic), not as a camera photo with one part "
        f"changed: {_synthetic_trace(res)}."
    )


def _synthetic_confidence(res, _question: str) -> str:
    return (
        f"it rates the probability that the image was generated at {res.synthetic_score:.2f} (the verdict "
        f"threshold is 0.5), from its spectral cue; the score of its cues for pasted or copied content is "
        f"{res.score:.2f}. Both are its own calibrations, not the trained model's."
    )


def _synthetic_why(res, _question: str) -> str:
    return (
        f"its verdict (synthetic, probability {res.synthetic_score:.2f}) rests on one image-wide cue: "
        f"{_synthetic_trace(res)}. Its cues for pasted or copied content stay lower (score {res.score:.2f})."
    )


def _synthetic_general(res, _question: str) -> str:
    return (
        f"it can only report what its cues measured. Verdict: synthetic (probability "
        f"{res.synthetic_score:.2f}), generated as a whole by a model. Ask why it thinks so or how sure it is."
    )


_SYNTHETIC_HANDLERS = {
    "cell": _synthetic_region,
    "count": _synthetic_region,
    "size": _synthetic_region,
    "where": _synthetic_region,
    "kind": _synthetic_kind,
    "confidence": _synthetic_confidence,
    "why": _synthetic_why,
}
