"""TGIF, Text-Guided Inpainting Forgeries (Mareen et al., 2024): SD/SDXL/Firefly inpainting.

Expected layout (one folder per generator; verify against your copy)::

    <root>/<generator>/fake*/<name>.png      inpainted images (also "inpainted")
    <root>/<generator>/masks/<name>.png      masks, white = inpainted (also "<name>_mask.png")
    <root>/<generator>/real*/<name>.png      authentic sources (also "original")
"""

from __future__ import annotations

import re

from data_builders.adapters.base import FolderPairAdapter


class TgifAdapter(FolderPairAdapter):
    key = "tgif"
    title = "TGIF"
    manipulation = ("inpainting", "ai-edit")
    tampered_dirs = re.compile(r"(fake|inpainted).*", re.IGNORECASE)
    mask_dirs = re.compile(r"masks?", re.IGNORECASE)
    authentic_dirs = re.compile(r"(real|original).*", re.IGNORECASE)
    mask_names = ("{stem}.png", "{stem}_mask.png")
