"""What one row of the training log reports: the window of micro-batches since the previous row.

Every loss term is the mean over all micro-batches of the window, on every rank, that produced it (the mask
terms only exist for batches with a ``<SEG>``); ``samples_per_s`` is the throughput over the window's
training time (data loading included; validation and checkpointing excluded); ``peak_mem_gb`` is this
rank's peak CUDA memory allocated (on a CPU: the process's peak resident memory).
"""

from __future__ import annotations

import resource
import time
from typing import Any

import torch

from xforge.model.modeling import LOSS_TERMS

LOGGED_LOSSES = ("loss", *LOSS_TERMS.values())


def peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


class LogWindow:
    """Sums and counts of each logged loss, samples and seconds since the last :meth:`row`.

    The sums live in one fixed-size tensor, so every rank makes the same single all-reduce even when a
    loss is absent from its batches.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.sums = torch.zeros(2, len(LOGGED_LOSSES), device=device)
        self.samples = 0
        self.seconds = 0.0
        self._tick = time.perf_counter()

    def restart_clock(self) -> None:
        """Start timing from now (after work that is not training: validation, checkpoints)."""
        self._tick = time.perf_counter()

    def add(self, output: Any, batch_size: int) -> None:
        """Record one micro-batch's losses; its time is what passed since the previous one."""
        for i, name in enumerate(LOGGED_LOSSES):
            value = getattr(output, name, None)
            if value is not None:
                self.sums[0, i] += value.detach().float()
                self.sums[1, i] += 1
        self.samples += batch_size
        now = time.perf_counter()
        self.seconds += now - self._tick
        self._tick = now

    def row(self, accelerator) -> dict[str, float]:
        """The window's figures over all ranks, then an empty window. Collective: every rank calls it."""
        sums, counts = accelerator.reduce(self.sums, "sum").tolist()
        row = {k: s / c for k, s, c in zip(LOGGED_LOSSES, sums, counts) if c}
        if self.seconds > 0:
            row["samples_per_s"] = self.samples * accelerator.num_processes / self.seconds
        row["peak_mem_gb"] = peak_memory_gb(self.device)
        self.sums.zero_()
        self.samples, self.seconds = 0, 0.0
        return row
