"""Atomic file writes: a reader (or a rerun after a crash) sees the old file or the new one, never half.

Every output goes to a hidden temp file in the target's folder (same file system, so the rename is atomic),
is flushed to disk, then renamed over the target. On any failure -- an exception, a full disk, Ctrl-C --
the temp file is removed; only SIGKILL or a power cut can leave one, and its name (``.NAME.PID.tmp``)
says what it was.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

TEMP_SUFFIX = ".tmp"


def temp_path(path: str | os.PathLike) -> Path:
    """The temp file that stands in for ``path`` while it is written."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")


def check_writable_file(path: str | os.PathLike) -> Path:
    """Refuse, before any work, an output file that cannot be written: a folder, or a parent that is a file.

    Creates the missing parent folders; raises :class:`OSError` with a message naming the path.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, expected a file to write")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"{path}: cannot create it, a parent of it is a file") from None
    except OSError as exc:
        raise OSError(f"{path}: cannot create its folder ({exc.strerror or exc})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{path}: its folder {parent} is not writable")
    return path


def check_writable_dir(path: str | os.PathLike) -> Path:
    """Create the output folder ``path`` (and parents) or raise :class:`OSError` saying why not."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path}: is a file, expected a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"{path}: cannot create the folder, a parent of it is a file") from None
    except OSError as exc:
        raise OSError(f"{path}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"{path}: folder is not writable")
    return path


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8", errors: str | None = None
) -> Iterator[IO]:
    """Open a temp file for writing; on a clean exit it is synced and renamed to ``path``, else removed."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', got {mode!r}")
    path = Path(path)
    tmp = temp_path(path)
    try:
        text = "b" not in mode
        with open(tmp, mode, encoding=encoding if text else None, errors=errors if text else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write(path: str | os.PathLike, data: bytes | str, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically; text is encoded first, so an encoding error touches nothing."""
    payload = data.encode(encoding) if isinstance(data, str) else data
    path = Path(path)
    with atomic_open(path, "wb") as f:
        f.write(payload)
    return path


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the temp files (``.NAME.PID.tmp``) that killed processes left in ``folder``; returns them.

    A temp file of a process still running is left alone, so two runs never delete each other's work.
    """
    removed = []
    for tmp in Path(folder).glob(f".*{TEMP_SUFFIX}"):
        pid = tmp.name[: -len(TEMP_SUFFIX)].rpartition(".")[2]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True
