"""Atomic, resumable checkpoints.

A checkpoint is written into ``<dir>/.tmp-checkpoint-<step>``, every file is fsync'ed, then the folder is
renamed to ``checkpoint-<step>`` (``os.replace`` is atomic on POSIX) and the parent folder fsync'ed. The
trainer state (``trainer_state.json``) is the last file written before the rename. Only folders named
``checkpoint-<step>`` that hold a trainer state are ever resumed from, so a crash at any point leaves either
the previous complete checkpoint or a new complete one -- never a half-written one that loads.

Every process calls :func:`save_checkpoint` (``accelerator.save_state`` is collective under DeepSpeed: each
rank writes its own optimizer shard); only the main process writes the trainer state and renames. The
folder must be on a filesystem every process sees (as ``accelerate``'s own checkpointing assumes).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

STATE_NAME = "trainer_state.json"
_NAME = re.compile(r"^checkpoint-(\d+)$")
_TMP_PREFIX = ".tmp-"
_FORCE_WEIGHTS_ONLY = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"  # read by torch.load on every call


def checkpoint_name(step: int) -> str:
    return f"checkpoint-{step:08d}"


def fsync_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as f:
                os.fsync(f.fileno())
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(
    accelerator, checkpoints_dir: str | os.PathLike, step: int, state: dict[str, Any]
) -> Path:
    """Save the accelerator state plus ``state`` (JSON) as ``checkpoint-<step>``, atomically."""
    checkpoints_dir = Path(checkpoints_dir)
    final = checkpoints_dir / checkpoint_name(step)
    tmp = checkpoints_dir / (_TMP_PREFIX + final.name)
    if accelerator.is_main_process:
        if tmp.exists():  # left by a crash during an earlier attempt at this step
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        with open(tmp / STATE_NAME, "w", encoding="utf-8") as f:
            json.dump(state, f, indent=2)
        fsync_tree(tmp)
        if final.exists():  # a re-run of the same step after a resume: replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(checkpoints_dir)
        logger.info("saved checkpoint %s", final)
    accelerator.wait_for_everyone()
    return final


# Plain classes DeepSpeed pickles into its optimizer shards. Resuming allows exactly these (and tensors,
# containers, numbers) through torch's weights-only unpickler, so no checkpoint file can run code.
_DEEPSPEED_GLOBALS = (
    ("deepspeed.runtime.fp16.loss_scaler", "LossScaler"),
    ("deepspeed.runtime.zero.config", "ZeroStageEnum"),
    ("deepspeed.utils.tensor_fragment", "fragment_address"),
)


@contextlib.contextmanager
def weights_only_loading():
    """Force ``torch.load(weights_only=True)`` everywhere inside, even where a library passes False
    (DeepSpeed's checkpoint engine does), allowing only DeepSpeed's plain state classes."""
    allowed = []
    for module, name in _DEEPSPEED_GLOBALS:
        try:
            allowed.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):  # DeepSpeed not installed: nothing of it to allow
            continue
    old = os.environ.get(_FORCE_WEIGHTS_ONLY)
    os.environ[_FORCE_WEIGHTS_ONLY] = "1"
    try:
        with torch.serialization.safe_globals(allowed):
            yield
    finally:
        if old is None:
            del os.environ[_FORCE_WEIGHTS_ONLY]
        else:
            os.environ[_FORCE_WEIGHTS_ONLY] = old


def load_checkpoint(accelerator, checkpoint: str | os.PathLike) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and RNG states (weights-only) and return the trainer state."""
    state = read_state(checkpoint)
    with weights_only_loading():
        accelerator.load_state(str(checkpoint))
    return state


def list_checkpoints(checkpoints_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints, oldest first (temp folders and folders without a trainer state are ignored)."""
    checkpoints_dir = Path(checkpoints_dir)
    if not checkpoints_dir.is_dir():
        return []
    found = []
    for p in checkpoints_dir.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_dir() and (p / STATE_NAME).is_file():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def last_checkpoint(checkpoints_dir: str | os.PathLike) -> Path | None:
    found = list_checkpoints(checkpoints_dir)
    return found[-1] if found else None


def read_state(checkpoint: str | os.PathLike) -> dict[str, Any]:
    path = Path(checkpoint) / STATE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{checkpoint}: not a complete checkpoint (no {STATE_NAME})")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def prune_checkpoints(checkpoints_dir: str | os.PathLike, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` complete checkpoints (main process only)."""
    for old in list_checkpoints(checkpoints_dir)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
