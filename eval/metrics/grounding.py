"""Grounding consistency: does the region an explanation names agree with a mask?

The explanation is read back with xforge's location vocabulary (``xforge.location``): the verdict with
``verdict_from_text`` and the named 3x3 grid cells with ``parse_location``; a mask occupies the cells
``cells_of_mask`` returns. Per image and per mask (the predicted mask -> ``grounding_pred``, the ground truth
-> ``grounding_gt``) the explanation is *consistent* when:

- it says "no edit" (authentic verdict) and the mask is empty;
- it says the image is edited (or names a location without a verdict) and the mask is not empty and the
  Jaccard overlap of the named cells and the mask's cells (``grid_agreement``) is at least
  ``min_agreement`` (0.5 by default: half the cells named or occupied are shared).

An edited verdict that names no location is not grounded and counts as inconsistent, as does a "no edit"
answer with a non-empty mask. A text with neither verdict nor location makes no claim and is left out
(``None``). The reported rates are the share of consistent images among those with a claim.
"""

from __future__ import annotations

import numpy as np

from xforge.location import grid_agreement, parse_location, verdict_from_text

MIN_AGREEMENT = 0.5


def read_claim(text: str) -> tuple[str | None, frozenset]:
    """(verdict, cells) an explanation states: verdict ``authentic``/``tampered``/``synthetic``/None, cells
    possibly empty."""
    text = text or ""
    verdict = verdict_from_text(text)
    cells = parse_location(text) if verdict != "authentic" else frozenset()
    if verdict is None and cells:
        verdict = "tampered"
    return verdict, cells


def grounding_agreement(text: str, mask: np.ndarray) -> float | None:
    """Cell Jaccard between what the text says and the mask: 1/0 for "no edit" claims, None without a claim."""
    verdict, cells = read_claim(text)
    if verdict is None:
        return None
    empty = not np.any(np.asarray(mask) > 0)
    if verdict == "authentic":
        return 1.0 if empty else 0.0
    if verdict == "synthetic":  # generated as a whole: claims no region
        return 1.0 if empty and not cells else 0.0
    if empty or not cells:
        return 0.0
    return float(grid_agreement(cells, mask))


def grounding_consistent(
    text: str, mask: np.ndarray, min_agreement: float = MIN_AGREEMENT, verdict: str | None = None
) -> bool | None:
    """Whether the explanation agrees with the mask (see the module docstring); None when it claims nothing.

    ``verdict`` is the answer's own verdict when known: a ``synthetic`` one says the whole image was
    generated, which claims no region, so it agrees when the text names no place and the mask is empty.
    """
    if not 0.0 < min_agreement <= 1.0:
        raise ValueError(f"min_agreement must be in (0, 1], got {min_agreement}")
    if verdict == "synthetic":
        return not parse_location(text or "") and not np.any(np.asarray(mask) > 0)
    agreement = grounding_agreement(text, mask)
    return None if agreement is None else agreement >= min_agreement
