"""The one check every multi-process job runs: does accelerate see the world the launcher started?

``accelerate launch`` / ``torchrun`` set ``RANK`` and ``WORLD_SIZE``; accelerate has its own view, and so has
``torch.distributed`` once a process group exists. They can disagree (a CPU-only DeepSpeed launch once gave
every rank "process 0 of 1"), and then main-process-only saving and logging, and data sharding, are wrong
without an error. Training (``train_stages.loop``) and evaluation (``eval.runner``) both call
:func:`check_world` before trusting ``process_index``.
"""

from __future__ import annotations

import os


class DistributedSetupError(RuntimeError):
    """accelerate's view of the process group disagrees with the launcher's or torch.distributed's."""


def launcher_world() -> tuple[int, int]:
    """``(rank, world size)`` as the launcher set them (``(0, 1)`` for a plain ``python`` run)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def check_world(process_index: int, num_processes: int) -> None:
    """Raise :class:`DistributedSetupError` unless accelerate's ``(process_index, num_processes)`` equals the
    launcher's and, when a process group exists, torch.distributed's."""
    import torch.distributed as dist

    views = {"accelerate": (process_index, num_processes), "launcher": launcher_world()}
    if dist.is_available() and dist.is_initialized():
        views["torch.distributed"] = (dist.get_rank(), dist.get_world_size())
    if len(set(views.values())) != 1:
        raise DistributedSetupError(
            f"ranks/world sizes disagree (rank, world): {views}: the processes are not one process group"
        )


def close_process_group() -> None:
    """Destroy the process group, if one was set up, before the process exits: gloo's threads otherwise
    outlive it and the process can abort at exit ("terminate called without an active exception")."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
