"""Annotate many pairs into a dataset folder with a manifest in the project's format.

Layout under ``out`` (a dataset root: ``--root KEY=OUT`` reads it)::

    images/<name>.<ext>      the edited file, byte for byte (hard link when possible, else a copy)
    originals/<name>.<ext>   its original, byte for byte
    masks/<name>.png         0/255 mask at the edited image's size (white = edited)
    manifest.jsonl           one tampered record per kept pair: mask, ``original``, ``meta.qes``,
                             ``meta.annotation = "auto-ciml"``, ``meta.registration``
    manifest.skipped.jsonl   every pair not kept, with the reason (unreadable, cannot be aligned, no
                             difference found, QES under ``min_qes``)
    report.json              counts and settings
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from data_builders.annotate.ciml import WORK_SIDE, AlignError, annotate_arrays
from data_builders.annotate.pairs import Pair
from xforge.data.images import ImageReadError, read_image
from xforge.data.manifest import write_jsonl
from xforge.data.schema import SampleRecord

log = logging.getLogger(__name__)

ANNOTATION = "auto-ciml"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _file_name(pair_id: str) -> str:
    return _UNSAFE.sub("_", pair_id.replace("/", "__")).strip("._") or "pair"


def _place(src: Path, dst: Path) -> None:
    """Put ``src``'s bytes at ``dst`` (a hard link saves space when both are on one filesystem)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def annotate_pair(pair: Pair, out: Path, dataset: str, split: str, min_qes: float, work_side: int):
    """``(record, None)`` for a kept pair, ``(None, skip)`` otherwise; files are written for kept pairs."""
    skip: dict[str, Any] = {"id": pair.id, "edited": str(pair.edited), "original": str(pair.original)}
    try:
        edited = read_image(pair.edited)
        original = read_image(pair.original)
    except (ImageReadError, OSError) as exc:
        return None, {**skip, "reason": f"unreadable image: {exc}"}
    try:
        ann = annotate_arrays(edited, original, work_side=work_side)
    except AlignError as exc:
        return None, {**skip, "reason": f"cannot be aligned: {exc}"}
    if not ann.mask.any():
        return None, {**skip, "reason": "no difference found between the edit and its original", "qes": 0.0}
    if ann.qes < min_qes:
        return None, {**skip, "reason": f"QES {ann.qes:.3f} is under --min-qes {min_qes}", "qes": ann.qes}
    name = _file_name(pair.id)
    image_rel = f"images/{name}{pair.edited.suffix.lower()}"
    original_rel = f"originals/{name}{pair.original.suffix.lower()}"
    mask_rel = f"masks/{name}.png"
    _place(pair.edited, out / image_rel)
    _place(pair.original, out / original_rel)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out / mask_rel), ann.mask.astype(np.uint8) * 255):
        raise OSError(f"{out / mask_rel}: could not write the mask")
    h, w = edited.shape[:2]
    record = SampleRecord(
        id=f"{dataset}/{pair.id}",
        dataset=dataset,
        split=split,
        image=image_rel,
        label="tampered",
        mask=mask_rel,
        mask_format="white_forged",
        manipulation=["unknown"],
        width=w,
        height=h,
        original=original_rel,
        meta={
            "annotation": ANNOTATION,
            "qes": round(ann.qes, 4),
            "mask_area": round(ann.area, 5),
            **ann.meta,
        },
    )
    return record, None


def annotate_pairs(
    pairs: list[Pair],
    out: str | os.PathLike,
    *,
    dataset: str = "pairs",
    split: str = "train",
    min_qes: float = 0.0,
    work_side: int = WORK_SIDE,
    skipped: list[dict] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Annotate every pair; returns the report (also written to ``out/report.json``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records: list[SampleRecord] = []
    skips = list(skipped or [])
    for pair in tqdm(pairs, desc="annotating pairs", disable=not progress):
        record, skip = annotate_pair(pair, out, dataset, split, min_qes, work_side)
        if record is not None:
            records.append(record)
        else:
            log.info("skipped %s: %s", pair.id, skip["reason"])
            skips.append(skip)
    write_jsonl(out / "manifest.jsonl", records)
    write_jsonl(out / "manifest.skipped.jsonl", skips)
    qes_values = [r.meta["qes"] for r in records]
    report = {
        "pairs": len(pairs),
        "annotated": len(records),
        "skipped": len(skips),
        "mean_qes": float(np.mean(qes_values)) if qes_values else None,
        "settings": {"dataset": dataset, "split": split, "min_qes": min_qes, "work_side": work_side},
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
