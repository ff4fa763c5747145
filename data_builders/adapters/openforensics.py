"""OpenForensics (Le et al., ICCV 2021): in-the-wild images with GAN-swapped faces.

Expected layout (as shipped)::

    <root>/Test-Dev/<id>.jpg (also Train, Val, Test-Challenge)   images holding forged faces
    <root>/Annotations_GT/Images/<subset>/<id>.png               masks, white = forged face
"""

from __future__ import annotations

import re

from data_builders.adapters.base import FolderPairAdapter


class OpenForensicsAdapter(FolderPairAdapter):
    key = "openforensics"
    title = "OpenForensics"
    manipulation = ("ai-edit",)
    tampered_dirs = re.compile(r"Train|Val|Test-Dev|Test-Challenge", re.IGNORECASE)
    mask_dirs = re.compile(r"Annotations_GT", re.IGNORECASE)
    mask_names = ("{stem}.png",)
