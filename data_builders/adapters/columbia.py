"""Columbia Uncompressed Image Splicing Detection (Hsu & Chang, ICME 2006).

Expected layout (as shipped)::

    <root>/4cam_auth/*.tif                                   authentic (183)
    <root>/4cam_splc/*.tif                                   spliced (180)
    <root>/4cam_splc/edgemask/<image stem>_edgemask.jpg      colour masks: green = spliced region,
                                                              red = host camera region (mask_format
                                                              ``columbia_edge``)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from data_builders.adapters.base import DatasetAdapter, FileIndex, stem, under
from data_builders.probe import Candidate, Skip

_SPLC = re.compile(r"4cam_splc", re.IGNORECASE)
_AUTH = re.compile(r"4cam_auth", re.IGNORECASE)
_EDGE = re.compile(r"edgemask", re.IGNORECASE)


class ColumbiaAdapter(DatasetAdapter):
    key = "columbia"
    title = "Columbia Uncompressed Image Splicing"
    mask_format = "columbia_edge"
    manipulation = ("splice",)

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        tifs = [p for p in files.images() if p.lower().endswith((".tif", ".tiff")) and not under(p, _EDGE)]
        yield from self.pair(
            files, [p for p in tifs if under(p, _SPLC)], lambda p: [f"{stem(p)}_edgemask.jpg"]
        )
        yield from (self.authentic(p) for p in tifs if under(p, _AUTH))
