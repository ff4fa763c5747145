"""The sample record of a manifest (docs/ARCHITECTURE.md, "Formats").

One JSON object per line. Paths are relative to the dataset's root, which is given at read time
(``--root KEY=PATH``), so a manifest moves between machines unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LABELS = ("authentic", "tampered", "synthetic")
SPLITS = ("train", "valid", "test")
MANIPULATIONS = (
    "splice",
    "copy-move",
    "removal",
    "inpainting",
    "ai-edit",
    "full-synthetic",
    "enhancement",
    "multi-source",
    "unknown",
)
# How a mask file is turned into 0/1 (or source indices); see xforge.data.masks.decode_mask.
MASK_FORMATS = (
    "white_forged",  # >127 is forged (most datasets)
    "nonzero_forged",  # >0 is forged (SafireMS-Auto, read as its authors' loader reads it)
    "black_forged",  # <128 is forged (NIST16, DSO-1 style inversions)
    "columbia_edge",  # Columbia's colour edge masks: green = spliced
    "npz",  # FantasticReality: a numpy .npz archive holding the mask
    "multi_source_gray",  # SafireMS: gray level 50*i marks source i
    "dolos",  # Dolos: 255 = unchanged, anything else edited
)


class RecordError(ValueError):
    """A manifest record that breaks the schema; the message names the record and the field."""


@dataclass
class SampleRecord:
    id: str
    dataset: str
    split: str
    image: str
    label: str
    mask: str | None = None
    mask_format: str | None = None
    manipulation: list[str] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    original: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"record {self.id!r} ({self.dataset})"
        if not self.id:
            raise RecordError("record without an id")
        if self.label not in LABELS:
            raise RecordError(f"{where}: label {self.label!r} is not one of {LABELS}")
        if self.mask is not None and self.mask_format not in MASK_FORMATS:
            raise RecordError(f"{where}: mask_format {self.mask_format!r} is not one of {MASK_FORMATS}")
        for name in ("image", "mask", "original"):
            value = getattr(self, name)
            if value is not None and (value.startswith("/") or value.startswith("\\") or ":" in value[:3]):
                raise RecordError(f"{where}: {name} path {value!r} must be relative to the dataset root")

    def to_dict(self) -> dict[str, Any]:
        # A shallow copy: dataclasses.asdict deep-copies, which costs more than reading an image header
        # and dominates writing a 100,000-record manifest.
        return {**vars(self), "manipulation": list(self.manipulation), "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SampleRecord:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise RecordError(f"record {data.get('id')!r}: unknown fields {sorted(unknown)}")
        missing = {"id", "dataset", "split", "image", "label"} - set(data)
        if missing:
            raise RecordError(f"record {data.get('id')!r}: missing fields {sorted(missing)}")
        return cls(
            **{
                **data,
                "manipulation": list(data.get("manipulation") or []),
                "meta": dict(data.get("meta") or {}),
            }
        )
