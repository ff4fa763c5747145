"""Colour-filter-array (demosaicing) traces and the region where they are missing.

A camera measures one colour per pixel through a Bayer filter and interpolates the rest. In the green channel
(a quincunx lattice) the interpolated pixels are predicted from their four neighbours far better than the
measured ones. Following Ferrara, Bianchi, De Rosa & Piva ("Image forgery localization via fine-grained
analysis of CFA artifacts", IEEE TIFS 2012), the prediction error of a bilinear interpolator is computed,
and per tile the log ratio of its variance on the two green lattices: clearly positive (after choosing the
lattice image-wide) where demosaicing traces survive, about zero where they do not. A region with no
traces inside an image that has them was resampled or came from elsewhere; it is found by the robust
segmentation of ``segment.py``. Resizing and strong JPEG compression erase the traces everywhere: then the
image shows none (``present`` is False) and the cue says nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from xforge.forensics.maps import block_reduce, upsample_blocks
from xforge.forensics.segment import segment_map

TILE = 16
MIN_TRACE = 0.15  # image-wide median log variance ratio below which no demosaicing trace is present
MIN_TILES = 8
_BILINEAR = np.array([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], np.float32)


@dataclass
class CfaFinding:
    present: bool  # the image shows demosaicing traces
    trace: float  # image-wide median log variance ratio (after choosing the lattice)
    region: np.ndarray | None  # bool HxW: where the traces are missing
    strength: float  # segmentation strength of that region, 0 when none


def analyze_cfa(rgb: np.ndarray, tile: int = TILE) -> CfaFinding:
    """Demosaicing-trace map of an RGB uint8 image (see the module docstring)."""
    h, w = rgb.shape[:2]
    none = CfaFinding(False, 0.0, None, 0.0)
    if h < 4 * tile or w < 4 * tile:
        return none
    g = rgb[..., 1].astype(np.float32)
    err = (g - cv2.filter2D(g, cv2.CV_32F, _BILINEAR, borderType=cv2.BORDER_REFLECT)) ** 2
    yy, xx = np.mgrid[0:h, 0:w]
    lattice = ((yy + xx) % 2 == 0).astype(np.float32)
    ok = ((g > 3) & (g < 252)).astype(np.float32)
    va = block_reduce(err, tile, lattice * ok)
    vb = block_reduce(err, tile, (1 - lattice) * ok)
    valid = np.isfinite(va) & np.isfinite(vb) & (va + vb > 0.5)
    if valid.sum() < 2 * MIN_TILES + 4:
        return none
    ratio = np.where(valid, np.log((np.nan_to_num(va) + 0.1) / (np.nan_to_num(vb) + 0.1)), 0.0)
    med = float(np.median(ratio[valid]))
    ratio = ratio * (1.0 if med >= 0 else -1.0)
    trace = abs(med)
    if trace < MIN_TRACE:
        return CfaFinding(False, trace, None, 0.0)
    seg = segment_map(ratio, valid, min_tiles=MIN_TILES, spread_floor=0.1, signs=(-1,))
    if seg.tiles is None:
        return CfaFinding(True, trace, None, 0.0)
    region = upsample_blocks(seg.tiles.astype(np.float32), tile, (h, w)) > 0.5
    return CfaFinding(True, trace, region, seg.strength)
