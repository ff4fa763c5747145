"""MIML (Qu et al., CVPR 2024): web-collected manipulated images with pixel masks.

Expected layout (as shipped, MIML_Part1 / MIML_Part2 alike)::

    <root>/<part>/imgs/<name>.jpg      manipulated images
    <root>/<part>/masks/<name>.png     masks, white = manipulated
"""

from __future__ import annotations

import re

from data_builders.adapters.base import FolderPairAdapter


class MimlAdapter(FolderPairAdapter):
    key = "miml"
    title = "MIML"
    default_split = "train"
    tampered_dirs = re.compile(r"imgs|images", re.IGNORECASE)
    mask_dirs = re.compile(r"masks?", re.IGNORECASE)
    mask_names = ("{stem}.png",)
