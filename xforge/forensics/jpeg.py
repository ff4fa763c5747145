"""JPEG traces: the file's quantisation tables, blocking-grid misalignment, and JPEG ghosts.

- **Quality** is read from the file's luminance quantisation table (Pillow) and converted to the IJG
  quality scale (the libjpeg formula: scale = 5000/Q for Q < 50, else 200 - 2Q).
- **Blocking-grid misalignment**: JPEG leaves a faint 8x8 block grid. Per tile, the grid phase is the column
  and row phase (mod 8) with the strongest second-derivative energy, as in the block-artifact-grid method of
  Li, Yuan & Yu ("Passive detection of doctored JPEG image via block artifact grid extraction", Signal
  Processing 2009). A region pasted from another JPEG keeps its own grid, usually out of phase with the rest.
- **JPEG ghost** (Farid, "Exposing digital forgeries from JPEG ghosts", IEEE TIFS 2009): resaving at the
  quality a region was once saved at changes that region least. Differences are normalised per pixel over
  the tried qualities; a region whose minimum sits at a clearly lower quality than the rest is a ghost. The
  resave is done on the grid phases found above, since a ghost only shows when the grids line up.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from xforge.forensics.maps import block_reduce, local_mean, upsample_blocks

logger = logging.getLogger(__name__)

# libjpeg's standard luminance table (ITU-T T.81 Annex K), natural order.
_STD_LUMA = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64,
)  # fmt: skip
GHOST_QUALITIES = (50, 60, 70, 80, 90)
# A ghost must stand out: the rest's normalised difference at least this much above the region's (0..1).
GHOST_MIN_CONTRAST = 0.3


@dataclass
class JpegFinding:
    is_jpeg: bool
    quality: float | None  # estimated IJG quality of the file's last save
    grid: tuple[int, int] | None  # image-wide (x, y) grid phase when a grid is visible
    grid_strength: float
    misaligned: np.ndarray | None  # bool HxW: tiles whose own grid is out of phase with the image's
    misaligned_frac: float
    ghost_region: np.ndarray | None  # bool HxW
    ghost_quality: int | None
    ghost_strength: float  # contrast between the region's and the rest's normalised difference, 0..1
    extras: dict = field(default_factory=dict)


def quality_from_file(path: str | Path) -> tuple[bool, float | None]:
    """(is the file a JPEG, its estimated IJG quality) from the luminance quantisation table."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.format != "JPEG":
                return False, None
            tables = getattr(im, "quantization", None) or {}
    except OSError as exc:  # unreadable here means no JPEG evidence, not a failed analysis
        logger.warning("%s: cannot read JPEG tables (%s)", path, exc)
        return False, None
    if 0 not in tables:
        return True, None
    scale = 100.0 * float(np.sum(tables[0])) / float(_STD_LUMA.sum())
    quality = (200.0 - scale) / 2.0 if scale <= 100 else 5000.0 / scale
    return True, float(np.clip(quality, 1, 100))


def _phase_energy(d: np.ndarray, axis: int, block: int) -> np.ndarray:
    """Per tile, the mean of ``d`` along each of the 8 phases of ``axis``: shape (tiles_y, tiles_x, 8)."""
    h, w = d.shape
    out = []
    for k in range(8):
        sel = np.zeros_like(d)
        if axis == 1:
            sel[:, k::8] = 1
        else:
            sel[k::8, :] = 1
        out.append(block_reduce(d * sel, block) * 8)
    return np.stack(out, axis=-1)


def block_grid(gray: np.ndarray, block: int = 64):
    """Image-wide grid phase, its strength, and per-tile (phase_x, phase_y, strength) arrays."""
    g = gray.astype(np.float32)
    # Second differences, clipped so texture and edges do not outvote the faint block boundaries.
    dx = np.zeros_like(g)
    dy = np.zeros_like(g)
    dx[:, 1:-1] = np.abs(2 * g[:, 1:-1] - g[:, :-2] - g[:, 2:])
    dy[1:-1, :] = np.abs(2 * g[1:-1, :] - g[:-2, :] - g[2:, :])
    dx, dy = np.minimum(dx, 10), np.minimum(dy, 10)
    ex, ey = _phase_energy(dx, 1, block), _phase_energy(dy, 0, block)

    def peak(e):
        # The boundary between blocks is between phase 7 and 0; energy peaks at one phase per axis.
        ph = e.argmax(-1)
        strength = e.max(-1) / (np.median(e, axis=-1) + 1e-3) - 1.0
        return ph, strength

    gx, sx = peak(ex.mean(axis=(0, 1)))
    gy, sy = peak(ey.mean(axis=(0, 1)))
    px, tx = peak(ex)
    py, ty = peak(ey)
    return (int(gx), int(gy)), float(min(sx, sy)), px, py, np.minimum(tx, ty)


