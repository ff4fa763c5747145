"""Pair annotation: registration, difference, refinement, the pairs importer and ``xforge data annotate``."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_builders.annotate.ciml import AlignError, annotate_arrays
from data_builders.annotate.diff import difference_maps
from data_builders.annotate.pairs import PairsError, find_pairs
from data_builders.annotate.refine import refine
from data_builders.annotate.register import align
from data_builders.annotate.synthetic import HostPool, WebTransform, make_pair
from data_builders.synth import SynthConfig
from xforge.cli import main
from xforge.data.images import read_image
from xforge.data.manifest import read_manifest

PHOTO = Path(__file__).resolve().parents[1] / "xforge" / "assets" / "examples" / "astronaut_original.jpg"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return np.count_nonzero(a & b) / max(1, np.count_nonzero(a | b))


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return cv2.resize(read_image(PHOTO), (384, 384), interpolation=cv2.INTER_AREA)


def _edit(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Paste a patch from elsewhere in the photo into a blob-free rectangle: an edit with an exact mask."""
    edited = photo.copy()
    mask = np.zeros(photo.shape[:2], bool)
    edited[40:110, 230:330] = photo[250:320, 20:120]
    mask[40:110, 230:330] = True
    return edited, mask


def _save(path: Path, image: np.ndarray, quality: int | None = None) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if quality else []
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)


def test_annotate_finds_the_edit_through_crop_resize_rotation_and_jpeg(photo):
    edited, mask = _edit(photo)
    t = WebTransform("original", scale=0.8, rotation_deg=2.0, crop=(0.05, 0.0, 0.95, 0.97), jpeg_quality=75)
    original, _ = t.apply(photo)
    ann = annotate_arrays(edited, original)
    assert ann.mask.shape == mask.shape
    assert _iou(ann.mask, mask) > 0.75
    assert ann.qes > 0.5
    assert not ann.meta["registration"]["flipped"]


def test_annotate_mirrored_original(photo):
    edited, mask = _edit(photo)
    ann = annotate_arrays(edited, np.ascontiguousarray(photo[:, ::-1]))
    assert ann.meta["registration"]["flipped"]
    assert _iou(ann.mask, mask) > 0.75


def test_identical_images_have_no_difference(photo):
    ann = annotate_arrays(photo, photo)
    assert not ann.mask.any()
    assert ann.qes == 0.0


def test_unrelated_images_are_refused_not_guessed(photo):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, photo.shape, dtype=np.uint8)
    with pytest.raises(AlignError, match="match"):
        annotate_arrays(photo, noise)


def test_colour_shift_is_not_an_edit(photo):
    edited, mask = _edit(photo)
    # Gains and offsets that keep every value in 0..255 (clipped highlights are not an affine change).
    shifted = (photo.astype(np.float32) * [0.9, 0.95, 0.85] + [10, 4, 12]).round().astype(np.uint8)
    ann = annotate_arrays(edited, shifted)
    assert _iou(ann.mask, mask) > 0.75


