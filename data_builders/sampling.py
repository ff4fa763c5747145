"""Balanced per-dataset sampling, CAT-Net's scheme (Kwon et al., IJCV 2022, ``Splicing/data/data_core.py``).

CAT-Net trains on lists of very different sizes (FantasticReality 18k, IMD2020 1,869, ...). Each epoch it
reshuffles every list and takes its first 1,869 entries (IMD2020's size), so every list weighs the same
and big lists are seen in a different part each epoch. :class:`BalancedDatasetSampler` does the same for
any dataset: pass one group key per sample (the dataset name, or ``f"{dataset}/{label}"`` to balance
per list as CAT-Net does, whose lists separate tampered and authentic images).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

CATNET_PER_DATASET = 1869  # IMD2020's training list, CAT-Net's smallest


class BalancedDatasetSampler(Sampler[int]):
    """Draw ``per_dataset`` indices from every group per epoch, shuffled together.

    ``datasets[i]`` is the group of sample ``i``. A group larger than ``per_dataset`` contributes a fresh
    random subset each epoch; a smaller group is repeated (whole random permutations, then a partial one)
    so that it still contributes ``per_dataset`` draws. The order is deterministic per ``(seed, epoch)``;
    call :meth:`set_epoch` before each epoch as with ``DistributedSampler``.
    """

    def __init__(self, datasets: Sequence[str], per_dataset: int = CATNET_PER_DATASET, seed: int = 0) -> None:
        if per_dataset <= 0:
            raise ValueError(f"per_dataset must be positive, got {per_dataset}")
        if len(datasets) == 0:
            raise ValueError("BalancedDatasetSampler needs at least one sample")
        groups: dict[str, list[int]] = {}
        for index, name in enumerate(datasets):
            groups.setdefault(str(name), []).append(index)
        self.groups = {name: torch.tensor(idx, dtype=torch.long) for name, idx in sorted(groups.items())}
        self.per_dataset = per_dataset
        self.seed = seed
        self.epoch = 0

    @classmethod
    def from_records(
        cls,
        records: Sequence,
        *,
        by: tuple[str, ...] = ("dataset",),
        per_dataset: int = CATNET_PER_DATASET,
        seed: int = 0,
    ) -> BalancedDatasetSampler:
        """Group manifest records (``SampleRecord`` or dicts) by the fields ``by``, e.g. ``("dataset",
        "label")`` to balance per CAT-Net list (each of its lists is one dataset's tampered or authentic
        images)."""

        def field(record, name: str) -> str:
            return str(record[name] if isinstance(record, dict) else getattr(record, name))

        return cls(["/".join(field(r, name) for name in by) for r in records], per_dataset, seed)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.per_dataset * len(self.groups)

    def _draw(self, members: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        rounds = -(-self.per_dataset // len(members))  # ceil: how many permutations fill the quota
        perms = [members[torch.randperm(len(members), generator=gen)] for _ in range(rounds)]
        return torch.cat(perms)[: self.per_dataset]

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator()
        gen.manual_seed(self.seed * 1_000_003 + self.epoch)  # distinct, reproducible stream per (seed, epoch)
        drawn = torch.cat([self._draw(members, gen) for members in self.groups.values()])
        order = torch.randperm(len(drawn), generator=gen)
        return iter(drawn[order].tolist())
