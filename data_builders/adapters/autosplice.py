"""AutoSplice (Jia et al., CVPR-W 2023): text-prompted DALL-E 2 local edits.

Expected layout (as shipped; verify against your copy, the release notes are thin)::

    <root>/Forged_JPEG100/<id>.jpg, Forged_JPEG90/, Forged_JPEG75/   edited images at three JPEG qualities
    <root>/Mask/<id>_mask.png (or <id>.png)                          masks, white = edited
    <root>/Authentic/<id>.jpg                                        authentic
"""

from __future__ import annotations

import re

from data_builders.adapters.base import FolderPairAdapter


class AutoSpliceAdapter(FolderPairAdapter):
    key = "autosplice"
    title = "AutoSplice"
    default_split = "train"
    manipulation = ("ai-edit", "splice")
    tampered_dirs = re.compile(r"forged.*", re.IGNORECASE)
    mask_dirs = re.compile(r"masks?", re.IGNORECASE)
    authentic_dirs = re.compile(r"authentic", re.IGNORECASE)
    mask_names = ("{stem}_mask.png", "{stem}.png")
