"""The luminance DCT coefficients of an image on its 8x8 JPEG grid: read from the file, or estimated.

For a JPEG file the quantised coefficients and the quantisation table are read as stored, without decoding
(``jpeglib``, a libjpeg binding). For any other image (PNG, an array, a file the reader cannot open) they
are estimated from the pixels: the orthonormal 8x8 DCT-II of the luma, minus 128, on the given grid phase, as
JPEG computes it, kept as real values with a quantisation step of 1. Pixel rounding and colour conversion
blur that estimate by about one unit, which the double-JPEG model allows for (``noise`` below).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def _dct_matrix() -> np.ndarray:
    k = np.arange(8)
    m = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / 16) * np.sqrt(2 / 8)
    m[0] /= np.sqrt(2)
    return m


_D = _dct_matrix()


@dataclass
class BlockDct:
    """Coefficients per 8x8 block: ``coef[by, bx, u, v]`` in units of ``qtable[u, v]``."""

    coef: np.ndarray  # (by, bx, 8, 8): integers read from the file, or real-valued estimates
    qtable: np.ndarray  # (8, 8) quantisation steps of the last save (ones when estimated)
    origin: tuple[int, int]  # (x, y) pixel of the grid's first block
    from_file: bool
    noise: float  # spread of a coefficient around its ideal value, in its own units


def read_luma_dct(path: str | Path) -> BlockDct | None:
    """The stored luminance coefficients of a JPEG file, or None when it is no JPEG or cannot be read."""
    try:
        with open(path, "rb") as fh:
            if fh.read(2) != b"\xff\xd8":
                return None
        import jpeglib

        d = jpeglib.read_dct(str(path))
        coef = np.asarray(d.Y, dtype=np.float32)
        qt = np.asarray(d.qt[int(d.quant_tbl_no[0])], dtype=np.float32)
    except ImportError:
        logger.warning("jpeglib is not installed: JPEG coefficients are estimated from the pixels")
        return None
    except Exception as exc:  # a file libjpeg cannot parse: the pixel estimate still works
        logger.warning("%s: cannot read DCT coefficients (%s); estimating them from the pixels", path, exc)
        return None
    return BlockDct(coef, qt, (0, 0), True, 0.0)


def pixel_dct(gray: np.ndarray, origin: tuple[int, int] = (0, 0)) -> BlockDct:
    """Blockwise orthonormal DCT of a float32 grey image on the grid starting at ``origin`` (x, y)."""
    x0, y0 = origin
    g = gray[y0:, x0:]
    bh, bw = g.shape[0] // 8, g.shape[1] // 8
    blocks = (g[: bh * 8, : bw * 8] - 128.0).reshape(bh, 8, bw, 8).transpose(0, 2, 1, 3)
    coef = np.einsum("ui,abij,vj->abuv", _D, blocks, _D, optimize=True).astype(np.float32)
    return BlockDct(coef, np.ones((8, 8), np.float32), origin, False, 0.7)
