"""Dolos (Tantaru et al., WACV 2024): diffusion-inpainted and fully generated faces.

Expected layout (the release the authors link from github.com/bit-ml/dolos, as its ``dolos/data.py``
reads it; source = celebahq | ffhq, split = train | valid | test)::

    <root>/<source>/real/<split>/<name>                  authentic
    <root>/<source>/fake/p2/<split>/<name>               fully generated (P2 diffusion): label "synthetic",
                                                         no mask
    <root>/<source>/fake/<gen>/images/<split>/<name>     inpainted (gen = repaint-p2, repaint-p2-9k, ldm,
                                                         lama, pluralistic)
    <root>/<source>/fake/<gen>/masks/<split>/<name>      its mask, same name: 255 = UNCHANGED, anything
                                                         else edited (``dolos``)

File names repeat across generators, so an image's mask is taken only from its sibling
``../masks/<split>/<name>``. A ``fake`` image outside an ``images`` folder is a fully generated one.
"""

from __future__ import annotations

from collections.abc import Iterator

from data_builders.adapters.base import DatasetAdapter, FileIndex
from data_builders.probe import Candidate, Skip

_SPLITS = {"train": "train", "valid": "valid", "test": "test"}


def _last(folders: list[str], wanted: str) -> int | None:
    hits = [i for i, f in enumerate(folders) if f.lower() == wanted]
    return hits[-1] if hits else None


class DolosAdapter(DatasetAdapter):
    key = "dolos"
    title = "Dolos"
    mask_format = "dolos"
    manipulation = ("inpainting", "ai-edit")

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        for image in files.images():
            *folders, base = image.split("/")
            if _last(folders, "masks") is not None:
                continue
            split = next((_SPLITS[f.lower()] for f in reversed(folders) if f.lower() in _SPLITS), None)
            images_at, fake_at = _last(folders, "images"), _last(folders, "fake")
            if images_at is not None:
                mask = "/".join([*folders[:images_at], "masks", *folders[images_at + 1 :], base])
                if mask not in files:
                    yield Skip(image, f"no ground-truth mask found (looked for {mask})")
                    continue
                cand = self.tampered(image, mask)
                if images_at > 0:
                    cand.meta = {"generator": folders[images_at - 1]}
            elif fake_at is not None:
                generator = folders[fake_at + 1] if fake_at + 1 < len(folders) else None
                cand = self.synthetic(image)
                if generator and generator.lower() not in _SPLITS:
                    cand.meta = {"generator": generator}
            elif _last(folders, "real") is not None:
                cand = self.authentic(image)
            else:
                continue
            cand.split = split
            yield cand
