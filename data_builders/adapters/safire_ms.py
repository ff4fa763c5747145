"""SafireMS-Expert (Kwon et al., SAFIRE, AAAI 2025): hand-made multi-source forgeries, 238 images.

Expected layout (as SAFIRE's lists name it, ``ForensicsEval/data/img_lists/Safire_ms{2,3,4}.txt``, and as
the Kaggle release "safire-safirems-expert-multi-source-dataset" ships it)::

    <root>/ms2_images/<name>     forged images made of 2 sources (ms3_, ms4_: 3 and 4 sources),
                                 e.g. 0100_DPR_200_5999132932_7542177492.jpg.png_sp.png
    <root>/ms2_masks/<name>      the mask has the image's file name; gray level 50*i marks the pixels of
                                 source i (``multi_source_gray``; decoded to indices 0..k, 0 = host)

Every image is a test image (the set is for evaluation). SafireMS-Auto, the automatically generated
pretraining set, has its own layout and key: ``safire_ms_auto``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from data_builders.adapters.base import DatasetAdapter, FileIndex
from data_builders.probe import Candidate, Skip

_IMAGES = re.compile(r"(ms\d+_)?images?", re.IGNORECASE)


class SafireMsAdapter(DatasetAdapter):
    key = "safire_ms"
    title = "SafireMS-Expert"
    mask_format = "multi_source_gray"
    manipulation = ("multi-source",)

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        for image in files.images():
            *folders, base = image.split("/")
            if not folders or not _IMAGES.fullmatch(folders[-1]):
                continue
            prefix = _IMAGES.fullmatch(folders[-1]).group(1) or ""
            # The sibling mask folder of the same subset only: ms2_ and ms3_ names could repeat.
            tried = ["/".join([*folders[:-1], f"{prefix}{m}", base]) for m in ("masks", "mask")]
            mask = next((m for m in tried if m in files), None)
            if mask is None:
                yield Skip(image, f"no ground-truth mask found (looked for {', '.join(tried)})")
                continue
            cand = self.tampered(image, mask)
            if prefix:
                cand.meta = {"subset": prefix.rstrip("_")}
            yield cand
