"""COVERAGE copy-move dataset (Wen et al., ICIP 2016).

Expected layout (as shipped)::

    <root>/image/<n>.tif          authentic (100)
    <root>/image/<n>t.tif         tampered (100)
    <root>/mask/<n>forged.tif     masks of the forged (pasted) region, white = forged
    <root>/mask/<n>copy.tif, <n>paste.tif   source/target masks (not used)

Quirk: the masks of 9 images (41, 48, 55, 56, 57, 58, 59, 61, 95) are stored at another size than their
image. The published repair is a set of corrected masks (github.com/SunnyHaze/IML-Dataset-Corrections);
put them in place and the samples build. Otherwise they are skipped and reported, or, with
``--resize-masks``, resampled (nearest neighbour) and marked ``meta.mask_resize = "nearest"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from data_builders.adapters.base import DatasetAdapter, FileIndex, name
from data_builders.probe import Candidate, Skip

_TAMPERED = re.compile(r"(\d+)t\.tif", re.IGNORECASE)
_AUTHENTIC = re.compile(r"\d+\.tif", re.IGNORECASE)


class CoverageAdapter(DatasetAdapter):
    key = "coverage"
    title = "COVERAGE"
    manipulation = ("copy-move",)
    mask_size_note = "a known misaligned COVERAGE mask; published corrected masks: github.com/SunnyHaze/IML-Dataset-Corrections"

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        images = list(files.images())
        tampered = [p for p in images if _TAMPERED.fullmatch(name(p))]
        yield from self.pair(
            files, tampered, lambda p: [f"{_TAMPERED.fullmatch(name(p)).group(1)}forged.tif"]
        )
        yield from (self.authentic(p) for p in images if _AUTHENTIC.fullmatch(name(p)))
