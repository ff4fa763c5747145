"""Stage 3 (instruction tuning) conversations: multi-turn verdict, where, why and follow-ups.

Every answer is derived from the mask and the recorded manipulation: a follow-up is only asked when its
answer is known (e.g. "where was it copied from?" needs the generator's copy-move record). Authentic images
get "no edit found" answers, never a mask, including to leading questions ("what was removed?"). Fully
generated (``synthetic``) images get "generated" answers: image-wide generator traces, "no region to mark"
to where/segment questions, never a mask and never a place.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from data_builders.explain import explain
from data_builders.explain import phrases as P
from data_builders.explain.explainer import (
    Explanation,
    cue_sentence,
    pick,
    post_sentence,
    what_sentence,
    where_phrase,
)
from data_builders.stages import questions as Q
from data_builders.stages.common import conversation, distinct_sources
from data_builders.stages.samples import StageSample
from xforge.data.conversations import SEG_TOKEN, ConversationRecord
from xforge.location import CELL_NAMES, cell_fractions

Turn = tuple[str, str, list]  # question, answer, seg_targets
FollowUp = Callable[[StageSample, np.random.Generator, Explanation], Turn | None]


def _size_answer(s: StageSample, rng, exp) -> Turn:
    loc = s.facts.location
    pct = loc.area_fraction * 100
    return pick(rng, Q.HOW_BIG), f"It is {loc.size}: about {pct:.1f}% of the picture.", []


def _count_answer(s: StageSample, rng, exp) -> Turn:
    n = s.facts.n_regions
    if n <= 1:
        text = pick(rng, ("Just one connected region.", "There is a single edited region."))
    else:
        word = P.NUMBER_WORDS.get(n, str(n))
        text = (
            f"There are {word} separate edited regions, mostly in the {where_phrase(s.facts.location, rng)}."
        )
    return pick(rng, Q.HOW_MANY), text, []


def _cell_answer(s: StageSample, rng, exp) -> Turn:
    """Ask about one grid cell: one the mask occupies (yes) or one it does not touch at all (no)."""
    loc = s.facts.location
    fractions = cell_fractions(s.mask > 0)
    empty = [c for c in CELL_NAMES if fractions[c] == 0]
    if empty and rng.random() < 0.5:
        cell = empty[int(rng.integers(len(empty)))]
        # The answer names only the edit's cells, so its location words still agree with the mask.
        text = f"No, that part looks untouched; the edit is in the {where_phrase(loc, rng)}."
    else:
        cells = sorted(loc.cells)
        cell = cells[int(rng.integers(len(cells)))]
        text = f"Yes, the {CELL_NAMES[cell]} is part of the edited region."
    return pick(rng, Q.CELL_QUERY).format(where=CELL_NAMES[cell]), text, []


def _why_answer(s, rng, exp) -> Turn:
    return pick(rng, Q.WHY), cue_sentence(s.facts, rng), []


def _kind_answer(s, rng, exp) -> Turn:
    return pick(rng, Q.WHAT_KIND), what_sentence(s.facts, rng), []


def _copied_from(s: StageSample, rng, exp) -> Turn | None:
    src = s.facts.copy_source
    if s.facts.kind != "copy-move" or src is None:
        return None
    text = f"It was copied from the {where_phrase(src, rng)}."
    what = what_sentence(s.facts, rng)
    if "rotated" in what or "scaled" in what:
        text += " " + what
    return pick(rng, Q.COPIED_FROM), text, []


def _removed(s: StageSample, rng, exp) -> Turn | None:
    if s.facts.kind not in ("removal", "inpainting"):
        return None
    loc = s.facts.location
    where = where_phrase(loc, rng)
    label = s.facts.details.get("object_label")
    if label:
        text = f"A {label} in the {where} was erased and the gap filled in from its surroundings {SEG_TOKEN}."
    else:
        text = (
            f"A {loc.size} area in the {where} was erased and filled in from its surroundings {SEG_TOKEN}. "
            "What was there before cannot be read from this image."
        )
    return pick(rng, Q.WHAT_REMOVED), text, ["all"]


def _object(s: StageSample, rng, exp) -> Turn | None:
    """ "Is the person edited?" -- asked only when the edited region is a known object that is still visible."""
    label = s.facts.details.get("object_label")
    if not label or s.facts.kind not in ("splice", "copy-move"):
        return None
    where = where_phrase(s.facts.location, rng)
    if s.facts.kind == "splice":
        text = f"Yes, the {label} in the {where} was pasted in from another photo {SEG_TOKEN}."
    else:
        text = f"Yes, the {label} in the {where} is a copy of content from elsewhere in this picture {SEG_TOKEN}."
    return pick(rng, Q.OBJECT_QUERY).format(label=label), text, ["all"]


def _postprocess(s: StageSample, rng, exp) -> Turn | None:
    if s.facts.postprocess is None:
        return None
    text = post_sentence(s.facts, rng) or "No later processing was applied after the edit."
    return pick(rng, Q.POSTPROCESS), text, []


def _show_again(s, rng, exp) -> Turn:
    return (
        pick(rng, Q.SHOW_AGAIN),
        pick(rng, ("Here it is: {seg}.", "Sure, {seg}.", "{seg}")).format(seg=SEG_TOKEN),
        ["all"],
    )


def _sources(s: StageSample, rng, exp) -> Turn | None:
    sources = distinct_sources(s, rng) if s.multi_source else None
    if not sources:
        return None
    parts = [f"piece {i} in the {where}: {SEG_TOKEN}" for i, where in sources]
    return pick(rng, Q.SHOW_SOURCES), "P" + "; ".join(parts)[1:] + ".", [i for i, _ in sources]


def _sure(s, rng, exp) -> Turn:
    return pick(rng, Q.ARE_YOU_SURE), "Fairly sure. " + cue_sentence(s.facts, rng), []


TAMPERED_FOLLOW_UPS: tuple[FollowUp, ...] = (
    _size_answer,
    _count_answer,
    _cell_answer,
    _kind_answer,
    _copied_from,
    _removed,
    _object,
    _postprocess,
    _show_again,
    _sources,
    _sure,
)


def _authentic_follow_up(s: StageSample, rng: np.random.Generator) -> Turn:
    choice = int(rng.integers(5))
    if choice == 0:
        return pick(rng, Q.ARE_YOU_SURE), "Fairly sure. " + cue_sentence(s.facts, rng), []
    if choice == 1:
        cell = CELL_NAMES[sorted(CELL_NAMES)[int(rng.integers(9))]]
        return pick(rng, Q.CELL_QUERY).format(where=cell), f"No. {pick(rng, P.AUTHENTIC_VERDICTS)}", []
    if choice == 2:
        return (
            pick(rng, Q.WHAT_REMOVED),
            "Nothing appears to have been removed: " + pick(rng, P.AUTHENTIC_VERDICTS),
            [],
        )
    if choice == 3:
        return pick(rng, Q.SEGMENT), pick(rng, Q.NO_REGION) + " " + pick(rng, P.AUTHENTIC_VERDICTS), []
    return pick(rng, Q.WHAT_KIND), "There is no edit to classify. " + pick(rng, P.AUTHENTIC_VERDICTS), []


def _synthetic_follow_up(s: StageSample, rng: np.random.Generator, kind: int) -> Turn:
    """A follow-up about a generated image; no question or answer names a place."""
    if kind == 0:
        return pick(rng, Q.WHY), cue_sentence(s.facts, rng), []
    if kind == 1:
        return pick(rng, Q.LOCATE), pick(rng, P.SYNTHETIC_NO_REGION), []
    if kind == 2:
        return pick(rng, Q.SEGMENT), pick(rng, P.SYNTHETIC_NO_REGION), []
    if kind == 3:
        return pick(rng, Q.WHAT_KIND), pick(rng, P.SYNTHETIC_WHAT), []
    if kind == 4:
        what = pick(rng, P.SYNTHETIC_WHAT)
        return pick(rng, Q.HOW_BIG), "No single area was changed: " + what[0].lower() + what[1:], []
    return pick(rng, Q.ARE_YOU_SURE), "Fairly sure. " + cue_sentence(s.facts, rng), []


def build_stage3(
    sample: StageSample, rng: np.random.Generator, max_follow_ups: int = 3
) -> ConversationRecord:
    facts = sample.facts
    exp = explain(facts, rng)
    n_follow = int(rng.integers(1, max_follow_ups + 1))
    if facts.label == "synthetic":  # generated as a whole: nothing to segment, no place to name
        question = pick(rng, Q.GENERATED if rng.random() < 0.5 else Q.EXPLAIN)
        turns = [(question, exp.text(seg=False), [])]
        turns += [_synthetic_follow_up(sample, rng, int(k)) for k in rng.permutation(6)[:n_follow]]
    elif facts.location is None:  # authentic
        turns = [(pick(rng, Q.EXPLAIN), exp.text(seg=False), [])]
        if facts.label == "authentic":
            turns += [_authentic_follow_up(sample, rng) for _ in range(n_follow)]
    else:
        if rng.random() < 0.5:
            turns = [(pick(rng, Q.EXPLAIN), exp.text(seg=True), ["all"])]
            done = {_why_answer}
        else:
            first = exp.text(seg=True, parts=("verdict", "where"))
            turns = [(pick(rng, Q.DETECT_AND_LOCATE), first, ["all"]), _why_answer(sample, rng, exp)]
            done = {_why_answer}
        options = [f for f in TAMPERED_FOLLOW_UPS if f not in done]
        for i in rng.permutation(len(options)):
            if len(turns) > n_follow:
                break
            turn = options[i](sample, rng, exp)
            if turn is not None:
                turns.append(turn)
    targets = [t for _, _, ts in turns for t in ts]
    return conversation(sample, 3, [(q, a) for q, a, _ in turns], targets, task="multi_turn")
