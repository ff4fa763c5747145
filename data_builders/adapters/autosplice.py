"""AutoSplice (Jia et al., CVPR-W 2023): text-prompted DALL-E 2 local edits.

Expected layout (the release sent on request, github.com/shanface33/AutoSplice_Dataset; the names below are
the ones its users' loaders read, e.g. photoholmes' ``datasets/autosplice.py``)::

    <root>/Forged_JPEG100/<id>_<k>.jpg, Forged_JPEG90/, Forged_JPEG75/   edits at three JPEG qualities
    <root>/Mask/<id>_mask.png        one mask per photo, white = edited: ``id`` is the forged name's part
                                     before the first ``_``, so several edits of one photo share a mask
    <root>/Authentic/<id>.jpg        authentic
    <root>/Caption/<stem>.txt        optional captions (the edit's, else the photo's), kept in ``meta``

The caption files' naming is not documented; a text file named like the image (or its ``id``) is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from data_builders.adapters.base import DatasetAdapter, FileIndex, stem, under
from data_builders.probe import Candidate, Skip

_FORGED = re.compile(r"forged.*", re.IGNORECASE)
_QUALITY = re.compile(r"forged_jpeg(\d+)", re.IGNORECASE)
_MASKS = re.compile(r"masks?", re.IGNORECASE)
_AUTHENTIC = re.compile(r"authentic", re.IGNORECASE)
_CAPTIONS = re.compile(r"captions?", re.IGNORECASE)
CAPTION_CHARS = 2000  # a caption is a sentence; a longer file is not one


class AutoSpliceAdapter(DatasetAdapter):
    key = "autosplice"
    title = "AutoSplice"
    default_split = "train"
    manipulation = ("ai-edit", "splice")

    def _caption(self, files: FileIndex, image: str, *names: str) -> str | None:
        for n in names:
            path = files.find(f"{n}.txt", near=image, ignore_case=True, folder=_CAPTIONS)
            if path:
                try:
                    text = (files.root / path).read_text(encoding="utf-8", errors="replace").strip()
                except OSError:
                    return None
                return text[:CAPTION_CHARS] or None
        return None

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        for image in files.images():
            if under(image, _MASKS) or under(image, _CAPTIONS):
                continue
            if under(image, _FORGED):
                photo = stem(image).split("_", 1)[0]
                mask_name = f"{photo}_mask.png"
                mask = files.find(mask_name, near=image, folder=_MASKS) or files.find(
                    f"{photo}.png", near=image, folder=_MASKS
                )
                if mask is None:
                    yield Skip(image, f"no ground-truth mask found (looked for Mask/{mask_name})")
                    continue
                cand = self.tampered(image, mask)
                quality = next(
                    (_QUALITY.fullmatch(p) for p in image.split("/")[:-1] if _QUALITY.fullmatch(p)), None
                )
                meta = {"photo": photo}
                if quality:
                    meta["jpeg_quality"] = int(quality.group(1))
            elif under(image, _AUTHENTIC):
                photo = stem(image)
                cand, meta = self.authentic(image), {}
            else:
                continue
            caption = self._caption(files, image, stem(image), photo)
            if caption:
                meta["caption"] = caption
            cand.meta = meta
            yield cand
