"""xforge.data.images: every mode and container the datasets ship, and the bad files they also ship."""

from __future__ import annotations

import builtins
import os
import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from xforge.data.images import ImageReadError, load_image, read_image, read_image_size


def _gradient(h=12, w=20):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 12, y * 20, (x + y) * 5], axis=2).astype(np.uint8)


@pytest.mark.parametrize("ext", ["png", "bmp", "tif", "jpg"])
def test_rgb_formats_round_trip(tmp_path, ext):
    arr = _gradient()
    path = tmp_path / f"img.{ext}"
    Image.fromarray(arr).save(path, **({"quality": 100, "subsampling": 0} if ext == "jpg" else {}))
    out = read_image(path)
    assert out.shape == (12, 20, 3) and out.dtype == np.uint8
    tol = 8 if ext == "jpg" else 0
    assert np.abs(out.astype(int) - arr.astype(int)).max() <= tol
    assert read_image_size(path) == (20, 12)


def test_gray_palette_alpha_cmyk(tmp_path):
    gray = np.arange(60, dtype=np.uint8).reshape(6, 10) * 4
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (6, 10, 3) and (out[:, :, 0] == gray).all() and (out[:, :, 2] == gray).all()

    rgb = _gradient()
    Image.fromarray(rgb).quantize(colors=16).save(tmp_path / "p.png")
    pal = read_image(tmp_path / "p.png")
    assert pal.shape == (12, 20, 3)
    assert np.abs(pal.astype(int) - rgb.astype(int)).mean() < 20

    rgba = np.dstack([rgb, np.zeros((12, 20), np.uint8)])  # fully transparent: RGB must survive
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert (read_image(tmp_path / "a.png") == rgb).all()

    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg", quality=100)
    cmyk = read_image(tmp_path / "c.jpg")
    assert cmyk.shape == (12, 20, 3)
    assert np.abs(cmyk.astype(int) - rgb.astype(int)).mean() < 12


def test_sixteen_bit_gray_png_and_rgb_tiff(tmp_path):
    gray16 = (np.arange(20, dtype=np.uint16).reshape(4, 5) * 3000).astype(np.uint16)
    Image.fromarray(gray16).save(tmp_path / "g16.png")
    out = read_image(tmp_path / "g16.png")
    assert out.shape == (4, 5, 3)
    assert (out[:, :, 0] == np.rint(gray16 / 257).astype(np.uint8)).all()

    rgb16 = np.stack([gray16, gray16 // 2, 65535 - gray16], axis=2)
    tifffile.imwrite(tmp_path / "rgb16.tif", rgb16, photometric="rgb")
    out = read_image(tmp_path / "rgb16.tif")
    assert out.shape == (4, 5, 3)
    assert np.abs(out.astype(int) - np.rint(rgb16 / 257).astype(int)).max() <= 1
    assert read_image_size(tmp_path / "rgb16.tif") == (5, 4)


def test_multipage_tiff_reads_first_page(tmp_path):
    first, second = np.full((4, 6, 3), 10, np.uint8), np.full((4, 6, 3), 200, np.uint8)
    Image.fromarray(first).save(tmp_path / "m.tif", save_all=True, append_images=[Image.fromarray(second)])
    assert (read_image(tmp_path / "m.tif") == 10).all()


def test_exif_orientation_applied_to_pixels_and_size(tmp_path):
    arr = _gradient(8, 16)  # landscape as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    Image.fromarray(arr).save(tmp_path / "o.jpg", exif=exif, quality=100)
    out = read_image(tmp_path / "o.jpg")
    assert out.shape == (16, 8, 3)
    assert read_image_size(tmp_path / "o.jpg") == (8, 16)


def test_missing_empty_and_garbage_files(tmp_path):
    with pytest.raises(ImageReadError, match="no such file") as exc:
        read_image(tmp_path / "missing.png")
    assert str(exc.value).startswith(str(tmp_path / "missing.png"))
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty file"):
        read_image(tmp_path / "empty.png")
    with pytest.raises(ImageReadError, match="empty file"):
        read_image_size(tmp_path / "empty.png")
    (tmp_path / "junk.jpg").write_bytes(b"this is not an image at all")
    with pytest.raises(ImageReadError, match="not a recognised image format"):
        read_image(tmp_path / "junk.jpg")
    with pytest.raises(ImageReadError, match="directory"):
        read_image(tmp_path)


def test_truncated_jpeg_and_png_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    for ext in ("jpg", "png"):
        full = tmp_path / f"full.{ext}"
        Image.fromarray(noisy).save(full)
        data = full.read_bytes()
        cut = tmp_path / f"cut.{ext}"
        cut.write_bytes(data[: len(data) // 2])
        assert read_image_size(cut) == (64, 64)  # the header is intact
        with pytest.raises(ImageReadError, match="truncated") as exc:
            read_image(cut)
        assert str(cut) in str(exc.value)


def _png_header_only(path, width, height):
    """A PNG whose IHDR claims width x height, with one empty IDAT (no pixel data to allocate)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b""))


def test_decompression_bomb_header_is_refused(tmp_path):
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 30000, 30000)
    with pytest.raises(ImageReadError, match="decompression bomb"):
        read_image(bomb)
    with pytest.raises(ImageReadError, match="decompression bomb"):
        read_image_size(bomb)
    small = tmp_path / "s.png"
    Image.fromarray(_gradient(10, 10)).save(small)
    with pytest.raises(ImageReadError, match="exceeds the limit of 50"):
        read_image(small, max_pixels=50)


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "locked.png"
    Image.fromarray(_gradient()).save(path)
    if os.name == "posix" and os.geteuid() != 0:
        path.chmod(0)
    else:  # root ignores file modes: refuse the open the way the OS would
        real_open = builtins.open

        def guarded(file, *args, **kwargs):
            if os.fspath(file) == os.fspath(path):
                raise PermissionError(13, "Permission denied", os.fspath(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", guarded)
    try:
        with pytest.raises(ImageReadError, match="permission denied"):
            read_image(path)
    finally:
        path.chmod(0o644)


def test_load_image_accepts_paths_pil_and_arrays(tmp_path):
    rgb = _gradient()
    Image.fromarray(rgb).save(tmp_path / "x.png")
    assert (load_image(tmp_path / "x.png") == rgb).all()
    assert (load_image(str(tmp_path / "x.png")) == rgb).all()
    assert (load_image(Image.fromarray(rgb)) == rgb).all()
    assert (load_image(Image.fromarray(rgb[:, :, 0], "L"))[:, :, 1] == rgb[:, :, 0]).all()
    assert (load_image(rgb) == rgb).all()
    assert (load_image(rgb[:, :, 0])[:, :, 2] == rgb[:, :, 0]).all()
    assert (load_image(np.dstack([rgb, np.full((12, 20), 7, np.uint8)])) == rgb).all()
    assert load_image(np.ones((3, 4), bool)).max() == 255
    assert (load_image(np.full((3, 4, 3), 0.5, np.float32)) == 128).all()
    assert (load_image(np.full((2, 2), 65535, np.uint16)) == 255).all()
    with pytest.raises(ImageReadError, match="channels"):
        load_image(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(TypeError, match="path, a PIL image or a numpy array"):
        load_image(42)
