"""Register an original photo onto its edited version: SIFT matches, RANSAC homography, then ECC refinement.

A web pair (an edit and the photo it was made from) differs by a crop, a resize, sometimes a small rotation
or a mirror flip, and a re-compression. A homography covers the geometric part; the original is also tried
mirrored when the plain match is weak. Every accepted alignment must pass checks (enough RANSAC inliers, a
well-conditioned transform, enough of the edited image covered); otherwise :class:`AlignError` says why and
the pair is skipped, never guessed.

ECC (Evangelidis & Psarakis, "Parametric Image Alignment Using Enhanced Correlation Coefficient
Maximization", PAMI 2008; ``cv2.findTransformECC``) then refines the feature homography to sub-pixel
accuracy; it is kept only when it raises the correlation of the two images on the overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FEATURE_SIDE = 1024  # images are matched at this longer side at most (SIFT cost grows with pixels)
FEATURE_MIN_SIDE = (
    640  # smaller images are enlarged to this for matching: SIFT finds too few keypoints on them
)
ECC_SIDES = (512, 1024)  # ECC runs at these longer sides at most, coarse to fine
RATIO = 0.75  # Lowe's ratio test
RANSAC_PX = 3.0  # reprojection error (pixels of the edited image at feature scale) of a RANSAC inlier
MIN_INLIERS = 20
MIN_INLIER_SHARE = 0.15  # of the ratio-test matches
CONFIDENT_INLIERS = 60  # a plain match this strong is not second-guessed by trying the mirrored original
MIN_COVERAGE = 0.25  # share of the edited image the warped original must cover
MAX_SCALE_CHANGE = 16.0  # area ratio either way (a 4x resize)
AFFINE_SHARE = 0.95  # the affine fit is kept when it has this share of the homography's inliers
MAX_PERSPECTIVE = 0.1  # |h31|, |h32| on the original's unit square: web pairs are near-affine


class AlignError(ValueError):
    """A pair that cannot be aligned; the message says which check failed."""


@dataclass
class Alignment:
    """The original warped into the edited image's frame (same size), where it is valid, and how."""

    warped: np.ndarray  # HxWx3 uint8, the original resampled onto the edited image's pixel grid
    valid: np.ndarray  # HxW bool, pixels the original covers
    homography: np.ndarray  # 3x3, original (after the flip, if any) pixels -> edited pixels
    flipped: bool
    inliers: int
    matches: int
    ecc: bool  # whether ECC refinement was kept
    coverage: float

    def meta(self) -> dict:
        return {
            "flipped": self.flipped,
            "inliers": self.inliers,
            "matches": self.matches,
            "ecc": self.ecc,
            "coverage": round(self.coverage, 4),
            "homography": [[round(float(v), 6) for v in row] for row in self.homography],
        }


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


def _scaled(image: np.ndarray, side: int, min_side: int = 0) -> tuple[np.ndarray, float]:
    h, w = image.shape[:2]
    f = min(1.0, side / max(h, w))
    if max(h, w) < min_side:
        f = min_side / max(h, w)
    if f == 1.0:
        return image, 1.0
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, (round(w * f), round(h * f)), interpolation=interp), f


def _scale_matrix(f: float) -> np.ndarray:
    return np.diag([f, f, 1.0])


class _Features:
    """SIFT keypoints and descriptors of a grey image at feature scale."""

    def __init__(self, sift, gray: np.ndarray):
        self.gray, self.scale = _scaled(gray, FEATURE_SIDE, FEATURE_MIN_SIDE)
        self.keypoints, self.descriptors = sift.detectAndCompute(self.gray, None)