def test_find_pairs_layouts(tmp_path, photo):
    a = tmp_path / "suffix"
    (a / "sub").mkdir(parents=True)
    for name in ("x.jpg", "x_original.png", "sub/y.png", "sub/y_orig.jpg", "lonely.jpg", "z_source.jpg"):
        _save(a / name, photo)
    pairs, skipped = find_pairs(a)
    assert [(p.id, p.edited.name, p.original.name) for p in pairs] == [
        ("sub/y", "y.png", "y_orig.jpg"),
        ("x", "x.jpg", "x_original.png"),
    ]
    assert [s["reason"] for s in skipped] == ["no edited image z.* next to it"]

    b = tmp_path / "dirs"
    (b / "edited").mkdir(parents=True)
    (b / "original").mkdir()
    _save(b / "edited" / "p.jpg", photo)
    _save(b / "original" / "p.png", photo)
    _save(b / "edited" / "q.jpg", photo)
    pairs, skipped = find_pairs(b)
    assert [p.id for p in pairs] == ["p"]
    assert len(skipped) == 1 and "q" in skipped[0]["reason"]

    c = tmp_path / "list"
    c.mkdir()
    _save(c / "e.jpg", photo)
    _save(c / "o.jpg", photo)
    (c / "pairs.csv").write_text("edited,original\ne.jpg,o.jpg\ne.jpg,missing.jpg\n")
    pairs, skipped = find_pairs(c / "pairs.csv")
    assert len(pairs) == 1 and len(skipped) == 1 and "missing.jpg" in skipped[0]["reason"]
    (c / "pairs.jsonl").write_text(
        json.dumps({"edited": "e.jpg", "original": "o.jpg", "id": "one"})
        + "\n"
        + json.dumps({"edited": "e.jpg"})
    )
    pairs, skipped = find_pairs(c / "pairs.jsonl")
    assert [p.id for p in pairs] == ["one"] and "both" in skipped[0]["reason"]
    (c / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(PairsError, match="bad.csv"):
        find_pairs(c / "bad.csv")


def test_cli_writes_manifest_and_skips(tmp_path, photo, capsys):
    src = tmp_path / "pairs"
    src.mkdir()
    edited, mask = _edit(photo)
    _save(src / "good.jpg", edited, 92)
    _save(src / "good_original.jpg", photo, 85)
    rng = np.random.default_rng(1)
    _save(src / "noise.png", rng.integers(0, 256, photo.shape, dtype=np.uint8))
    _save(src / "noise_original.jpg", photo)
    (src / "broken.jpg").write_bytes(b"not an image")
    _save(src / "broken_original.jpg", photo)
    out = tmp_path / "out"
    assert main(["data", "annotate", "--pairs", str(src), "--out", str(out), "--min-qes", "0.3"]) == 0
    assert "annotated 1/3" in capsys.readouterr().out
    (record,) = read_manifest(out / "manifest.jsonl")
    assert record.id == "pairs/good" and record.label == "tampered"
    assert record.meta["annotation"] == "auto-ciml" and 0.3 <= record.meta["qes"] <= 1.0
    assert (out / record.original).is_file() and (out / record.image).read_bytes() == (
        src / "good.jpg"
    ).read_bytes()
    written = cv2.imread(str(out / record.mask), cv2.IMREAD_GRAYSCALE) > 127
    assert written.shape == (record.height, record.width) == mask.shape
    assert _iou(written, mask) > 0.75
    skips = [json.loads(line) for line in (out / "manifest.skipped.jsonl").read_text().splitlines()]
    reasons = {s["id"]: s["reason"] for s in skips}
    assert reasons.keys() == {"noise", "broken"}
    assert reasons["noise"].startswith("cannot be aligned")
    assert reasons["broken"].startswith("unreadable image")


def test_cli_min_qes_rejects_with_reason(tmp_path, photo):
    src = tmp_path / "pairs"
    src.mkdir()
    edited, _ = _edit(photo)
    _save(src / "a.png", edited)
    _save(src / "a_original.png", photo)
    out = tmp_path / "out"
    assert main(["data", "annotate", "--pairs", str(src), "--out", str(out), "--min-qes", "1.0"]) == 0
    assert read_manifest(out / "manifest.jsonl") == []
    (skip,) = [json.loads(line) for line in (out / "manifest.skipped.jsonl").read_text().splitlines()]
    assert "under --min-qes 1.0" in skip["reason"] and skip["qes"] < 1.0


def test_faint_but_coherent_edit_is_found():
    """A +5 grey-level patch on a noisy ramp is below the per-pixel noise unit; the coarse scale finds it."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(60, 140, 256, dtype=np.float32)[None, :, None]
    original = np.clip(np.broadcast_to(ramp, (256, 256, 3)) + rng.normal(0, 1.5, (256, 256, 3)), 0, 255)
    edited = original + rng.normal(0, 1.5, original.shape)
    truth = np.zeros((256, 256), bool)
    truth[80:160, 90:170] = True
    edited[truth] += 5.0
    prob = difference_maps(
        np.clip(edited, 0, 255).astype(np.uint8), original.astype(np.uint8), np.ones((256, 256), bool)
    ).prob
    assert _iou(refine(prob), truth) > 0.7


def test_affine_pair_is_registered_with_an_affine_model(photo):
    edited, _ = _edit(photo)
    t = WebTransform("original", scale=0.9, rotation_deg=2.5, crop=(0.02, 0.03, 0.97, 0.98), jpeg_quality=90)
    original, _ = t.apply(photo)
    alignment = align(edited, original)
    assert np.allclose(alignment.homography[2], [0.0, 0.0, 1.0])
    assert alignment.ecc


def test_footprint_is_what_the_transform_keeps():
    """Every pixel the transform carries into its output lies in the footprint, and the footprint is no larger
    than the output's area (scaled back), so it is the kept part and nothing more."""
    t = WebTransform("original", scale=0.7, rotation_deg=3.0, crop=(0.1, 0.2, 0.9, 0.95))
    h, w = 90, 120
    index = np.arange(h * w, dtype=np.float32).reshape(h, w)
    m, size, (x0, y0, x1, y1) = t._geometry(h, w)
    carried = cv2.warpAffine(index, m, size, flags=cv2.INTER_NEAREST, borderValue=-1)[y0:y1, x0:x1]
    seen = np.zeros(h * w, bool)
    seen[carried[carried >= 0].astype(int)] = True
    footprint = t.footprint((h, w))
    assert not (seen.reshape(h, w) & ~footprint).any()
    assert footprint.sum() == pytest.approx((x1 - x0) * (y1 - y0) / t.scale**2, rel=0.05)
    # On a coarser grid over the same picture, the same share of it.
    assert t.footprint((h, w), (45, 60)).mean() == pytest.approx(footprint.mean(), abs=0.02)


def test_pair_truth_leaves_out_what_the_original_does_not_show():
    """A cropped original: the ground truth keeps only edited pixels the original still shows (checked
    against the area the registered original covers)."""
    pool = HostPool([], per_photo=1, seed=0)  # procedural scenes: fast and package-free
    cfg = SynthConfig(kinds=("splice", "copy-move", "removal", "multi"), max_side=320)
    pairs = [make_pair(i, pool, cfg, seed=0) for i in range(12)]
    for pair in pairs:
        assert pair.mask.sum() >= 64 and pair.mask.shape == pair.edited.shape[:2]
        assert 0.0 <= pair.meta["mask_cut"] < 1.0
        if pair.meta["web"]["side"] == "edited":
            assert pair.meta["mask_cut"] == 0.0
    most_cut = max(pairs, key=lambda p: p.meta["mask_cut"])
    assert most_cut.meta["mask_cut"] > 0.2
    covered = align(most_cut.edited, most_cut.original).valid
    covered = cv2.dilate(covered.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0  # align() trims its rim
    assert not (most_cut.mask & ~covered).any()


def test_grain_loss_extends_a_fill_but_never_starts_a_region():
    """A smooth fill over a grainy flat area differs from the original by the grain only: the soft map finds
    a few scattered seeds in it, the grain-loss map covers it; refinement grows the seeds over the fill with
    it, and never starts a region from grain loss alone."""
    rng = np.random.default_rng(1)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (200, 200)).astype(np.float32), (0, 0), 1.0)
    grain *= 6.0 / grain.std()
    original = np.clip(120 + grain[..., None] + rng.normal(0, 1, (200, 200, 3)), 0, 255).astype(np.uint8)
    edited = original.copy()
    truth = np.zeros((200, 200), bool)
    truth[60:140, 50:150] = True
    edited[truth] = 120  # the fill: the grain is gone, the mean level kept
    maps = difference_maps(edited, original, np.ones((200, 200), bool))
    assert (maps.weak[truth] > 1).mean() > 0.8
    assert (maps.weak[~truth] > 1).mean() < 0.02
    assert _iou(refine(maps.prob), truth) < 0.5
    assert _iou(refine(maps.prob, weak=maps.weak), truth) > 0.85
    assert not refine(np.zeros_like(maps.prob), weak=maps.weak).any()
