"""MVSS-Net's protocol (Chen et al., ICCV 2021; Dong et al., TPAMI 2022; ``data/*.txt``): train on CASIA v2,
test on CASIA v1+, Columbia, COVERAGE, NIST16 and IMD2020.

MVSS-Net's lists are ``image mask_or_None label`` lines relative to one data folder (``./Casiav2/...``,
``./CASIAv1/...``, ``./corel-1k/...``, ``./COVER/...``, ``./Columbia/...``, ``./NIST16_test/...``); give
that folder as the root of each dataset (``--root casia2=D --root casia1=D ...`` or ``--root '*'=D``).

CASIA v1+ = the tampered images of ``CASIAv1.txt`` with the Corel authentic images of
``CASIAv1plus.txt`` in place of CASIA's own authentic ones (which overlap CASIA v2's). NIST16 is MVSS-Net's
cropped re-release (``probe_save/``, ``mask/``), read with NIST's mask polarity (black = forged).
IMD2020 has no MVSS-Net list: its test set is the whole dataset as the ``imd2020`` adapter reads it,
built when ``--root imd2020=PATH`` is given (a shared ``'*'`` root does not count for it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from data_builders.adapters.base import FileIndex
from data_builders.probe import Candidate, Skip
from data_builders.registry import get_adapter
from data_builders.splits.spec import ListSpec, Protocol


def imd2020_test(
    roots: Mapping[str, Path], named: Mapping[str, set[str]]
) -> Iterator[tuple[str, Candidate | Skip]]:
    root = roots.get("imd2020")
    if root is None or not root.is_dir():
        return
    for item in get_adapter("imd2020").scan(FileIndex.scan(root)):
        if isinstance(item, Candidate):
            item.split = "test"
        yield "imd2020", item


PROTOCOL = Protocol(
    name="mvss",
    description="MVSS-Net: train CASIA v2; test CASIA v1+, Columbia, COVERAGE, NIST16, IMD2020",
    specs=[
        ListSpec("mvss/CASIAv2.txt", "casia2", "train", syntax="space"),
        ListSpec("mvss/CASIAv1.txt", "casia1", "test", syntax="space", keep=frozenset({"tampered"})),
        ListSpec("mvss/CASIAv1plus.txt", "casia1", "test", syntax="space"),
        ListSpec("mvss/Columbia.txt", "columbia", "test", syntax="space"),
        ListSpec("mvss/COVERAGE.txt", "coverage", "test", syntax="space"),
        ListSpec("mvss/NIST16.txt", "nist16", "test", syntax="space"),
    ],
    extra=imd2020_test,
    extra_datasets=("imd2020",),
)
