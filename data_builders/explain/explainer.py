"""Mask-grounded explanations: verdict, where (``xforge.location`` words), what kind of edit, which cues.

Phrasing is drawn from the banks in ``phrases.py`` with a random generator, so the same facts give many
wordings; the location words always come from the mask, so parsing the text back with
``xforge.location.parse_location`` recovers the mask's cells and ``verdict_from_text`` the label.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from data_builders.explain import phrases as P
from data_builders.explain.facts import EditFacts
from xforge.data.conversations import SEG_TOKEN
from xforge.location import BAND_NAMES, CELL_NAMES, LocationDescription, parse_location, where_sentence_of

# Alternative wordings the location parser accepts, by canonical phrase. Checked by the tests.
ALTERNATES: dict[str, tuple[str, ...]] = {
    "upper left": ("top left",),
    "upper right": ("top right",),
    "lower left": ("bottom left",),
    "lower right": ("bottom right",),
    "top centre": ("upper centre",),
    "bottom centre": ("lower centre",),
    "centre left": ("left centre",),
    "centre right": ("right centre",),
    "upper half": ("top half",),
    "lower half": ("bottom half",),
    "upper third": ("top third",),
    "lower third": ("bottom third",),
    "left side": ("left third",),
    "right side": ("right third",),
    "most of the image": ("whole image", "entire image"),
}


def rng_for(key: str, salt: int = 0) -> np.random.Generator:
    """A generator seeded from a string (sample id), stable across runs and Python processes."""
    return np.random.default_rng([zlib.crc32(key.encode("utf-8")), salt])


def pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def where_phrase(location: LocationDescription, rng: np.random.Generator) -> str:
    """The location phrase of a mask, in a randomly chosen accepted wording of the same cells."""
    cells = location.cells
    if cells in BAND_NAMES:
        name = BAND_NAMES[cells]
        return pick(rng, (name, *ALTERNATES.get(name, ())))
    names = [CELL_NAMES[c] for c in sorted(cells)]
    names = [pick(rng, (n, *ALTERNATES.get(n, ()))) for n in names]
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def size_phrase(location: LocationDescription, rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        return location.size
    pct = location.area_fraction * 100
    amount = f"{pct:.1f}%" if pct < 10 else f"{pct:.0f}%"
    return f"{location.size} (about {amount} of the picture)"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:]


@dataclass
class Explanation:
    """The parts of one explanation; ``text()`` joins them, with or without the mask token."""

    verdict: str
    where: str = ""  # the where-sentence without the mask token
    where_seg: str = ""  # the same sentence with it
    what: str = ""
    cues: str = ""
    post: str = ""

    def text(
        self, seg: bool = True, parts: tuple[str, ...] = ("verdict", "where", "what", "cues", "post")
    ) -> str:
        chosen = [getattr(self, "where_seg" if p == "where" and seg else p) for p in parts]
        return " ".join(c for c in chosen if c)


def what_sentence(facts: EditFacts, rng: np.random.Generator) -> str:
    kind = facts.kind if facts.kind in P.WHAT else "unknown"
    label = facts.details.get("object_label")
    if label and kind in P.WHAT_OBJECT:
        what = pick(rng, P.WHAT_OBJECT[kind]).format(label=label)
    else:
        n = len(facts.sources) if len(facts.sources) >= 2 else facts.n_regions
        what = pick(rng, P.WHAT[kind]).format(n=P.NUMBER_WORDS.get(n, str(n)) if n >= 2 else "several")
    extra = ""
    d = facts.details
    if kind == "copy-move" and ("rotation_deg" in d or "scale" in d):
        bits = []
        if abs(d.get("rotation_deg", 0.0)) >= 3:
            bits.append(f"rotated by about {abs(d['rotation_deg']):.0f} degrees")
        if abs(d.get("scale", 1.0) - 1) >= 0.05:
            bits.append(f"scaled by {d['scale']:.2f}")
        if bits:
            extra = " and " + _join(bits)
    return _sentence(f"{what}{extra}.") if rng.random() < 0.5 else f"Most likely {what}{extra}."


def cue_sentence(facts: EditFacts, rng: np.random.Generator, n: int | None = None) -> str:
    if facts.label == "authentic":
        bank, intros = P.AUTHENTIC_CUES, P.AUTHENTIC_CUE_INTROS
    elif facts.label == "synthetic":  # image-wide generator traces, never a place
        bank, intros = P.SYNTHETIC_CUES, P.SYNTHETIC_CUE_INTROS
    else:
        bank, intros = P.CUES.get(facts.kind, P.CUES["unknown"]), P.CUE_INTROS
    n = n or int(rng.integers(2, 4))
    cues = [bank[i] for i in rng.permutation(len(bank))[: min(n, len(bank))]]
    q = facts.details.get("donor_jpeg_quality")
    if q and facts.kind in ("splice", "multi-source") and rng.random() < 0.7:
        cues.append(
            f"the pasted content was compressed at about JPEG quality {q} before pasting, unlike the host"
        )
    return pick(rng, intros).format(cues=_join(cues))


def post_sentence(facts: EditFacts, rng: np.random.Generator) -> str:
    """What happened to the file after the edit (known for synthetic samples only)."""
    if not facts.postprocess:
        return ""
    bits = []
    for op in facts.postprocess:
        if op["op"] == "resize":
            bits.append(f"resized to {op['factor'] * 100:.0f}% of its size")
        elif op["op"] == "blur":
            bits.append("slightly blurred")
        elif op["op"] == "noise":
            bits.append("given extra noise")
        elif op["op"] == "jpeg":
            bits.append(f"saved as JPEG at quality {op['quality']}")
    tail = pick(
        rng, (", which weakens but does not erase these traces.", ", which makes fine traces fainter.", ".")
    )
    return f"After the edit the file was {_join(bits)}{tail}"


def where_sentence(facts: EditFacts, rng: np.random.Generator) -> tuple[str, str]:
    """The where-sentence without and with the mask token, or empty strings without a mask.

    Without the token the wording varies (templates of ``phrases.py``). With it, ``<SEG>`` opens the sentence
    and the sentence is ``xforge.location.where_sentence_of``'s canonical one: that is what the model's
    answers carry after ``<SEG>``, where inference writes it from the decoded mask.
    """
    loc = facts.location
    if loc is None:
        return "", ""
    count = facts.n_regions
    template = pick(rng, P.WHERE_MULTI if count >= 2 else P.WHERE)
    fields = dict(
        size=size_phrase(loc, rng),
        shape=loc.shape,
        where=where_phrase(loc, rng),
        count=P.NUMBER_WORDS.get(count, str(count)),
    )
    return template.format(seg="", **fields), f"{SEG_TOKEN} {where_sentence_of(loc)}"


def explain(facts: EditFacts, rng: np.random.Generator) -> Explanation:
    """The explanation of one sample; ``Explanation.text(seg=...)`` says whether the mask token is emitted."""
    if facts.label == "authentic":
        return Explanation(verdict=pick(rng, P.AUTHENTIC_VERDICTS), cues=cue_sentence(facts, rng))
    if facts.label == "synthetic":  # generated as a whole: no region, whatever mask a dataset ships
        return Explanation(verdict=pick(rng, P.SYNTHETIC_VERDICTS), cues=cue_sentence(facts, rng))
    where, where_seg = where_sentence(facts, rng)
    return Explanation(
        verdict=pick(rng, P.TAMPERED_VERDICTS),
        where=where,
        where_seg=where_seg,
        what=what_sentence(facts, rng),
        cues=cue_sentence(facts, rng),
        post=post_sentence(facts, rng),
    )


def check_grounding(text: str, location: LocationDescription | None) -> bool:
    """True when the cells named in ``text`` are exactly the mask's cells (empty for no mask)."""
    return parse_location(text) == (location.cells if location else frozenset())
