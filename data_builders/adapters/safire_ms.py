"""SafireMS (Kwon et al., SAFIRE, AAAI 2025): multi-source partitioned forgeries.

Expected layout (SafireMS-Auto and SafireMS-Expert alike)::

    <root>/images/<name>.{png,jpg}     forged images, each built from several sources
    <root>/masks/<name>.png            gray level 50*i marks the pixels of source i
                                       (``multi_source_gray``; decoded to indices 0..k, 0 = host)
"""

from __future__ import annotations

import re

from data_builders.adapters.base import FolderPairAdapter


class SafireMsAdapter(FolderPairAdapter):
    key = "safire_ms"
    title = "SafireMS"
    mask_format = "multi_source_gray"
    manipulation = ("multi-source",)
    tampered_dirs = re.compile(r"images?", re.IGNORECASE)
    mask_dirs = re.compile(r"masks?", re.IGNORECASE)
    mask_names = ("{stem}.png",)
