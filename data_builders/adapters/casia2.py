"""CASIA v2.0 (Dong et al., ChinaSIP 2013) with the community ground truth.

Expected layout (as CAT-Net's lists name it)::

    <root>/CASIA 2.0/Au/Au_*.{jpg,bmp,tif}                 authentic (7,491)
    <root>/CASIA 2.0/Tp/Tp_{D,S}_*.{jpg,tif}               tampered (5,123)
    <root>/CASIA 2 Groundtruth/<image stem>_gt.png          masks, white = forged
                                                             (github.com/CauchyComplete/casia2groundtruth,
                                                             after its renaming script)

Naming: ``Tp_D_`` = splice, ``Tp_S_`` = copy-move.
Quirks: the ground-truth repository ships one mask as ``..._gt3.png``
(``Tp_D_NRD_S_N_cha10002_cha10001_20094``); it is accepted under either name. 17 masks differ in size from
their images (several are transposed); corrected masks are published (github.com/SunnyHaze/
IML-Dataset-Corrections, or the full github.com/SunnyHaze/CASIA2.0-Corrected-Groundtruth). Without them
those samples are skipped and reported. Tampered images
without a mask are skipped and reported.
"""

from __future__ import annotations

from collections.abc import Iterator

from data_builders.adapters.base import DatasetAdapter, FileIndex, name, stem
from data_builders.adapters.casia1 import casia_manipulation
from data_builders.probe import Candidate, Skip


class Casia2Adapter(DatasetAdapter):
    key = "casia2"
    title = "CASIA v2.0"
    default_split = "train"
    mask_size_note = "a known misaligned CASIA v2 mask; published corrected masks: github.com/SunnyHaze/IML-Dataset-Corrections"

    def manipulation_of(self, image: str) -> list[str]:
        return casia_manipulation(image)

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        images = list(files.images())
        tampered = [p for p in images if name(p).startswith("Tp_") and not stem(p).endswith(("_gt", "_gt3"))]
        yield from self.pair(files, tampered, lambda p: [f"{stem(p)}_gt.png", f"{stem(p)}_gt3.png"])
        yield from (self.authentic(p) for p in images if name(p).startswith("Au_"))
