"""NIST Nimble 2016 (NC2016_Test0613), driven by its pipe-separated reference CSVs.

Expected layout (as NIST ships it)::

    <root>/probe/NC2016_*.jpg                               probe images
    <root>/world/NC2016_*.jpg                               donor images
    <root>/reference/<task>/NC2016-<task>-ref.csv           task = manipulation | removal | splice
    <root>/reference/<task>/mask/NC2016_*.png               masks, BLACK = forged (``black_forged``)

Each CSV is ``|``-separated with a header naming ``ProbeFileName``, ``ProbeMaskFileName`` and ``IsTarget``
(``Y`` tampered, ``N`` authentic), paths relative to the root; the splice CSV adds ``DonorFileName``
(kept as ``original``), the manipulation CSV ``IsManipulationType{Removal,Splice,CopyClone}``.
A probe listed by several tasks gets one record; the splice or removal mask wins over the generic
manipulation mask because it is the one the benchmarks (CAT-Net's NC16 list, TruFor's NIST16 list) use.
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
            key=lambda p: _TASK_ORDER.get(_REF_CSV.fullmatch(name(p)).group(1).lower(), 3),
        )
        if not tables:
            yield Skip(".", "no reference/<task>/NC2016-<task>-ref.csv found; NIST16 is read from its CSVs")
            return
        done: set[str] = set()
        for table in tables:
            task = _REF_CSV.fullmatch(name(table)).group(1).lower()
            with open(files.root / table, encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f, delimiter="|"))
            for lineno, row in enumerate(rows, 2):
                image = (row.get("ProbeFileName") or "").strip()
                if not image:
                    yield Skip(f"{table}:{lineno}", "row without ProbeFileName")
                    continue
                if image in done:
                    continue
                if image not in files:
                    yield Skip(image, f"listed in {table}:{lineno} but not found under the root")
                    continue
                done.add(image)
                if (row.get("IsTarget") or "").strip().upper() != "Y":
                    yield self.authentic(image)
                    continue
                mask = (row.get("ProbeMaskFileName") or "").strip() or None
                if mask is None or mask not in files:
                    yield Skip(image, f"tampered in {table}:{lineno} but its mask {mask!r} is missing")
                    continue
                cand = self.tampered(image, mask)
                types = [t for col, t in _TYPE_COLUMNS.items() if (row.get(col) or "").strip().upper() == "Y"]
                cand.manipulation = types or (
                    ["splice"] if task == "splice" else ["removal"] if "remov" in task else ["unknown"]
                )
                donor = (row.get("DonorFileName") or "").strip()
                if donor and donor in files:
                    cand.original = donor
                cand.meta = {"task": task}
                yield cand
