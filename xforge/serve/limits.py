"""What an uploaded file may be: its size, its type and its pixel count, checked before any decoding.

A refusal is an :class:`UploadRejected` with an HTTP status and a message that names the file as the client
called it (never the server's temporary path).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from xforge.data.images import ImageReadError, read_image, read_image_info
from xforge.inference.inputs import ImageInput

# Pillow's names for the containers the forgery datasets and cameras use; everything else is refused.
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "TIFF", "BMP", "WEBP", "GIF"})
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# 50 megapixels: a full-frame camera's largest photos; the classical engine works at 2 MP anyway.
DEFAULT_MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class UploadLimits:
    """Largest upload in bytes and in decoded pixels (width x height)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_pixels < 1:
            raise ValueError(
                f"upload limits must be positive, got {self.max_bytes} bytes, {self.max_pixels} pixels"
            )

    def describe(self) -> dict[str, int | list[str]]:
        return {
            "max_bytes": self.max_bytes,
            "max_pixels": self.max_pixels,
            "formats": sorted(ACCEPTED_FORMATS - {"MPO"}),
        }


class UploadRejected(ValueError):
    """An upload the server will not analyse: ``status`` is the HTTP code, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def client_name(filename: str | None) -> str:
    """The file's own name as the client sent it, without any folders (a name is never a server path)."""
    name = Path((filename or "").replace("\\", "/")).name
    return name or "upload"


def _status_for(problem: str) -> int:
    # ImageReadError's problems are worded in xforge.data.images; map the ones a client can cause.
    if "decompression bomb" in problem or "exceeds the limit" in problem:
        return 413
    if "not a recognised image format" in problem:
        return 415
    return 400


def check_upload(path: str | os.PathLike, name: str, limits: UploadLimits) -> ImageInput:
    """Refuse ``path`` (saved from an upload called ``name``) unless it is an accepted image within the limits.

    Order matters: size from the file system, then type and pixel count from the header, and only then the
    pixels are decoded, so a decompression bomb is refused without decoding it.
    """
    size = os.path.getsize(path)
    if size == 0:
        raise UploadRejected(400, f"{name}: empty file (0 bytes)")
    if size > limits.max_bytes:
        raise UploadRejected(
            413, f"{name}: {size:,} bytes exceeds the upload limit of {limits.max_bytes:,} bytes"
        )
    try:
        info = read_image_info(path, max_pixels=limits.max_pixels)
        if info.format not in ACCEPTED_FORMATS:
            accepted = ", ".join(sorted(ACCEPTED_FORMATS - {"MPO"}))
            raise UploadRejected(415, f"{name}: {info.format} images are not accepted (accepted: {accepted})")
        array = read_image(path, max_pixels=limits.max_pixels)
    except ImageReadError as exc:
        problem = exc.problem
        if _status_for(problem) == 415:
            accepted = ", ".join(sorted(ACCEPTED_FORMATS - {"MPO"}))
            problem = f"not an image ({size:,} bytes; accepted types: {accepted})"
        status = _status_for(exc.problem)
        if status == 413:
            problem = f"{problem}; this server accepts at most {limits.max_pixels:,} pixels"
        raise UploadRejected(status, f"{name}: {problem}") from None
    return ImageInput(array, str(path), Path(name).stem or "image")
