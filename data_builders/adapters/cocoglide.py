"""CocoGlide (Guillaro et al., TruFor, CVPR 2023): COCO val2017 objects inpainted with GLIDE.

Expected layout (as shipped)::

    <root>/fake/glide_inpainting_val2017_<cocoid>_up.png     inpainted (512)
    <root>/mask/<class name>_<cocoid>_mask.png               masks, white = inpainted
    <root>/real/<class name>_<cocoid>.png                    authentic (512)

Images and masks are paired by the COCO image id (class names contain spaces, e.g. ``dining table``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from data_builders.adapters.base import DatasetAdapter, FileIndex, name, under
from data_builders.probe import Candidate, Skip

_FAKE_ID = re.compile(r".*_(\d+)_up\.png", re.IGNORECASE)
_MASK_ID = re.compile(r".*_(\d+)_mask\.png", re.IGNORECASE)
_FAKE, _MASK, _REAL = (re.compile(n, re.IGNORECASE) for n in ("fake", "mask", "real"))


class CocoGlideAdapter(DatasetAdapter):
    key = "cocoglide"
    title = "CocoGlide"
    manipulation = ("inpainting", "ai-edit")

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        images = list(files.images())
        masks = {}
        for p in images:
            m = _MASK_ID.fullmatch(name(p))
            if m and under(p, _MASK):
                masks[m.group(1)] = p
        for p in images:
            fake = _FAKE_ID.fullmatch(name(p))
            if fake and under(p, _FAKE):
                mask = masks.get(fake.group(1))
                if mask is None:
                    yield Skip(p, f"no mask/<class>_{fake.group(1)}_mask.png for COCO id {fake.group(1)}")
                else:
                    yield self.tampered(p, mask)
            elif under(p, _REAL):
                yield self.authentic(p)