def _match(a: _Features, b: _Features) -> tuple[np.ndarray, np.ndarray]:
    """Ratio-test matches of ``a`` (original) in ``b`` (edited): point arrays at each image's feature scale."""
    if a.descriptors is None or b.descriptors is None or len(a.keypoints) < 2 or len(b.keypoints) < 2:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    pairs = matcher.knnMatch(a.descriptors, b.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    src = np.float32([a.keypoints[m.queryIdx].pt for m in good]).reshape(-1, 2)
    dst = np.float32([b.keypoints[m.trainIdx].pt for m in good]).reshape(-1, 2)
    return src, dst


def _homography(orig: _Features, edit: _Features) -> tuple[np.ndarray | None, int, int]:
    """Full-resolution transform original -> edited (3x3), its inlier count and the number of matches.

    A web pair is related by a crop, a resize and a small rotation: an affine map. A homography fitted to
    matches that cluster in part of the image picks up small spurious perspective terms that put the far
    corners pixels off, so the affine fit is preferred whenever it explains nearly as many matches."""
    src, dst = _match(orig, edit)
    if len(src) < 4:
        return None, 0, len(src)
    h, inlier_mask = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_PX, maxIters=4000, confidence=0.999)
    if h is None:
        return None, 0, len(src)
    inliers = int(inlier_mask.sum())
    a, a_mask = cv2.estimateAffine2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX, maxIters=4000, confidence=0.999
    )
    if a is not None and a_mask.sum() >= AFFINE_SHARE * inliers:
        h, inliers = np.vstack([a, [0.0, 0.0, 1.0]]), int(a_mask.sum())
    full = np.linalg.inv(_scale_matrix(edit.scale)) @ h @ _scale_matrix(orig.scale)
    return full / full[2, 2], inliers, len(src)


def _check(h: np.ndarray, orig_shape: tuple[int, int]) -> None:
    """Refuse transforms no crop/resize/rotation/flip would produce (RANSAC can fit nonsense)."""
    oh, ow = orig_shape
    det = np.linalg.det(h[:2, :2])
    if not np.isfinite(h).all() or det <= 0:
        raise AlignError("the homography is degenerate or mirrors the image")
    area_ratio = abs(det)  # area scale of the affine part
    if not 1 / MAX_SCALE_CHANGE <= area_ratio <= MAX_SCALE_CHANGE:
        raise AlignError(f"implausible scale change (area x{area_ratio:.2f})")
    # Perspective terms measured on unit-square coordinates of the original, so the bound is size-free.
    unit = h @ np.diag([ow, oh, 1.0])
    unit = unit / unit[2, 2]
    if max(abs(unit[2, 0]), abs(unit[2, 1])) > MAX_PERSPECTIVE:
        raise AlignError("implausible perspective distortion")
    corners = np.float32([[0, 0], [ow, 0], [ow, oh], [0, oh]]).reshape(-1, 1, 2)
    quad = cv2.perspectiveTransform(corners, h).reshape(-1, 2)
    if not cv2.isContourConvex(quad.astype(np.float32)):
        raise AlignError("the warped original is not convex")


