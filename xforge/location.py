"""The location vocabulary: how xforge says *where* an edit is, and how that is read back.

Every explanation xforge writes (synthetic training text, the forensic engine, the trained model) names
regions with these words, so the evaluator can parse the text back into grid cells and check it against a
mask (grounding consistency). The vocabulary is fixed and documented here:

- The image is split into a 3x3 grid. Cells are ``(row, col)`` with row 0 at the top.
- Cell names (canonical first, then accepted synonyms when parsing)::

      (0,0) upper left    (0,1) top centre     (0,2) upper right
      (1,0) centre left   (1,1) centre         (1,2) centre right
      (2,0) lower left    (2,1) bottom centre  (2,2) lower right

- Bands: ``upper third`` / ``lower third`` / ``middle band`` (rows), ``left side`` / ``right side`` /
  ``vertical middle`` (columns), ``upper half`` / ``lower half`` / ``left half`` / ``right half`` (two rows or
  columns), ``most of the image`` (all nine cells).
- Size words by the fraction of the image covered: tiny (< 1%), small (< 5%), medium-sized (< 20%),
  large (< 50%), very large (>= 50%).
- Shape words: compact, elongated, irregular (from bounding-box aspect ratio and solidity).
- Verdict words: see ``AUTHENTIC_PATTERNS``, ``SYNTHETIC_PATTERNS`` and ``TAMPERED_PATTERNS``; a text is read
  as "no edit" when an authentic pattern matches, else as "generated" when a synthetic one does, else as
  "edited" when a tampered pattern matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

Cell = tuple[int, int]
ALL_CELLS: frozenset[Cell] = frozenset((r, c) for r in range(3) for c in range(3))

CELL_NAMES: dict[Cell, str] = {
    (0, 0): "upper left",
    (0, 1): "top centre",
    (0, 2): "upper right",
    (1, 0): "centre left",
    (1, 1): "centre",
    (1, 2): "centre right",
    (2, 0): "lower left",
    (2, 1): "bottom centre",
    (2, 2): "lower right",
}

_ROWS = {
    0: frozenset((0, c) for c in range(3)),
    1: frozenset((1, c) for c in range(3)),
    2: frozenset((2, c) for c in range(3)),
}
_COLS = {
    0: frozenset((r, 0) for r in range(3)),
    1: frozenset((r, 1) for r in range(3)),
    2: frozenset((r, 2) for r in range(3)),
}

# Canonical band names used when describing; the first entry of each is what `describe` writes.
BAND_NAMES: dict[frozenset[Cell], str] = {
    ALL_CELLS: "most of the image",
    _ROWS[0] | _ROWS[1]: "upper half",
    _ROWS[1] | _ROWS[2]: "lower half",
    _COLS[0] | _COLS[1]: "left half",
    _COLS[1] | _COLS[2]: "right half",
    _ROWS[0]: "upper third",
    _ROWS[1]: "middle band",
    _ROWS[2]: "lower third",
    _COLS[0]: "left side",
    _COLS[1]: "vertical middle",
    _COLS[2]: "right side",
}

# Every phrase the parser accepts, mapped to its cells. Longer phrases are matched first.
_SYNONYMS: dict[str, frozenset[Cell]] = {
    "top left": frozenset({(0, 0)}),
    "upper left": frozenset({(0, 0)}),
    "top right": frozenset({(0, 2)}),
    "upper right": frozenset({(0, 2)}),
    "bottom left": frozenset({(2, 0)}),
    "lower left": frozenset({(2, 0)}),
    "bottom right": frozenset({(2, 2)}),
    "lower right": frozenset({(2, 2)}),
    "top centre": frozenset({(0, 1)}),
    "upper centre": frozenset({(0, 1)}),
    "bottom centre": frozenset({(2, 1)}),
    "lower centre": frozenset({(2, 1)}),
    "centre left": frozenset({(1, 0)}),
    "left centre": frozenset({(1, 0)}),
    "centre right": frozenset({(1, 2)}),
    "right centre": frozenset({(1, 2)}),
    "centre": frozenset({(1, 1)}),
    "most of the image": ALL_CELLS,
    "whole image": ALL_CELLS,
    "entire image": ALL_CELLS,
    "upper half": _ROWS[0] | _ROWS[1],
    "top half": _ROWS[0] | _ROWS[1],
    "lower half": _ROWS[1] | _ROWS[2],
    "bottom half": _ROWS[1] | _ROWS[2],
    "left half": _COLS[0] | _COLS[1],
    "right half": _COLS[1] | _COLS[2],
    "upper third": _ROWS[0],
    "top third": _ROWS[0],
    "top edge": _ROWS[0],
    "middle band": _ROWS[1],
    "lower third": _ROWS[2],
    "bottom third": _ROWS[2],
    "bottom edge": _ROWS[2],
    "left side": _COLS[0],
    "left third": _COLS[0],
    "left edge": _COLS[0],
    "vertical middle": _COLS[1],
    "right side": _COLS[2],
    "right third": _COLS[2],
    "right edge": _COLS[2],
}
_PARSE_ORDER = sorted(_SYNONYMS, key=len, reverse=True)
_PARSE_RE = re.compile(r"\b(" + "|".join(re.escape(p) for p in _PARSE_ORDER) + r")\b")

SIZE_WORDS: tuple[tuple[float, str], ...] = (
    (0.01, "tiny"),
    (0.05, "small"),
    (0.20, "medium-sized"),
    (0.50, "large"),
    (1.01, "very large"),
)
SHAPE_WORDS = ("compact", "elongated", "irregular")

AUTHENTIC_PATTERNS: tuple[str, ...] = (
    r"\bno (?:sign|signs|evidence|trace|traces) of (?:any )?(?:edit|editing|tamper|tampering|manipulation|forgery)",
    r"\bno edit(?:s|ing)? (?:was |were )?(?:found|detected)",
    r"\bnot (?:been )?(?:edited|tampered|manipulated|forged)",
    r"\bappears? (?:to be )?(?:authentic|genuine|unedited|pristine)",
    r"\bis (?:authentic|genuine|unedited|pristine)",
    r"\bfound nothing\b",
    r"\bnothing (?:suspicious|was found)",
)
# A fully generated image: said as a whole ("fully synthetic", "AI-generated", "generated from scratch"), so the
# inpainting phrase "regenerated with a generative model" (an edit of one region) does not match.
SYNTHETIC_PATTERNS: tuple[str, ...] = (
    r"\b(?:fully|entirely|wholly|completely) (?:synthetic|generated|synthesi[sz]ed)\b",
    r"\bai generated\b",
    r"\bgenerated (?:all of it|as a whole|from scratch)\b",
    r"\b(?:model|generator) (?:generated|produced|synthesi[sz]ed|made) all of it\b",
    r"\bsynthetic image\b",
)
TAMPERED_PATTERNS: tuple[str, ...] = (
    r"\b(?:edited|tampered|manipulated|forged|spliced|doctored|altered|inpainted|retouched)\b",
    r"\bcopy[- ]move\b",
    r"\b(?:splice|splicing|forgery|manipulation|tampering)\b",
)


def _normalise(text: str) -> str:
    text = text.lower().replace("center", "centre").replace("middle left", "centre left")
    text = text.replace("middle right", "centre right").replace("-", " ")
    return re.sub(r"\s+", " ", text)


def cell_fractions(mask: np.ndarray) -> np.ndarray:
    """A 3x3 array: the fraction of the mask's forged pixels that fall in each grid cell (sums to 1, or 0s)."""
    m = np.asarray(mask) > 0
    if m.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {m.shape}")
    h, w = m.shape
    ys = np.linspace(0, h, 4).round().astype(int)
    xs = np.linspace(0, w, 4).round().astype(int)
    counts = np.array(
        [[m[ys[r] : ys[r + 1], xs[c] : xs[c + 1]].sum() for c in range(3)] for r in range(3)], dtype=float
    )
    total = counts.sum()
    return counts / total if total > 0 else counts


