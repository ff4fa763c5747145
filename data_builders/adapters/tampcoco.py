"""tampCOCO (Kwon et al., CAT-Net, IJCV 2022): COCO-based splicing and copy-move sets.

Expected layout (as CAT-Net's authors ship it)::

    <root>/sp_images/<n>_<a>.jpg_<b>.jpg<ops>.jpg      spliced (sp_COCO)
    <root>/cm_images/...                                copy-move (cm_COCO)
    <root>/bcm_images/...                               copy-move on RAISE-like blocks (bcm_COCO, "CM RAISE")
    <root>/bcmc_images/..._aligned_Q<q>...jpg           bcm, JPEG-compressed (bcmc_COCO, "CM-JPEG RAISE")
    <root>/{sp,cm,bcm}_masks/<same name with .png for .jpg>   masks, white = forged

Mask names: every ``.jpg`` becomes ``.png`` and (bcmc only) the ``_aligned_Q<q>`` tags are removed; bcmc
images share ``bcm_masks``. Example: ``bcmc_images/98_000000418435_aligned_Q76.jpg_000000418435_aligned_Q76
.jpg_aligned_Q76.jpg`` -> ``bcm_masks/98_000000418435.png_000000418435.png.png``.

The training lists (``*_COCO_train_list.txt``) are not mirrored (too large); the ``catnet`` protocol
rebuilds them as every image of a subset folder that its valid and test lists do not name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath

from data_builders.adapters.base import DatasetAdapter, FileIndex, name
from data_builders.probe import Candidate, Skip

SUBSETS = {"sp": "sp_masks", "cm": "cm_masks", "bcm": "bcm_masks", "bcmc": "bcm_masks"}
_ALIGNED = re.compile(r"_aligned_Q\d+")


def subset_of(image: str) -> str | None:
    folder = PurePosixPath(image).parent.name
    sub = folder[: -len("_images")] if folder.endswith("_images") else None
    return sub if sub in SUBSETS else None


def mask_name(image: str) -> str:
    return _ALIGNED.sub("", name(image)).replace(".jpg", ".png")


class TampCocoAdapter(DatasetAdapter):
    key = "tampcoco"
    title = "tampCOCO"
    default_split = "train"

    def manipulation_of(self, image: str) -> list[str]:
        return ["splice"] if subset_of(image) == "sp" else ["copy-move"]

    def describe(self, image: str, mask: str | None, label: str) -> Candidate:
        cand = super().describe(image, mask, label)
        cand.meta = {"subset": subset_of(image)}
        return cand

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        for image in files.images():
            sub = subset_of(image)
            if sub is None:
                continue
            mask = f"{SUBSETS[sub]}/{mask_name(image)}"
            parent = str(PurePosixPath(image).parent.parent)
            mask = mask if parent == "." else f"{parent}/{mask}"
            if mask not in files:
                yield Skip(image, f"mask {mask} is missing")
                continue
            yield self.describe(image, mask, "tampered")
