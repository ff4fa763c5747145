"""GRIP copy-move dataset (Cozzolino et al., TIFS 2015).

Expected layout (as CAT-Net's lists name it)::

    <root>/images/IMG_C<cc>_<nnn>.png              authentic
    <root>/forged_images/TP_C<cc>_<nnn>_copy.png   copy-move forgeries
    <root>/forged_images/TP_C<cc>_<nnn>_gt.png     masks, white = forged
"""

from __future__ import annotations

from collections.abc import Iterator

from data_builders.adapters.base import DatasetAdapter, FileIndex, name, stem
from data_builders.probe import Candidate, Skip


class GripAdapter(DatasetAdapter):
    key = "grip"
    title = "GRIP copy-move"
    manipulation = ("copy-move",)

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        images = list(files.images())
        forged = [p for p in images if stem(p).endswith("_copy")]
        yield from self.pair(files, forged, lambda p: [f"{stem(p)[: -len('_copy')]}_gt.png"])
        yield from (self.authentic(p) for p in images if name(p).startswith("IMG_"))
