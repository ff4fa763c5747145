"""Turn what a caller passes (a path, a PIL image, an array) into an RGB array plus where it came from."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class ImageInput:
    """An image ready for an engine: HxWx3 uint8 RGB, its file (for JPEG cues) and a name for outputs."""

    array: np.ndarray
    source_path: str | None
    name: str


def load_input(image_or_path) -> ImageInput:
    """Read a path with :func:`xforge.data.images.read_image` or convert an in-memory image.

    Raises :class:`xforge.data.images.ImageReadError` (the message starts with the file) when a file cannot
    be read.
    """
    if isinstance(image_or_path, ImageInput):
        return image_or_path
    if isinstance(image_or_path, (str, os.PathLike)):
        from xforge.data.images import read_image

        path = Path(image_or_path)
        return ImageInput(read_image(path), str(path), path.stem or "image")
    from xforge.data.images import load_image

    # A PIL image opened from a file remembers it; the JPEG cues can then read the original bytes.
    filename = getattr(image_or_path, "filename", "") or None
    name = Path(filename).stem if filename else "image"
    return ImageInput(load_image(image_or_path), filename, name)
