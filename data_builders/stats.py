"""Manifest statistics: counts per dataset/split/label/manipulation and the mask coverage histogram.

Mask coverage = forged pixels / all pixels of a tampered image's decoded mask (source indices > 0 count as
forged for multi-source masks). It tells how hard a set is: CASIA's small objects vs. IMD2020's large edits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_builders.probe import Skip
from xforge.data.images import ImageReadError
from xforge.data.manifest import ManifestError, root_for
from xforge.data.masks import MaskError, load_record_mask
from xforge.data.schema import SampleRecord


def manifest_counts(records: Sequence[SampleRecord]) -> dict:
    """Counts by dataset, split, label, manipulation (a sample counts once per type) and mask format."""

    def count(values) -> dict[str, int]:
        return dict(sorted(Counter(values).items()))

    return {
        "total": len(records),
        "by_dataset": count(r.dataset for r in records),
        "by_split": count(r.split for r in records),
        "by_label": count(r.label for r in records),
        "by_manipulation": count(m for r in records for m in (r.manipulation or ["none"])),
        "by_mask_format": count(r.mask_format or "none" for r in records),
        "by_dataset_split_label": {
            f"{d}/{s}/{lab}": n
            for (d, s, lab), n in sorted(Counter((r.dataset, r.split, r.label) for r in records).items())
        },
    }


@dataclass
class Coverage:
    fractions: list[float]
    bins: int
    errors: list[tuple[str, Skip]] = field(default_factory=list)

    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        return np.histogram(np.asarray(self.fractions, dtype=np.float64), bins=self.bins, range=(0.0, 1.0))

    def summary(self) -> dict:
        counts, edges = self.histogram()
        arr = np.asarray(self.fractions, dtype=np.float64)
        return {
            "masks": len(self.fractions),
            "unreadable": len(self.errors),
            "mean": float(arr.mean()) if arr.size else None,
            "median": float(np.median(arr)) if arr.size else None,
            "empty_masks": int((arr == 0).sum()),
            "histogram": [
                {"from": float(a), "to": float(b), "count": int(c)}
                for a, b, c in zip(edges[:-1], edges[1:], counts)
            ],
        }

    def text(self) -> str:
        counts, edges = self.histogram()
        width = max(1, int(counts.max())) if counts.size else 1
        lines = [f"mask coverage of {len(self.fractions)} masks (forged share of the image):"]
        for a, b, c in zip(edges[:-1], edges[1:], counts):
            lines.append(f"  {a * 100:5.1f}-{b * 100:5.1f}%  {int(c):7d}  {'#' * int(round(40 * c / width))}")
        return "\n".join(lines)


def coverage_histogram(
    records: Sequence[SampleRecord], roots: Mapping[str, Path], *, bins: int = 10, progress=None
) -> Coverage:
    """Decode every mask of ``records`` (roots as ``--root``) and collect coverage; failures are reported."""
    cov = Coverage([], bins)
    for record in records:
        if not record.mask:
            continue
        try:
            mask = load_record_mask(record, root_for(record, roots))
            cov.fractions.append(float((mask > 0).mean()))
        except (MaskError, ManifestError, ImageReadError) as exc:
            cov.errors.append((record.dataset, Skip(record.mask, str(exc))))
        if progress is not None:
            progress.update(1)
    return cov


def plot_coverage(cov: Coverage, path: Path, *, title: str = "") -> None:
    """Save the coverage histogram as a PNG (matplotlib, no display needed)."""
    from matplotlib.figure import Figure  # no pyplot: leaves the process's backend alone

    counts, edges = cov.histogram()
    fig = Figure(figsize=(6, 3.5), dpi=100)
    ax = fig.subplots()
    ax.bar(edges[:-1] * 100, counts, width=np.diff(edges) * 100, align="edge", edgecolor="black")
    ax.set_xlabel("forged pixels (% of the image)")
    ax.set_ylabel("masks")
    ax.set_title(f"Mask coverage {title}".strip())
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
