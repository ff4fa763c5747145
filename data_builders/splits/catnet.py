"""CAT-Net's splits (Kwon et al., IJCV 2022; ``Splicing/data/*.txt`` of github.com/mjkwon2021/CAT-Net).

Roots (``--root KEY=PATH``), each the folder CAT-Net's lists are relative to:
``casia2`` (holds ``CASIA 2.0/`` and ``CASIA 2 Groundtruth/``), ``imd2020``, ``fantastic_reality`` (holds
``dataset/``), ``compraise``, ``tampcoco`` (holds ``sp_images/`` ...), ``coverage``, ``columbia``, ``dso1``,
``nist16`` (``NC2016_Test0613``), ``comofod``, ``grip``.

Splits: train and valid as CAT-Net trains (CASIA v2, IMD2020, FantasticReality, compRAISE, tampCOCO); test
is CASIA v2's test lists plus the test sets of CAT-Net's folder (COVERAGE, Columbia, DSO-1, NC16 splice,
CoMoFoD, GRIP, and tampCOCO's test lists). Left out: ``Djpeg_test.txt`` (double-JPEG pretraining of the
DCT stream, not localization) and ``compRAISE.txt`` (the union of ``compRAISE_train``/``_valid``).

tampCOCO train lists were never mirrored (too large): train is every image in ``<subset>_images/`` that
no valid or test list names, per subset (sp, cm, bcm, bcmc), in file-name order.

CAT-Net samples 1,869 images per dataset per epoch (IMD2020's training size) during training; see
:class:`data_builders.sampling.BalancedDatasetSampler`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from data_builders.adapters.fantastic_reality import FAKE_DIR, MASK_DIR, REAL_DIR
from data_builders.adapters.tampcoco import SUBSETS, TampCocoAdapter, mask_name
from data_builders.probe import Candidate, Skip
from data_builders.splits.spec import ListSpec, Protocol

PER_EPOCH = 1869  # CAT-Net: samples drawn per dataset per epoch


def _fr_mask(image: str) -> str:
    return f"{MASK_DIR}/{os.path.splitext(os.path.basename(image))[0]}.npz"


def _specs() -> list[ListSpec]:
    specs = []
    for split in ("train", "valid", "test"):
        specs += [
            ListSpec(f"catnet/CASIA_v2_{split}_list.txt", "casia2", split),
            ListSpec(f"catnet/CASIA_v2_auth_{split}_list.txt", "casia2", split, label="authentic"),
        ]
    specs += [
        ListSpec("catnet/IMD_train_list.txt", "imd2020", "train", label="tampered", original_column=2),
        ListSpec("catnet/IMD_valid_list.txt", "imd2020", "valid", label="tampered", original_column=2),
        ListSpec("catnet/FR_train_list.txt", "fantastic_reality", "train", label="tampered",
                 image_prefix=f"{FAKE_DIR}/", mask_for=_fr_mask),
        ListSpec("catnet/FR_valid_list.txt", "fantastic_reality", "valid", label="tampered",
                 image_prefix=f"{FAKE_DIR}/", mask_for=_fr_mask),
        ListSpec("catnet/FR_auth_train_list.txt", "fantastic_reality", "train", label="authentic",
                 image_prefix=f"{REAL_DIR}/"),
        ListSpec("catnet/FR_auth_valid_list.txt", "fantastic_reality", "valid", label="authentic",
                 image_prefix=f"{REAL_DIR}/"),
        ListSpec("catnet/compRAISE_train.txt", "compraise", "train", label="authentic"),
        ListSpec("catnet/compRAISE_valid.txt", "compraise", "valid", label="authentic"),
    ]  # fmt: skip
    for sub in ("sp", "cm", "bcm"):
        specs += [
            ListSpec(f"catnet/{sub}_COCO_valid_list.txt", "tampcoco", "valid", label="tampered"),
            ListSpec(f"catnet/{sub}_COCO_test_list.txt", "tampcoco", "test", label="tampered"),
        ]
    specs.append(ListSpec("catnet/bcmc_COCO_valid_list.txt", "tampcoco", "valid", label="tampered"))
    for dataset, tamp, auth in [
        ("coverage", "COVERAGE_tamp.txt", "COVERAGE_auth.txt"),
        ("columbia", "Columbia_list.txt", "Columbia_auth_list.txt"),
        ("dso1", "Carvalho_DSO-1_spliced_list.txt", "Carvalho_DSO-1_normal_list.txt"),
        ("comofod", "CoMoFoD_tamp.txt", "CoMoFoD_auth.txt"),
        ("grip", "GRIP_tamp.txt", "GRIP_auth.txt"),
    ]:
        specs.append(ListSpec(f"catnet/{tamp}", dataset, "test", label="tampered"))
        specs.append(ListSpec(f"catnet/{auth}", dataset, "test", label="authentic"))
    specs.append(ListSpec("catnet/NC16_splice.txt", "nist16", "test", label="tampered", original_column=2))
    return specs


def tampcoco_train(
    roots: Mapping[str, Path], named: Mapping[str, set[str]]
) -> Iterator[tuple[str, Candidate | Skip]]:
    """tampCOCO train: each subset folder's images that no valid/test list names (see module notes)."""
    root = roots.get("tampcoco")
    if root is None:
        return
    adapter = TampCocoAdapter()
    listed = named.get("tampcoco", set())
    for sub, mask_dir in SUBSETS.items():
        folder = root / f"{sub}_images"
        if not folder.is_dir():
            yield (
                "tampcoco",
                Skip(f"{sub}_images", "folder missing; no tampCOCO train images from this subset"),
            )
            continue
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            image = f"{sub}_images/{entry.name}"
            if entry.is_file() and entry.name.lower().endswith(".jpg") and image not in listed:
                cand = adapter.describe(image, f"{mask_dir}/{mask_name(image)}", "tampered")
                cand.split = "train"
                cand.meta = {
                    **cand.meta,
                    "list": "rebuilt from the folder (see data_builders/splits/catnet.py)",
                }
                yield "tampcoco", cand


PROTOCOL = Protocol(
    name="catnet",
    description="CAT-Net (IJCV 2022) train/valid/test lists",
    specs=_specs(),
    extra=tampcoco_train,
    extra_datasets=("tampcoco",),
)