def _ghost(gray: np.ndarray, phase: tuple[int, int], window: int = 16):
    """Per quality, the local mean squared resave difference of the image cropped to ``phase``."""
    x0, y0 = phase
    crop = np.clip(gray[y0:, x0:], 0, 255).astype(np.uint8)
    diffs = []
    for q in GHOST_QUALITIES:
        ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, q])
        re = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32)
        diffs.append(local_mean((crop.astype(np.float32) - re) ** 2, window))
    # The few rows/columns cut off to align the grid borrow their neighbours' values.
    return np.pad(np.stack(diffs), ((0, 0), (y0, 0), (x0, 0)), mode="edge")


def analyze_jpeg(gray: np.ndarray, source_path: str | Path | None, block: int = 64) -> JpegFinding:
    """All JPEG cues of a float32 grayscale image (quality only when ``source_path`` is a JPEG file)."""
    h, w = gray.shape
    is_jpeg, quality = quality_from_file(source_path) if source_path is not None else (False, None)
    finding = JpegFinding(is_jpeg, quality, None, 0.0, None, 0.0, None, None, 0.0)
    if h < 2 * block or w < 2 * block:
        return finding
    grid, strength, px, py, tile_strength = block_grid(gray, block)
    finding.grid_strength = strength
    phases = []
    if strength > 0.15:
        finding.grid = grid
        # The block boundary is after the peak column, so the grid origin is (peak + 1) mod 8.
        phases.append(((grid[0] + 1) % 8, (grid[1] + 1) % 8))
        off = ((px != grid[0]) | (py != grid[1])) & (tile_strength > max(0.5, 2 * strength))
        if off.sum() >= 1:
            finding.misaligned = upsample_blocks(off.astype(np.float32), block, (h, w)) > 0.5
            finding.misaligned_frac = float(off.mean())
            ox, oy = np.bincount(px[off], minlength=8).argmax(), np.bincount(py[off], minlength=8).argmax()
            phases.append(((int(ox) + 1) % 8, (int(oy) + 1) % 8))
    else:
        phases.append((0, 0))
    best = (0.0, None, None)
    for phase in phases:
        d = _ghost(gray, phase)
        lo, hi = d.min(axis=0), d.max(axis=0)
        spread = hi - lo
        # Flat areas change little at any quality: their normalised curve is noise, so they are left out.
        usable = spread > max(1.0, float(np.percentile(spread, 20)))
        if usable.mean() < 0.2:
            continue
        norm = (d - lo) / np.where(spread > 0, spread, 1)
        for qi, q in enumerate(GHOST_QUALITIES):
            if quality is not None and q >= quality - 5:
                continue
            cand = ((norm[qi] < 0.15) & usable).astype(np.uint8)
            cand = cv2.morphologyEx(cand, cv2.MORPH_OPEN, np.ones((9, 9), np.uint8))
            n, labels, stats, _ = cv2.connectedComponentsWithStats(cand, connectivity=8)
            if n <= 1:
                continue
            lab = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            region = labels == lab
            if region.mean() < 0.005 or region.mean() > 0.6:
                continue
            rest = usable & ~region
            contrast = float(norm[qi][rest].mean() - norm[qi][region].mean())
            if contrast < GHOST_MIN_CONTRAST:
                continue
            score = contrast * math.sqrt(region.mean())
            if score > best[0]:
                best = (score, region, q)
    if best[1] is not None:
        finding.ghost_strength, finding.ghost_region, finding.ghost_quality = best
    return finding
