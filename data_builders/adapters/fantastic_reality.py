"""FantasticReality (Kniaz et al., NeurIPS 2019): spliced photos with per-object label masks.

Expected layout (as shipped)::

    <root>/dataset/ColorFakeImages/<a>_<b>.jpg       spliced (e.g. IMG_0007962_IMG_0007497.jpg)
    <root>/dataset/SegmentationFake/<a>_<b>.npz      masks: array ``arr_0``, non-zero = spliced (``npz``)
    <root>/dataset/ColorRealImages/<a>.jpg           authentic

CAT-Net's FR lists hold bare file names; the ``catnet`` protocol places them in these folders.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from data_builders.adapters.base import DatasetAdapter, FileIndex, stem, under
from data_builders.probe import Candidate, Skip

FAKE_DIR, REAL_DIR, MASK_DIR = (
    "dataset/ColorFakeImages",
    "dataset/ColorRealImages",
    "dataset/SegmentationFake",
)
_FAKE, _REAL, _SEG = (
    re.compile(n, re.IGNORECASE) for n in ("ColorFakeImages", "ColorRealImages", "SegmentationFake")
)


class FantasticRealityAdapter(DatasetAdapter):
    key = "fantastic_reality"
    title = "FantasticReality"
    default_split = "train"
    mask_format = "npz"
    manipulation = ("splice",)

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        for image in files.images():
            if under(image, _FAKE):
                mask = files.find(f"{stem(image)}.npz", near=image, folder=_SEG)
                yield (
                    self.tampered(image, mask)
                    if mask
                    else Skip(image, f"no SegmentationFake/{stem(image)}.npz")
                )
            elif under(image, _REAL):
                yield self.authentic(image)
