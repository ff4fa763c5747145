"""What is known about one sample, gathered for the explanation: the mask's place in the fixed location
vocabulary (``xforge.location``), the manipulation, and -- for synthetic samples -- the generator's record.

Every sentence the explainer writes is derived from these facts, so *where* is true by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xforge.location import LocationDescription, describe_mask

_UNKNOWN = "unknown"


@dataclass
class EditFacts:
    label: str  # authentic | tampered | synthetic
    manipulation: list[str] = field(default_factory=list)
    location: LocationDescription | None = None  # of every forged pixel
    sources: list[LocationDescription] = field(default_factory=list)  # per source of a multi-source mask
    copy_source: LocationDescription | None = None  # where a copy-moved region came from
    postprocess: list[dict[str, Any]] | None = None  # None when unknown (not a synthetic sample)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """The main manipulation: multi-source before splice, else the first one listed."""
        if "multi-source" in self.manipulation or len(self.sources) >= 2:
            return "multi-source"
        return self.manipulation[0] if self.manipulation else _UNKNOWN

    @property
    def n_regions(self) -> int:
        if len(self.sources) >= 2:
            return len(self.sources)
        return self.location.n_regions if self.location else 0


def _box_mask(shape: tuple[int, int], box: list[int], scale: float) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    x0, y0, x1, y1 = (int(round(v * scale)) for v in box)
    m[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = 1
    return m


def facts_from(
    label: str,
    mask: np.ndarray | None,
    manipulation: list[str] | None = None,
    meta: dict[str, Any] | None = None,
    *,
    multi_source: bool = False,
) -> EditFacts:
    """Facts for a sample. ``mask`` is the decoded mask (0/1, or source indices when ``multi_source``).

    ``meta`` is a manifest record's meta; the synthetic generator's keys (``postprocess``, ``source_box``,
    ``sources``, ``donor_jpeg_quality`` ...) add details when present. Boxes in the generator's meta refer
    to the image before post-processing, so a recorded resize is undone for them.
    """
    meta = meta or {}
    facts = EditFacts(label=label, manipulation=list(manipulation or []))
    if "postprocess" in meta:
        facts.postprocess = list(meta["postprocess"])
    if mask is None or not np.asarray(mask).any():
        return facts
    mask = np.asarray(mask)
    facts.location = describe_mask(mask > 0)
    if multi_source:
        facts.sources = [describe_mask(mask == i) for i in range(1, int(mask.max()) + 1) if (mask == i).any()]
    resize = next((op["factor"] for op in facts.postprocess or [] if op.get("op") == "resize"), 1.0)
    if "source_box" in meta:
        facts.copy_source = describe_mask(_box_mask(mask.shape, meta["source_box"], resize))
    for key in ("rotation_deg", "scale", "donor_jpeg_quality", "inpaint_method", "region", "object_label"):
        if meta.get(key) is not None:
            facts.details[key] = meta[key]
    donor_q = [s.get("donor_jpeg_quality") for s in meta.get("sources", []) if s.get("donor_jpeg_quality")]
    if donor_q:
        facts.details["donor_jpeg_quality"] = donor_q[0]
    return facts
