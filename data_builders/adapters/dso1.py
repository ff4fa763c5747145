"""DSO-1 (Carvalho et al., TIFS 2013): spliced people photos with illuminant cues.

Expected layout (as CAT-Net's lists name it)::

    <root>/DSO-1/normal-<n>.png                         authentic (100)
    <root>/DSO-1/splicing-<n>.png                       spliced (100)
    <root>/DSO-1-Fake-Images-Masks/splicing-<n>.png     masks (same file name), BLACK = spliced
                                                        (inverted: ``black_forged``)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from data_builders.adapters.base import DatasetAdapter, FileIndex, name, under
from data_builders.probe import Candidate, Skip

_MASKS = re.compile(r".*mask.*", re.IGNORECASE)


class Dso1Adapter(DatasetAdapter):
    key = "dso1"
    title = "DSO-1"
    mask_format = "black_forged"
    manipulation = ("splice",)

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        images = [p for p in files.images() if not under(p, _MASKS)]
        for image in images:
            if name(image).startswith("splicing-"):
                mask = files.find(name(image), near=image, folder=_MASKS)
                if mask is None:
                    yield Skip(image, "no mask of the same name in a *Masks* folder")
                else:
                    yield self.tampered(image, mask)
            elif name(image).startswith("normal-"):
                yield self.authentic(image)
