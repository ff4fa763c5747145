"""Error-level analysis (ELA): a weak cue only.

Resaving a JPEG at a fixed quality changes regions with a different compression history by a different
amount (Krawetz, "A Picture's Worth...", Black Hat 2007). Content (edges, texture) changes the error level
too, so xforge uses ELA only as a small, bounded contribution and never alone as proof.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from xforge.forensics.maps import local_mean


@dataclass
class ElaFinding:
    map: np.ndarray  # per-pixel error level relative to the image median (1.0 = typical)
    peak: float  # 99th percentile of that relative map


def error_level(image: np.ndarray, quality: int = 90, window: int = 16) -> ElaFinding:
    """Relative local error level of an RGB uint8 image after one resave at ``quality``."""
    ok, buf = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    resaved = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    diff = np.abs(image.astype(np.float32) - resaved.astype(np.float32)).mean(axis=2)
    level = local_mean(diff, window)
    rel = level / (float(np.median(level)) + 0.25)
    return ElaFinding(map=rel.astype(np.float32), peak=float(np.percentile(rel, 99)))