def cells_of_mask(mask: np.ndarray, min_share: float = 0.15) -> frozenset[Cell]:
    """Grid cells that hold at least ``min_share`` of the forged pixels (the largest cell always counts)."""
    frac = cell_fractions(mask)
    if frac.sum() == 0:
        return frozenset()
    cells = {(r, c) for r in range(3) for c in range(3) if frac[r, c] >= min_share}
    cells.add(tuple(int(i) for i in np.unravel_index(np.argmax(frac), frac.shape)))
    return frozenset(cells)


def phrase_for_cells(cells: frozenset[Cell] | set[Cell]) -> str:
    """The canonical phrase for a set of cells: a band name when the set is one, else the cell names."""
    cells = frozenset(cells)
    if not cells:
        return ""
    if cells in BAND_NAMES:
        return BAND_NAMES[cells]
    names = [CELL_NAMES[c] for c in sorted(cells)]
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def parse_location(text: str) -> frozenset[Cell]:
    """Grid cells named in ``text`` (the union of every location phrase found)."""
    cells: set[Cell] = set()
    for match in _PARSE_RE.finditer(_normalise(text)):
        cells |= _SYNONYMS[match.group(1)]
    return frozenset(cells)


def size_word(mask: np.ndarray) -> str:
    """Relative size of the forged area (see ``SIZE_WORDS``)."""
    m = np.asarray(mask) > 0
    share = m.mean() if m.size else 0.0
    return next(word for limit, word in SIZE_WORDS if share < limit)


