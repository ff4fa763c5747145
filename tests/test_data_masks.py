"""xforge.data.masks: every mask_format with its dataset's polarity, and size checks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from xforge.data.masks import MaskError, decode_mask

TRUTH = np.zeros((6, 8), np.uint8)
TRUTH[1:4, 2:6] = 1


def test_white_and_black_forged(tmp_path):
    Image.fromarray(TRUTH * 255).save(tmp_path / "w.png")
    Image.fromarray((1 - TRUTH) * 255).save(tmp_path / "b.png")
    Image.fromarray(np.dstack([TRUTH * 255] * 3)).save(tmp_path / "w_rgb.png")
    Image.fromarray(TRUTH * 255).convert("1").save(tmp_path / "w_1bit.png")
    for name, fmt in [("w.png", "white_forged"), ("b.png", "black_forged"), ("w_rgb.png", "white_forged")]:
        out = decode_mask(tmp_path / name, fmt)
        assert out.dtype == np.uint8 and (out == TRUTH).all(), name
    assert (decode_mask(tmp_path / "w_1bit.png", "white_forged") == TRUTH).all()


def test_white_forged_jpeg_mask_keeps_binary_shape(tmp_path):
    big = np.kron(TRUTH, np.ones((8, 8), np.uint8)) * 255
    Image.fromarray(big).save(tmp_path / "m.jpg", quality=75)
    out = decode_mask(tmp_path / "m.jpg", "white_forged")
    assert set(np.unique(out)) <= {0, 1}
    assert (out != (big > 0)).mean() < 0.02


def test_columbia_edge_green_is_spliced(tmp_path):
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[..., 0] = 255  # red: host camera region
    rgb[TRUTH == 1] = (0, 255, 0)  # green: spliced
    Image.fromarray(rgb).save(tmp_path / "e.png")
    assert (decode_mask(tmp_path / "e.png", "columbia_edge") == TRUTH).all()


def test_npz_fantastic_reality(tmp_path):
    labels = TRUTH.astype(np.int32) * 3  # object id 3
    np.savez_compressed(tmp_path / "m.npz", labels[None])
    assert (decode_mask(tmp_path / "m.npz", "npz") == TRUTH).all()
    np.savez(tmp_path / "named.npz", mask=labels)
    assert (decode_mask(tmp_path / "named.npz", "npz") == TRUTH).all()
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(MaskError, match="bad.npz"):
        decode_mask(tmp_path / "bad.npz", "npz")


def test_npz_with_pickled_object_is_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", np.array([{"a": 1}], dtype=object))
    with pytest.raises(MaskError, match="obj.npz"):
        decode_mask(tmp_path / "obj.npz", "npz")


def test_multi_source_gray_and_dolos(tmp_path):
    gray = np.zeros((4, 6), np.uint8)
    gray[0, :3] = 50
    gray[2:, 3:] = 100
    gray[3, 0] = 102  # a slightly off level still maps to source 2
    Image.fromarray(gray).save(tmp_path / "ms.png")
    out = decode_mask(tmp_path / "ms.png", "multi_source_gray")
    assert out[0, 0] == 1 and out[2, 4] == 2 and out[3, 0] == 2 and out[1, 1] == 0
    assert set(np.unique(out)) == {0, 1, 2}

    dolos = np.full((4, 6), 255, np.uint8)
    dolos[1, 1:4] = 0
    dolos[2, 2] = 254
    Image.fromarray(dolos).save(tmp_path / "d.png")
    out = decode_mask(tmp_path / "d.png", "dolos")
    assert out.sum() == 4 and out[1, 1] == 1 and out[2, 2] == 1


def test_size_mismatch_errors_or_repairs(tmp_path):
    Image.fromarray(TRUTH * 255).save(tmp_path / "w.png")
    with pytest.raises(MaskError, match=r"mask is 8x6 but its image is 16x12") as exc:
        decode_mask(tmp_path / "w.png", "white_forged", expected_size=(16, 12))
    assert str(exc.value).startswith(str(tmp_path / "w.png"))
    out = decode_mask(tmp_path / "w.png", "white_forged", expected_size=(16, 12), resize_policy="nearest")
    assert out.shape == (12, 16) and (out[::2, ::2] == TRUTH).all()
    assert decode_mask(tmp_path / "w.png", "white_forged", expected_size=(8, 6)).shape == (6, 8)
    with pytest.raises(ValueError, match="resize_policy"):
        decode_mask(tmp_path / "w.png", "white_forged", resize_policy="bilinear")


def test_bad_mask_files(tmp_path):
    with pytest.raises(MaskError, match="no such file"):
        decode_mask(tmp_path / "nope.png", "white_forged")
    with pytest.raises(MaskError, match="no such file"):
        decode_mask(tmp_path / "nope.npz", "npz")
    (tmp_path / "zero.png").write_bytes(b"")
    with pytest.raises(MaskError, match="empty file"):
        decode_mask(tmp_path / "zero.png", "white_forged")
    Image.fromarray(TRUTH * 255).save(tmp_path / "w.png")
    with pytest.raises(MaskError, match="unknown mask_format"):
        decode_mask(tmp_path / "w.png", "sepia")
    big = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(MaskError, match="truncated"):
        decode_mask(tmp_path / "cut.png", "white_forged")


def test_nonzero_forged_counts_any_grey(tmp_path):
    Image.fromarray(TRUTH * 30).save(tmp_path / "n.png")
    assert (decode_mask(tmp_path / "n.png", "nonzero_forged") == TRUTH).all()
    assert not decode_mask(tmp_path / "n.png", "white_forged").any()
