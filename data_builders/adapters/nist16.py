"""NIST Nimble 2016 (NC2016_Test0613), driven by its pipe-separated reference CSVs.

Expected layout (as NIST ships it)::

    <root>/probe/NC2016_*.jpg                               probe images
    <root>/world/NC2016_*.jpg                               donor images
    <root>/reference/<task>/NC2016-<task>-ref.csv           task = manipulation | removal | splice
    <root>/reference/<task>/mask/NC2016_*.png               masks, BLACK = forged (``black_forged``)

Each CSV is ``|``-separated with a header naming ``ProbeFileName``, ``ProbeMaskFileName`` and ``IsTarget``
(``Y`` tampered, ``N`` authentic), paths relative to the root; the splice CSV adds ``DonorFileName``
(kept as ``original``), the manipulation CSV ``IsManipulationType{Removal,Splice,CopyClone}``.
A probe listed by several tasks gets one record. Its label comes from the manipulation CSV (``IsTarget``):
a probe that is a non-target of the splice or removal task may still be manipulated otherwise, so those
tasks' rows never make a probe authentic; they only supply the mask, which wins over the generic
manipulation mask because it is the one the benchmarks (CAT-Net's NC16 list, TruFor's NIST16 list) use.
A probe only the splice/removal CSVs list is tampered when it is a target there and skipped otherwise.
Rows naming files that are not there are skipped and reported.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator

from data_builders.adapters.base import DatasetAdapter, FileIndex, name
from data_builders.probe import Candidate, Skip

_REF_CSV = re.compile(r"NC2016-(\w+)-ref\.csv", re.IGNORECASE)
_TASK_ORDER = {"splice": 0, "removal": 1, "remove": 1, "manipulation": 2}
_TYPE_COLUMNS = {
    "IsManipulationTypeSplice": "splice",
    "IsManipulationTypeRemoval": "removal",
    "IsManipulationTypeCopyClone": "copy-move",
}


class Nist16Adapter(DatasetAdapter):
    key = "nist16"
    title = "NIST Nimble 2016"
    mask_format = "black_forged"

    def manipulation_of(self, image: str) -> list[str]:
        return ["unknown"]

    def describe(self, image: str, mask: str | None, label: str) -> Candidate:
        cand = super().describe(image, mask, label)
        if mask and "/splice/" in f"/{mask}":
            cand.manipulation = ["splice"]
        elif mask and "/remov" in f"/{mask}":
            cand.manipulation = ["removal"]
        return cand

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        tables = sorted(
            (p for p in files.paths if _REF_CSV.fullmatch(name(p))),
            key=lambda p: _TASK_ORDER.get(_task(p), 3),
        )
        if not tables:
            yield Skip(".", "no reference/<task>/NC2016-<task>-ref.csv found; NIST16 is read from its CSVs")
            return
        labels: dict[str, tuple[bool, dict[str, str], str]] = {}  # probe -> (target?, row, where)
        localized: dict[str, tuple[str, dict[str, str], str]] = {}  # probe -> (task, row, where) with a mask
        others: dict[str, tuple[str, str]] = {}  # probe -> (task, where) of non-target splice/removal rows
        unmasked: dict[str, tuple[str, str]] = {}  # probe -> (mask, where) of target rows without the mask
        first: dict[str, str] = {}  # probe -> its first row, in table order
        for table in tables:
            task = _task(table)
            with open(files.root / table, encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f, delimiter="|"))
            for lineno, row in enumerate(rows, 2):
                where = f"{table}:{lineno}"
                image = (row.get("ProbeFileName") or "").strip()
                if not image:
                    yield Skip(where, "row without ProbeFileName")
                    continue
                first.setdefault(image, where)
                target = (row.get("IsTarget") or "").strip().upper() == "Y"
                if task == "manipulation":
                    labels.setdefault(image, (target, row, where))
                elif target:
                    mask = (row.get("ProbeMaskFileName") or "").strip()
                    if image not in localized and mask and mask in files:
                        localized[image] = (task, row, where)
                    else:
                        unmasked.setdefault(image, (mask, where))
                else:
                    others.setdefault(image, (task, where))
        for image, where in first.items():
            if image not in files:
                yield Skip(image, f"listed in {where} but not found under the root")
                continue
            if image in labels:
                target, row, where = labels[image]
                if not target:
                    yield self.authentic(image)
                    continue
            elif image not in localized and image in unmasked:
                mask, where = unmasked[image]
                yield Skip(image, f"tampered in {where} but its mask {mask or None!r} is missing")
                continue
            elif image not in localized:
                task, where = others[image]
                yield Skip(
                    image,
                    f"a non-target of the {task} task ({where}) that the manipulation CSV does not list: "
                    "its label is unknown",
                )
                continue
            yield from self._tampered(files, image, labels.get(image), localized.get(image))

    def _tampered(self, files: FileIndex, image: str, label_row, mask_row) -> Iterator[Candidate | Skip]:
        """A target probe: the splice/removal mask when one exists, else the manipulation task's own."""
        if mask_row is not None:
            task, row, _ = mask_row
            mask = row["ProbeMaskFileName"].strip()
        else:
            task, row, where = "manipulation", label_row[1], label_row[2]
            mask = (row.get("ProbeMaskFileName") or "").strip()
            if not mask or mask not in files:
                yield Skip(image, f"tampered in {where} but its mask {mask or None!r} is missing")
                return
        cand = self.tampered(image, mask)
        types_row = label_row[1] if label_row is not None else row
        types = [t for col, t in _TYPE_COLUMNS.items() if (types_row.get(col) or "").strip().upper() == "Y"]
        cand.manipulation = types or (
            ["splice"] if task == "splice" else ["removal"] if "remov" in task else ["unknown"]
        )
        donor = (row.get("DonorFileName") or "").strip()
        if donor and donor in files:
            cand.original = donor
        cand.meta = {"task": task}
        yield cand


def _task(table: str) -> str:
    return _REF_CSV.fullmatch(name(table)).group(1).lower()
