"""BalancedDatasetSampler: CAT-Net's equal draws per dataset, deterministic per (seed, epoch)."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from data_builders.sampling import BalancedDatasetSampler


def groups():
    return ["fr"] * 500 + ["imd"] * 30 + ["casia"] * 120


def test_equal_draws_per_dataset_and_fresh_subsets():
    names = groups()
    sampler = BalancedDatasetSampler(names, per_dataset=50, seed=3)
    assert len(sampler) == 150
    epoch0 = list(sampler)
    assert Counter(names[i] for i in epoch0) == {"fr": 50, "imd": 50, "casia": 50}
    fr0 = {i for i in epoch0 if names[i] == "fr"}
    assert len(fr0) == 50  # a big dataset gives distinct samples
    imd = [i for i in epoch0 if names[i] == "imd"]
    assert set(imd) == set(range(500, 530))  # a small one is repeated whole, every sample at least once
    assert max(Counter(imd).values()) == 2
    sampler.set_epoch(1)
    fr1 = {i for i in sampler if names[i] == "fr"}
    assert fr1 != fr0  # a different part of the big dataset next epoch


def test_deterministic_per_seed_and_epoch():
    a, b = BalancedDatasetSampler(groups(), 40, seed=7), BalancedDatasetSampler(groups(), 40, seed=7)
    assert list(a) == list(b)
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b)
    assert list(a) != list(BalancedDatasetSampler(groups(), 40, seed=8))
    b.set_epoch(3)
    assert list(a) != list(b)


def test_works_with_a_dataloader_and_rejects_bad_arguments():
    data = TensorDataset(torch.arange(650))
    loader = DataLoader(data, batch_size=16, sampler=BalancedDatasetSampler(groups(), per_dataset=10))
    seen = torch.cat([batch[0] for batch in loader])
    assert len(seen) == 30
    with pytest.raises(ValueError, match="per_dataset"):
        BalancedDatasetSampler(groups(), per_dataset=0)
    with pytest.raises(ValueError, match="at least one"):
        BalancedDatasetSampler([])


def test_from_records_groups_by_the_given_fields():
    from xforge.data.schema import SampleRecord

    records = [
        SampleRecord(id=f"{d}/{i}", dataset=d, split="train", image=f"{i}.jpg", label=lab)
        for d, lab, n in [("casia2", "tampered", 5), ("casia2", "authentic", 7), ("imd2020", "tampered", 3)]
        for i in range(n)
    ]
    by_dataset = BalancedDatasetSampler.from_records(records, per_dataset=4)
    assert len(by_dataset) == 8
    per_list = BalancedDatasetSampler.from_records(
        [r.to_dict() for r in records], by=("dataset", "label"), per_dataset=4
    )
    assert len(per_list) == 12
    assert Counter(records[i].label for i in per_list if records[i].dataset == "casia2") == {
        "tampered": 4,
        "authentic": 4,
    }