def shape_word(mask: np.ndarray) -> str:
    """compact / elongated / irregular, from the largest component's bounding box and solidity."""
    import cv2

    m = (np.asarray(mask) > 0).astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return "compact"
    c = max(contours, key=cv2.contourArea)
    (_, _), (bw, bh), _ = cv2.minAreaRect(c)
    aspect = max(bw, bh) / max(1.0, min(bw, bh))
    area = cv2.contourArea(c)
    hull = cv2.contourArea(cv2.convexHull(c))
    solidity = area / hull if hull > 0 else 1.0
    if aspect >= 3.0:
        return "elongated"
    if solidity < 0.75:
        return "irregular"
    return "compact"


def count_regions(mask: np.ndarray, min_share: float = 0.05) -> int:
    """Connected forged regions holding at least ``min_share`` of the forged pixels (specks are ignored)."""
    import cv2

    m = (np.asarray(mask) > 0).astype(np.uint8)
    total = int(m.sum())
    if total == 0:
        return 0
    n, _, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    return max(1, int((areas >= min_share * total).sum()))


@dataclass(frozen=True)
class LocationDescription:
    """What the vocabulary says about one mask."""

    cells: frozenset[Cell]
    phrase: str
    size: str
    shape: str
    n_regions: int
    area_fraction: float
    extras: dict = field(default_factory=dict)


def describe_mask(mask: np.ndarray) -> LocationDescription:
    """Describe where a mask is, how big, what shape and in how many pieces, in the fixed vocabulary."""
    m = np.asarray(mask) > 0
    cells = cells_of_mask(m)
    return LocationDescription(
        cells=cells,
        phrase=phrase_for_cells(cells),
        size=size_word(m) if cells else "",
        shape=shape_word(m) if cells else "",
        n_regions=count_regions(m),
        area_fraction=float(m.mean()) if m.size else 0.0,
    )


def verdict_from_text(text: str) -> str | None:
    """``"authentic"``, ``"synthetic"``, ``"tampered"`` or ``None`` when the text states no verdict (checked
    in that order: a generated image's answer may say it was not "edited in one place")."""
    t = _normalise(text)
    if any(re.search(p, t) for p in AUTHENTIC_PATTERNS):
        return "authentic"
    if any(re.search(p, t) for p in SYNTHETIC_PATTERNS):
        return "synthetic"
    if any(re.search(p, t) for p in TAMPERED_PATTERNS):
        return "tampered"
    return None


def grid_agreement(named: frozenset[Cell], mask: np.ndarray) -> float:
    """Jaccard overlap between the cells a text names and the cells a mask occupies (1.0 when both empty)."""
    actual = cells_of_mask(mask)
    if not named and not actual:
        return 1.0
    return len(named & actual) / len(named | actual)


# The sentences a model answer uses when the verdict is fixed by the detection score rather than chosen by
# the language model (``xforge.model.generation``); both are read back by ``verdict_from_text``.
VERDICT_SENTENCES: dict[str, str] = {
    "tampered": "Yes, this image has been edited.",
    "authentic": "No, I found no sign of editing in this image.",
    "synthetic": "This image looks fully generated by an AI model rather than taken with a camera.",
}
_COUNT_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def where_sentence(mask: np.ndarray) -> str:
    """One sentence saying where a mask is, in the canonical vocabulary; ``""`` for an empty mask.

    This is the sentence a model answer carries right after ``<SEG>``: at inference it is written from the
    decoded mask (``xforge.model.generation``), so the words and the mask cannot disagree.
    """
    return where_sentence_of(describe_mask(mask))


def where_sentence_of(loc: LocationDescription) -> str:
    """:func:`where_sentence` for an already described mask."""
    if not loc.cells:
        return ""
    if loc.n_regions >= 2:
        count = _COUNT_WORDS.get(loc.n_regions, str(loc.n_regions))
        return (
            f"The edits form {count} separate regions, mostly in the {loc.phrase}; "
            f"together they are {loc.size}."
        )
    return f"The edited region is a {loc.size}, {loc.shape} area in the {loc.phrase}."
