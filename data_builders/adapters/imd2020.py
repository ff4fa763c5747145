"""IMD2020 real-life manipulated images (Novozamsky et al., WACV-W 2020).

Expected layout (as shipped)::

    <root>/<album>/<album>_orig.jpg          the pristine original (authentic, kept as ``original``)
    <root>/<album>/<id>_<k>.{jpg,png}        manipulated versions (2,010)
    <root>/<album>/<id>_<k>_mask.png         masks, white = manipulated

Quirk: ``z14/00030_fake.jpg``'s mask has another size; a corrected mask is published
(github.com/SunnyHaze/IML-Dataset-Corrections). Without it the sample is skipped and reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

from data_builders.adapters.base import DatasetAdapter, FileIndex, stem
from data_builders.probe import Candidate, Skip


class Imd2020Adapter(DatasetAdapter):
    key = "imd2020"
    title = "IMD2020"
    default_split = "train"
    mask_size_note = "a known misaligned IMD2020 mask; published corrected masks: github.com/SunnyHaze/IML-Dataset-Corrections"

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        images = list(files.images())
        originals: dict[str, str] = {}
        for p in images:
            if stem(p).endswith("_orig"):
                originals[str(PurePosixPath(p).parent)] = p
                yield self.authentic(p)
        tampered = [p for p in images if not stem(p).endswith(("_orig", "_mask"))]
        for cand in self.pair(files, tampered, lambda p: [f"{stem(p)}_mask.png"]):
            if isinstance(cand, Candidate):
                cand.original = originals.get(str(PurePosixPath(cand.image).parent))
            yield cand