def _warp(original: np.ndarray, h: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    eh, ew = shape
    scale = float(np.sqrt(abs(np.linalg.det(h[:2, :2]))))
    if scale < 0.9:
        # Shrinking by interpolation aliases fine texture into patterns the edit does not have: shrink by
        # area averaging first, and warp what is left.
        oh, ow = original.shape[:2]
        size = (max(1, round(ow * scale)), max(1, round(oh * scale)))
        original = cv2.resize(original, size, interpolation=cv2.INTER_AREA)
        h = h @ np.diag([ow / size[0], oh / size[1], 1.0])
    warped = cv2.warpPerspective(
        original, h, (ew, eh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    ones = np.full(original.shape[:2], 255, np.uint8)
    valid = cv2.warpPerspective(ones, h, (ew, eh), flags=cv2.INTER_NEAREST, borderValue=0) > 0
    # Drop the outermost pixels of the covered area: interpolation there mixes in the replicated border.
    valid = cv2.erode(valid.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return warped, valid


def _correlation(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
    x = a[valid].astype(np.float64)
    y = b[valid].astype(np.float64)
    x -= x.mean()
    y -= y.mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 0 else 0.0


def _ecc_step(
    edited_gray: np.ndarray, original_gray: np.ndarray, h: np.ndarray, side: int
) -> np.ndarray | None:
    """One ECC refinement of ``h`` at ``side`` (longer side of the edited image); ``None`` when ECC fails
    or does not raise the correlation on the overlap."""
    small, f = _scaled(edited_gray, side)
    s = _scale_matrix(f)
    h_small = s @ h
    sh, sw = small.shape
    warped = cv2.warpPerspective(original_gray, h_small, (sw, sh), flags=cv2.INTER_LINEAR)
    ones = np.full(original_gray.shape, 255, np.uint8)
    valid = cv2.warpPerspective(ones, h_small, (sw, sh), flags=cv2.INTER_NEAREST) > 0
    valid = cv2.erode(valid.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    if valid.sum() < 1000:
        return None
    before = _correlation(small, warped, valid)
    affine = bool(h[2, 0] == 0 and h[2, 1] == 0)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)
    w = np.eye(3, dtype=np.float32)[:2] if affine else np.eye(3, dtype=np.float32)
    try:
        _, w = cv2.findTransformECC(
            small.astype(np.float32),
            warped.astype(np.float32),
            w,
            cv2.MOTION_AFFINE if affine else cv2.MOTION_HOMOGRAPHY,
            criteria,
            (valid * 255).astype(np.uint8),
            5,
        )
    except cv2.error:  # ECC did not converge
        return None
    if affine:
        w = np.vstack([w, [0.0, 0.0, 1.0]])
    # ECC's warp maps edited coordinates into the warped original; compose it back onto h.
    refined_small = np.linalg.inv(w.astype(np.float64)) @ h_small
    refined = np.linalg.inv(s) @ refined_small
    refined /= refined[2, 2]
    if affine:
        refined[2, :2] = 0.0
    rewarped = cv2.warpPerspective(original_gray, s @ refined, (sw, sh), flags=cv2.INTER_LINEAR)
    if _correlation(small, rewarped, valid) <= before:
        return None
    return refined


def _ecc_refine(edited_gray: np.ndarray, original_gray: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, bool]:
    """Refine ``h`` with ECC, coarse to fine (``ECC_SIDES``); returns the (possibly unchanged) transform and
    whether it changed. Each step is kept only if it raises the correlation on the overlap."""
    changed = False
    for side in ECC_SIDES:
        refined = _ecc_step(edited_gray, original_gray, h, side)
        if refined is not None:
            h, changed = refined, True
        if side >= max(edited_gray.shape):
            break
    return h, changed


def align(edited: np.ndarray, original: np.ndarray, *, ecc: bool = True, try_flip: bool = True) -> Alignment:
    """Warp ``original`` onto ``edited`` (both HxWx3 uint8 RGB); raises :class:`AlignError` when it cannot."""
    sift = cv2.SIFT_create(nfeatures=4000)
    e_gray, o_gray = _gray(edited), _gray(original)
    edit_f = _Features(sift, e_gray)
    candidates = []
    h, inliers, matches = _homography(_Features(sift, o_gray), edit_f)
    candidates.append((inliers, matches, h, False))
    weak = inliers < CONFIDENT_INLIERS or inliers < MIN_INLIER_SHARE * 2 * matches
    if try_flip and weak:
        o_flip = np.ascontiguousarray(o_gray[:, ::-1])
        hf, inl_f, matches_f = _homography(_Features(sift, o_flip), edit_f)
        candidates.append((inl_f, matches_f, hf, True))
    inliers, matches, h, flipped = max(candidates, key=lambda c: c[0])
    if h is None or inliers < MIN_INLIERS:
        raise AlignError(f"too few consistent feature matches ({inliers} RANSAC inliers, need {MIN_INLIERS})")
    if inliers < MIN_INLIER_SHARE * matches:
        raise AlignError(f"matches are mostly inconsistent ({inliers} inliers of {matches})")
    src = np.ascontiguousarray(original[:, ::-1]) if flipped else original
    src_gray = np.ascontiguousarray(o_gray[:, ::-1]) if flipped else o_gray
    _check(h, src.shape[:2])
    refined = False
    if ecc:
        h, refined = _ecc_refine(e_gray, src_gray, h)
        _check(h, src.shape[:2])
    warped, valid = _warp(src, h, edited.shape[:2])
    coverage = float(valid.mean())
    if coverage < MIN_COVERAGE:
        raise AlignError(
            f"the original covers only {100 * coverage:.0f}% of the edited image (need {100 * MIN_COVERAGE:.0f}%)"
        )
    return Alignment(warped, valid, h, flipped, inliers, matches, refined, coverage)
