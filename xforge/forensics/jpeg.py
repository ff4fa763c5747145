"""JPEG traces: the file's quantisation tables, blocking-grid misalignment, and JPEG ghosts.

- **Quality** is read from the file's luminance quantisation table (Pillow) and converted to the IJG
  quality scale (the libjpeg formula: scale = 5000/Q for Q < 50, else 200 - 2Q).
- **Blocking-grid misalignment**: JPEG leaves a faint 8x8 block grid. Per window, the grid phase is the column
  and row boundary (mod 8) with the strongest second-derivative energy, as in the block-artifact-grid method
  of Li, Yuan & Yu ("Passive detection of doctored JPEG image via block artifact grid extraction", Signal
  Processing 2009). A region pasted from another JPEG keeps its own grid, usually out of phase with the rest.
  The phase of a window is only trusted where it can be measured: enough block-artifact energy, a clear
  peak over the other phases, few clipped pixels; and out-of-phase windows only count as a coherent region
  sharing one grid (flat backgrounds give scattered, random phases).
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
# Block-grid measurement: 32-pixel cells, read in overlapping 2x2-cell windows.
GRID_CELL = 32
MIN_GRID_STRENGTH = 0.15  # image-wide peak contrast below which no grid is visible
MIN_FOREIGN_CONTRAST = 0.15  # a second grid must rise this share above the window's texture floor
MIN_BLOCK_ENERGY = 0.3  # ... and this many grey levels (per boundary step); weaker grids are unmeasurable
MIN_PEAK_SHARPNESS = 0.3  # share of that rise the peak must keep over its neighbours and its half-period
MAX_SATURATED_SHARE = 0.3  # windows with more clipped black/white pixels than this are not measured
MIN_REGION_WINDOWS = 2  # touching out-of-phase windows needed before a misaligned region counts
# A ghost must stand out: the rest's normalised difference at least this much above the region's (0..1).
GHOST_MIN_CONTRAST = 0.3


@dataclass
class JpegFinding:
    is_jpeg: bool
    quality: float | None  # estimated IJG quality of the file's last save
    grid: tuple[int, int] | None  # image-wide (x, y) grid phase when a grid is visible
    grid_strength: float
    misaligned: np.ndarray | None  # bool HxW: tiles whose own grid is out of phase with the image's
    misaligned_frac: float  # share of the image in the coherent out-of-phase region
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


def _phase_energy(d: np.ndarray, axis: int, cell: int) -> np.ndarray:
    """Per ``cell`` x ``cell`` tile, the mean of ``d`` on each of the 8 phases of ``axis``: (ty, tx, 8)."""
    out = []
    for k in range(8):
        sel = np.zeros_like(d)
        if axis == 1:
            sel[:, k::8] = 1
        else:
            sel[k::8, :] = 1
        out.append(block_reduce(d * sel, cell) * 8)
    return np.stack(out, axis=-1)


def _boundary_energy(e: np.ndarray) -> np.ndarray:
    """Energy of the block boundary after each phase k (between pixels k and k+1 mod 8).

    A step at a block boundary shows in the second difference of *both* pixels beside it, so phases k and
    k+1 light up together; summing them gives one unambiguous peak per grid (scoring the two phases apart
    made a grid's two halves look like two different grids).
    """
    return e + np.roll(e, -1, axis=-1)


def _peak(b: np.ndarray) -> tuple[int, float]:
    """Image-wide peak phase and its contrast over the median phase (0 = no grid)."""
    ph = int(b.argmax())
    return ph, float(b[ph] / (np.median(b) + 1e-3) - 1.0)


def _foreign_grid(b: np.ndarray, own: int) -> tuple[np.ndarray, np.ndarray]:
    """Per window, the strongest boundary phase other than the image's ``own`` and whether it is clear.

    The image's own boundary and its two neighbours (which share a pixel with it) are left out: a pasted
    region carries its old grid *and* the grid of the image's last save, so the question is whether a second
    grid stands out from the texture floor (the median of the remaining phases), both relatively
    (``MIN_FOREIGN_CONTRAST``) and in grey levels (``MIN_BLOCK_ENERGY``); flat or textured windows without
    one give a random, unclear phase.
    """
    phases = np.array([(own + k) % 8 for k in range(2, 7)])
    rest = b[..., phases]
    pick = rest.argmax(-1)
    top, floor = rest.max(-1), np.median(rest, axis=-1)
    ph = phases[pick]

    def at(offset: int) -> np.ndarray:
        return np.take_along_axis(b, ((ph + offset) % 8)[..., None], -1)[..., 0]

    excess = top - floor
    # A grid's boundary is a sharp peak (both pixels beside it step); a ramp over phases is content.
    sharp = top - np.maximum(at(-1), at(1)) >= MIN_PEAK_SHARPNESS * excess
    # Content with a 4-pixel period (stripes, weaves) peaks at k and k+4 alike; a block grid does not. When
    # k+4 falls on the image's own grid that phase is high anyway and says nothing.
    half = ((ph + 4 - own) % 8 >= 2) & ((ph + 4 - own) % 8 <= 6)
    periodic = half & (at(4) >= top - MIN_PEAK_SHARPNESS * excess)
    clear = (excess >= MIN_FOREIGN_CONTRAST * floor) & (excess / 4 >= MIN_BLOCK_ENERGY) & sharp & ~periodic
    return ph, clear


@dataclass
class GridMap:
    """The image's block grid and, per 64-pixel window (stride 32), a second, out-of-phase grid if clear."""

    phase: tuple[int, int]  # image-wide boundary phase (x, y): the boundary follows this column / row mod 8
    strength: float  # image-wide peak contrast (0 = no grid)
    tile_phase_x: np.ndarray  # int (ty, tx): the window's grid phase (the image's where no other is clear)
    tile_phase_y: np.ndarray
    off: np.ndarray  # bool (ty, tx): a usable window with a clear out-of-phase grid on both axes


def block_grid(gray: np.ndarray, cell: int = GRID_CELL) -> GridMap:
    """The block-artifact grid, image-wide and per window of 2x2 cells (stride ``cell``)."""
    g = gray.astype(np.float32)
    # Second differences, clipped so texture and edges do not outvote the faint block boundaries.
    dx = np.zeros_like(g)
    dy = np.zeros_like(g)
    dx[:, 1:-1] = np.abs(2 * g[:, 1:-1] - g[:, :-2] - g[:, 2:])
    dy[1:-1, :] = np.abs(2 * g[1:-1, :] - g[:-2, :] - g[2:, :])
    dx, dy = np.minimum(dx, 10), np.minimum(dy, 10)
    bx = _boundary_energy(_phase_energy(dx, 1, cell))
    by = _boundary_energy(_phase_energy(dy, 0, cell))
    gx, sx = _peak(bx.mean(axis=(0, 1)))
    gy, sy = _peak(by.mean(axis=(0, 1)))

    def windows(a: np.ndarray) -> np.ndarray:
        # Overlapping 2x2-cell windows, so a pasted region of a window's size is covered by one of them.
        return a[:-1, :-1] + a[1:, :-1] + a[:-1, 1:] + a[1:, 1:]

    fx, clear_x = _foreign_grid(windows(bx), gx)
    fy, clear_y = _foreign_grid(windows(by), gy)
    # Saturated (clipped to black or white) pixels carry no block artifacts: their phase is noise. Both axes
    # must show the second grid: one-axis "grids" are mostly stripes and edges in the content.
    sat = ((g <= 2) | (g >= 253)).astype(np.float32)
    usable = windows(block_reduce(sat, cell)) / 4 < MAX_SATURATED_SHARE
    return GridMap(
        (gx, gy),
        min(sx, sy),
        np.where(clear_x, fx, gx),
        np.where(clear_y, fy, gy),
        usable & clear_x & clear_y,
    )


def misaligned_region(grid: GridMap) -> np.ndarray:
    """Windows (bool, window grid) of the largest connected group sharing one out-of-phase grid.

    Scattered disagreeing windows are measurement noise; content pasted from another JPEG is one coherent
    region with one grid of its own, so only a group of at least ``MIN_REGION_WINDOWS`` touching windows
    with the same phase counts.
    """
    off = grid.off
    best = np.zeros_like(off)
    for phase in set(zip(grid.tile_phase_x[off].tolist(), grid.tile_phase_y[off].tolist())):
        same = off & (grid.tile_phase_x == phase[0]) & (grid.tile_phase_y == phase[1])
        n, labels, stats, _ = cv2.connectedComponentsWithStats(same.astype(np.uint8), connectivity=8)
        for lab in range(1, n):
            if stats[lab, cv2.CC_STAT_AREA] > best.sum():
                best = labels == lab
    if best.sum() < MIN_REGION_WINDOWS:
        return np.zeros_like(off)
    return best


def _windows_to_pixels(windows: np.ndarray, cell: int, shape: tuple[int, int]) -> np.ndarray:
    """Pixel mask (bool HxW) covered by the given 2x2-cell windows."""
    cells = np.zeros((windows.shape[0] + 1, windows.shape[1] + 1), bool)
    for dy in (0, 1):
        for dx in (0, 1):
            cells[dy : dy + windows.shape[0], dx : dx + windows.shape[1]] |= windows
    return upsample_blocks(cells.astype(np.float32), cell, shape) > 0.5


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


def analyze_jpeg(gray: np.ndarray, source_path: str | Path | None) -> JpegFinding:
    """All JPEG cues of a float32 grayscale image (quality only when ``source_path`` is a JPEG file)."""
    h, w = gray.shape
    is_jpeg, quality = quality_from_file(source_path) if source_path is not None else (False, None)
    finding = JpegFinding(is_jpeg, quality, None, 0.0, None, 0.0, None, None, 0.0)
    if h < 4 * GRID_CELL or w < 4 * GRID_CELL:
        return finding
    grid = block_grid(gray)
    finding.grid_strength = grid.strength
    phases = []
    if grid.strength > MIN_GRID_STRENGTH:
        finding.grid = grid.phase
        # The boundary follows the peak phase, so the grid origin is (peak + 1) mod 8.
        phases.append(((grid.phase[0] + 1) % 8, (grid.phase[1] + 1) % 8))
        region = misaligned_region(grid)
        if region.any():
            finding.misaligned = _windows_to_pixels(region, GRID_CELL, (h, w))
            finding.misaligned_frac = float(finding.misaligned.mean())
            ox, oy = int(grid.tile_phase_x[region][0]), int(grid.tile_phase_y[region][0])
            phases.append(((ox + 1) % 8, (oy + 1) % 8))
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
