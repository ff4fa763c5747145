"""Atomic, resumable checkpoints.

A checkpoint is written into ``<dir>/.tmp-checkpoint-<step>``, every file is fsync'ed, then the folder is
renamed to ``checkpoint-<step>`` (``os.replace`` is atomic on POSIX) and the parent folder fsync'ed. The
trainer state (``trainer_state.json``) is the last file written before the rename. Only folders named
``checkpoint-<step>`` that hold a trainer state are ever resumed from, so a crash at any point leaves either
the previous complete checkpoint or a new complete one -- never a half-written one that loads.

A folder that already exists (a step saved again after a resume, the final model) is replaced by
:func:`replace_dir`: the old folder is renamed aside (``.old-<name>``), the new one renamed in, and only then
the old one deleted. A crash between the two renames leaves the old folder complete under its aside name:
:func:`list_checkpoints` resumes from it and :func:`restore_aside` puts it back.

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
_TMP_PREFIX = ".tmp-"
_ASIDE_PREFIX = ".old-"
_NAME = re.compile(r"^(?:\.old-)?checkpoint-(\d+)$")
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


def aside_path(target: Path) -> Path:
    """Where :func:`replace_dir` keeps the previous ``target`` while the new one is renamed in."""
    return target.with_name(_ASIDE_PREFIX + target.name)


def replace_dir(new: Path, target: Path) -> None:
    """Rename the complete folder ``new`` to ``target``, replacing any folder there, so that a crash at any
    point leaves a complete folder at ``target`` or, between the two renames, at ``aside_path(target)``."""
    aside = aside_path(target)
    if target.exists():
        if aside.exists():  # left by an earlier crash after its new folder was already in place
            shutil.rmtree(aside)
        os.replace(target, aside)
        _fsync_dir(target.parent)
    os.replace(new, target)
    _fsync_dir(target.parent)
    if aside.exists():
        shutil.rmtree(aside)


def restore_aside(target: Path) -> bool:
    """Put a folder that :func:`replace_dir` renamed aside back at ``target`` if a crash left ``target``
    missing; returns whether it did."""
    aside = aside_path(target)
    if target.exists() or not aside.is_dir():
        return False
    os.replace(aside, target)
    _fsync_dir(target.parent)
    logger.warning("restored %s from %s (a replacement was interrupted)", target, aside.name)
    return True


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
        replace_dir(tmp, final)  # final exists when a step is saved again after a resume
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
    """Restore model, optimizer, scheduler and RNG states (weights-only) and return the trainer state.

    accelerate goes on silently (an info-level log line) when a random state fails to load; this warns.
    """
    state = read_state(checkpoint)
    with weights_only_loading():
        accelerator.load_state(str(checkpoint))
    problem = rng_restore_problem(Path(checkpoint), accelerator.process_index)
    if problem is not None:
        logger.warning(
            "%s: the random state of process %d was not restored (%s); training goes on, but dropout and "
            "random augmentations will not repeat those of the interrupted run",
            checkpoint,
            accelerator.process_index,
            problem,
        )
    return state


def rng_restore_problem(checkpoint: Path, process_index: int) -> str | None:
    """Why this process's torch random state is not the one saved in ``checkpoint`` (None if it is).

    Called right after ``load_state``, before anything draws a random number.
    """
    from accelerate.utils import load
    from accelerate.utils.constants import RNG_STATE_NAME

    path = checkpoint / f"{RNG_STATE_NAME}_{process_index}.pkl"
    if not path.is_file():
        return f"no {path.name}"
    try:
        with weights_only_loading():
            saved = load(path)["torch_manual_seed"]
    except Exception as exc:  # whatever made accelerate's own load fail: report it, do not stop the run
        return f"{path.name}: {type(exc).__name__}: {exc}"
    if not torch.equal(saved, torch.get_rng_state()):
        return f"{path.name} was read but accelerate did not apply it"
    return None


def list_checkpoints(checkpoints_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints, oldest first (temp folders and folders without a trainer state are ignored).

    A checkpoint whose replacement was interrupted between its two renames is listed under its aside name.
    """
    checkpoints_dir = Path(checkpoints_dir)
    if not checkpoints_dir.is_dir():
        return []
    found: dict[int, Path] = {}
    for p in checkpoints_dir.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_dir() and (p / STATE_NAME).is_file():
            step = int(m.group(1))
            if step not in found or found[step].name.startswith(_ASIDE_PREFIX):
                found[step] = p
    return [found[step] for step in sorted(found)]


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
