"""TruFor's test lists (Guillaro et al., CVPR 2023; ``test_docker/data_test/*.txt``).

Each list is relative to the dataset folder TruFor's test docker mounts; give that folder as the root:
``casia1`` (TruFor's CASIA v1 with Corel authentic images: ``Sp/``, ``groundtruth/``, ``Au_corel/``),
``columbia``, ``coverage``, ``nist16`` (``NC2016_Test0613``), ``dso1`` (holding ``DSO-1/`` and
``DSO-1-Fake-Images-Masks/``: TruFor's list names both by the bare file name), ``cocoglide``, ``vipp``,
``openforensics``. Every sample is in the ``test`` split.
"""

from __future__ import annotations

from data_builders.splits.spec import ListSpec, Protocol

_PAIRS = [
    ("casia1", "CASIA1corel", "", ""),
    ("columbia", "columbia", "", ""),
    ("coverage", "coverage", "", ""),
    ("nist16", "NIST16", "", ""),
    ("dso1", "DSO-1", "DSO-1/", "DSO-1-Fake-Images-Masks/"),
    ("cocoglide", "CocoGlide", "", ""),
    ("vipp", "VIPP", "", ""),
]

_SPECS = [
    spec
    for dataset, stem, image_prefix, mask_prefix in _PAIRS
    for spec in (
        ListSpec(f"trufor_test/{stem}_fake.txt", dataset, "test", label="tampered",
                 image_prefix=image_prefix, mask_prefix=mask_prefix),
        ListSpec(f"trufor_test/{stem}_real.txt", dataset, "test", label="authentic", image_prefix=image_prefix),
    )
]  # fmt: skip
_SPECS.append(ListSpec("trufor_test/OpenForensics_fake.txt", "openforensics", "test", label="tampered"))

PROTOCOL = Protocol(name="trufor-test", description="TruFor (CVPR 2023) test lists", specs=_SPECS)
