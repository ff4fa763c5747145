"""Where a checkpoint lives and what may be loaded from it.

An xforge checkpoint is a folder (or a Hub repository of the same layout)::

    xforge_config.json             XForgeConfig (names the base model)
    adapter/                       peft adapter (LoRA + the trainable <SEG> embedding rows), safetensors
    xforge_heads.safetensors       SEG projector, score head, forensic stream, SAM2 weights
    xforge_processor.json, tokenizer / processor files, chat template
    backbone/                      only when the base model is local to the checkpoint (tiny test models)

Only safetensors are ever read: a folder whose weights are pickles (``*.bin``, ``*.pt``, ``*.pth``,
``*.pkl``, ``*.ckpt``) is refused, and Hub downloads fetch only JSON, text and safetensors files.
"""

from __future__ import annotations

import os
from pathlib import Path

HEADS_NAME = "xforge_heads.safetensors"
ADAPTER_DIR = "adapter"
BACKBONE_DIR = "backbone"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
_SAFE_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken"]


class UnsafeCheckpointError(ValueError):
    """The checkpoint's weights are in pickle format, which xforge never loads."""


class CorruptCheckpointError(ValueError):
    """A safetensors file of the checkpoint cannot be read (truncated download, disk error...)."""


def resolve_checkpoint(path_or_id: str | os.PathLike) -> Path:
    """A local folder for ``path_or_id``: the folder itself, or a Hub snapshot of its safe files."""
    path = Path(path_or_id)
    if path.is_dir():
        return path
    if path.exists():
        raise NotADirectoryError(f"{path}: an xforge checkpoint is a folder, not a file")
    text = str(path_or_id)
    if text.count("/") != 1 or text.startswith((".", "/")):
        raise FileNotFoundError(f"{path}: no such checkpoint folder (and not a Hub id like 'org/name')")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(text, allow_patterns=_SAFE_PATTERNS))
    except Exception as exc:  # offline, unknown repo, gated repo...: say both things that were tried
        raise FileNotFoundError(
            f"{text}: no such local checkpoint folder, and fetching it from the Hub failed ({exc})"
        ) from exc


def refuse_pickle(directory: Path) -> None:
    """Raise if weights in ``directory`` (or its adapter/backbone folders) are stored as pickles, or if one
    of its safetensors files is corrupt (:func:`check_safetensors`): both before anything is loaded."""
    for sub in (directory, directory / ADAPTER_DIR, directory / BACKBONE_DIR):
        if not sub.is_dir():
            continue
        for path in sorted(sub.glob("*.safetensors")):
            check_safetensors(path)
        pickles = sorted(p.name for p in sub.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickles:
            raise UnsafeCheckpointError(
                f"{sub}: refusing to load pickle weights ({', '.join(pickles)}); xforge loads safetensors only "
                "(convert with safetensors.torch.save_file)"
            )


def check_safetensors(path: Path) -> None:
    """Raise :class:`CorruptCheckpointError` naming ``path`` when its header does not parse or does not
    cover the file (truncated); safetensors' own error names no file. Reads the header only (mmap)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt"):
            pass
    except Exception as exc:  # noqa: BLE001 -- SafetensorError, OSError: either way the file is unusable
        raise CorruptCheckpointError(f"{path}: corrupt or truncated safetensors file ({exc})") from None
