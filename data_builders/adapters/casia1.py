"""CASIA v1.0 (Dong et al., ChinaSIP 2013) and its "v1+" variant with Corel authentic images.

Expected layout (names as shipped; folders may be arranged as in the original release or as MVSS-Net /
TruFor users keep them, the adapter matches by name)::

    <root>/CASIA 1.0 dataset/Au/Au_ani_0001.jpg ...          authentic (800)
    <root>/CASIA 1.0 dataset/Modified Tp/Tp/Sp/Sp_D_*.jpg    tampered, splicing
    <root>/CASIA 1.0 dataset/Modified Tp/Tp/CM/Sp_S_*.jpg    tampered, copy-move
    <root>/CASIA 1.0 groundtruth/{Sp,CM}/<image stem>_gt.png masks, white = forged
                                                              (github.com/namtpham/casia1groundtruth)
    <root>/corel-1k/... or <root>/Au_corel/...               v1+: Corel images replacing CASIA's
                                                              authentic ones (any folder named *corel*)

Naming: ``Sp_D_`` = different source images (splice), ``Sp_S_`` = same image (copy-move).
Quirk: one tampered image of the release (``Sp_D_NRN_A_cha0011_sec0011_0542.jpg``) has no ground-truth
mask; it is skipped and reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from data_builders.adapters.base import DatasetAdapter, FileIndex, name, stem, under
from data_builders.probe import Candidate, Skip

_COREL = re.compile(r".*corel.*", re.IGNORECASE)


def casia_manipulation(image: str) -> list[str]:
    """CASIA file names encode the source: ``_S_`` same image (copy-move), ``_D_`` different (splice)."""
    parts = name(image).split("_")
    if len(parts) > 1 and parts[1] == "S":
        return ["copy-move"]
    if len(parts) > 1 and parts[1] == "D":
        return ["splice"]
    return ["unknown"]


class Casia1Adapter(DatasetAdapter):
    key = "casia1"
    title = "CASIA v1.0"
    default_split = "test"

    def manipulation_of(self, image: str) -> list[str]:
        return casia_manipulation(image)

    def describe(self, image: str, mask: str | None, label: str) -> Candidate:
        cand = super().describe(image, mask, label)
        if label == "authentic" and under(image, _COREL):
            cand.meta = {"source": "corel-1k"}
        return cand

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        images = list(files.images())
        tampered = [p for p in images if name(p).startswith("Sp_") and not stem(p).endswith("_gt")]
        yield from self.pair(files, tampered, lambda p: [f"{stem(p)}_gt.png"])
        for image in images:
            if under(image, _COREL) or name(image).startswith("Au_"):
                yield self.describe(image, None, "authentic")
