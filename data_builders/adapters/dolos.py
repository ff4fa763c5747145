"""Dolos (Tantaru et al., 2024): diffusion-inpainted faces for weakly supervised localization.

Expected layout (per generator and split; verify against your copy)::

    <root>/<generator>/<split>/fake/<name>.png    inpainted images (also "images")
    <root>/<generator>/<split>/masks/<name>.png   masks: 255 = UNCHANGED, anything else edited (``dolos``)
    <root>/<generator>/<split>/real/<name>.png    authentic
"""

from __future__ import annotations

import re

from data_builders.adapters.base import FolderPairAdapter


class DolosAdapter(FolderPairAdapter):
    key = "dolos"
    title = "Dolos"
    mask_format = "dolos"
    manipulation = ("inpainting", "ai-edit")
    tampered_dirs = re.compile(r"(fake|images)", re.IGNORECASE)
    mask_dirs = re.compile(r"masks?", re.IGNORECASE)
    authentic_dirs = re.compile(r"real", re.IGNORECASE)
    mask_names = ("{stem}.png",)
