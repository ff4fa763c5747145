"""CoMoFoD small (Tralic et al., ELMAR 2013): copy-move with post-processing variants.

Expected layout (as shipped, one flat folder)::

    <root>/<nnn>_F.png                 forged
    <root>/<nnn>_F_<attack>.{png,jpg}  forged, post-processed (JPEG ``JC1``..., noise ``NA1``..., ...)
    <root>/<nnn>_B.png                 binary mask, white = forged (shared by the variants)
    <root>/<nnn>_M.png                 colour mask of source and target (not used)
    <root>/<nnn>_O.png, <nnn>_O_<attack>.*   original (authentic)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from data_builders.adapters.base import DatasetAdapter, FileIndex, name
from data_builders.probe import Candidate, Skip

_NAME = re.compile(r"(\d+)_([FO])(_[A-Za-z]+\d*)?\.(png|jpg|bmp|tif)", re.IGNORECASE)


class ComofodAdapter(DatasetAdapter):
    key = "comofod"
    title = "CoMoFoD"
    manipulation = ("copy-move",)

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        for image in files.images():
            m = _NAME.fullmatch(name(image))
            if not m:
                continue
            if m.group(2).upper() == "O":
                yield self.authentic(image)
                continue
            mask = files.find(f"{m.group(1)}_B.png", near=image)
            yield self.tampered(image, mask) if mask else Skip(image, f"no {m.group(1)}_B.png mask")
