"""compRAISE ("JPEG RAISE" in CAT-Net, IJCV 2022): RAISE photos re-compressed, authentic only.

Expected layout (as CAT-Net's authors ship it): a flat folder of JPEGs named
``<raise id>_Q<q>[_<op>_Q<q2>].jpg``, e.g. ``r000da54ft_Q67_aligned_Q87.jpg``. Every image is authentic.
"""

from __future__ import annotations

from collections.abc import Iterator

from data_builders.adapters.base import DatasetAdapter, FileIndex
from data_builders.probe import Candidate, Skip


class CompRaiseAdapter(DatasetAdapter):
    key = "compraise"
    title = "compRAISE"
    default_split = "train"

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        return (self.authentic(p) for p in files.images())
