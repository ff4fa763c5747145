"""Korus realistic tampering dataset (Korus & Huang, TIFS 2016/2017).

Expected layout (as shipped, one folder per camera)::

    <root>/<camera>/tampered-realistic/<name>.TIF   tampered (220 in all)
    <root>/<camera>/ground-truth/<name>.PNG         masks, white = tampered
    <root>/<camera>/pristine/<name>.TIF             authentic
"""

from __future__ import annotations

import re

from data_builders.adapters.base import FolderPairAdapter


class KorusAdapter(FolderPairAdapter):
    key = "korus"
    title = "Korus realistic tampering"
    tampered_dirs = re.compile(r"tampered-realistic", re.IGNORECASE)
    mask_dirs = re.compile(r"ground-truth", re.IGNORECASE)
    authentic_dirs = re.compile(r"pristine", re.IGNORECASE)
    mask_names = ("{stem}.PNG", "{stem}.png")
