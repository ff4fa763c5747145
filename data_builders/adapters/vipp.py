"""VIPP realistic splicing set (Bianchi & Piva / VIPP lab; as TruFor's test lists name it).

Expected layout::

    <root>/Forgery/<name>.jpg      spliced
    <root>/masks/<name>.png        masks, white = spliced (same stem as the image)
    <root>/NonTamp/<name>.jpg      authentic

A forgery without a mask (the release has a few; seven were reported, a count not checked here) stays in the
manifest as a tampered record with no mask: usable for detection, not for localization.
"""

from __future__ import annotations

import re

from data_builders.adapters.base import FolderPairAdapter


class VippAdapter(FolderPairAdapter):
    key = "vipp"
    title = "VIPP"
    manipulation = ("splice",)
    tampered_dirs = re.compile(r"forgery", re.IGNORECASE)
    mask_dirs = re.compile(r"masks?", re.IGNORECASE)
    authentic_dirs = re.compile(r"nontamp", re.IGNORECASE)
    mask_names = ("{stem}.png",)
    keep_unmasked = True
