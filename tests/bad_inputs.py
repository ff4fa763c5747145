"""A generated folder of hostile but realistic inputs for the CLI fuzz test (tests/test_bad_inputs_cli.py).

Each maker writes one file (or link) into a folder and returns its name. Some inputs are valid but odd (a
1x1 image, a 16-bit PNG, a name with a newline): xforge must answer them, not only refuse the broken ones.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def _chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_header(width: int, height: int, *, bad_crc: bool = False) -> bytes:
    """A PNG that claims ``width`` x ``height`` and holds no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr, 0 if bad_crc else None) + _chunk(b"IEND", b"")


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 0)


def _encode(arr: np.ndarray, ext: str, params: tuple[int, ...] = ()) -> bytes:
    ok, buf = cv2.imencode(ext, arr, list(params))
    assert ok
    return buf.tobytes()


def _pil_bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def make_bad_inputs(folder: Path) -> dict[str, str]:
    """Write the inputs into ``folder``; returns file name -> what it is. Every name has an image
    extension, so each must end up with exactly one line in a detect run over the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    jpg = _encode(_texture(64, 80, 1), ".jpg")
    png = _encode(_texture(64, 80, 2), ".png")
    files: dict[str, tuple[bytes, str]] = {
        "empty.jpg": (b"", "0-byte file"),
        "empty.png": (b"", "0-byte PNG"),
        "empty.tif": (b"", "0-byte TIFF"),
        "trunc_half.jpg": (jpg[: len(jpg) // 2], "JPEG cut in half"),
        "trunc_head.jpg": (jpg[:40], "JPEG cut after its header"),
        "trunc.png": (png[: len(png) // 2], "PNG cut in half"),
        "soi_eoi.jpg": (b"\xff\xd8\xff\xd9", "JPEG with markers only"),
        "random.png": (np.random.default_rng(0).bytes(5000), "random bytes"),
        "text.jpg": (b"this is not an image\n" * 20, "text file"),
        "svg.png": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "SVG"),
        "gzip.jpg": (gzip.compress(jpg), "gzip of a JPEG"),
        "zero_size.png": (png_header(0, 0), "PNG claiming 0x0"),
        "bad_crc.png": (png_header(64, 64, bad_crc=True), "PNG with a bad header CRC"),
        "no_data.png": (png_header(64, 64), "PNG header without pixels"),
        "bomb_warn.png": (png_header(10_000, 9_000), "90 MP header (Pillow warns)"),
        "bomb_error.png": (png_header(20_000, 20_000), "400 MP header (Pillow refuses)"),
        "thin.png": (png_header(1, 100_000), "1x100000 header without pixels"),
        "tiff_junk.tif": (b"II*\x00\x08\x00\x00\x00" + b"\x00" * 50, "TIFF header and junk"),
        "bmp_head.bmp": (b"BM" + b"\x00" * 30, "BMP header only"),
        "webp_head.webp": (b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8, "WebP header only"),
        "gif_trunc.gif": (b"GIF89a\x10\x00\x10\x00\x80\x00\x00", "GIF cut short"),
        "nul.jpg": (b"\x00" * 4096, "NUL bytes"),
        "tiny_1x1.png": (_encode(np.zeros((1, 1, 3), np.uint8), ".png"), "valid 1x1"),
        "tiny_3x3.jpg": (_encode(_texture(3, 3), ".jpg"), "valid 3x3"),
        "line_1x500.png": (_encode(_texture(1, 500), ".png"), "valid 1x500"),
        "flat_grey.png": (_encode(np.full((64, 64, 3), 128, np.uint8), ".png"), "valid, uniform"),
        "black.jpg": (_encode(np.zeros((32, 32, 3), np.uint8), ".jpg"), "valid, black"),
        "gray16.png": (_encode((_texture(40, 50)[:, :, 0].astype(np.uint16) * 257), ".png"), "16-bit"),
        "rgba.png": (_encode(np.dstack([_texture(40, 50), np.full((40, 50), 7, np.uint8)]), ".png"), "RGBA"),
        "UPPER.JPG": (jpg, "valid, upper-case extension"),
        "q1.jpg": (_encode(_texture(64, 80, 3), ".jpg", (cv2.IMWRITE_JPEG_QUALITY, 1)), "JPEG quality 1"),
        "twin.jpg": (jpg, "same stem as twin.png"),
        "twin.png": (png, "same stem as twin.jpg"),
        "spaces and ünïcode.png": (png, "valid, odd name"),
        "new\nline.png": (png, "valid, newline in the name"),
        ("x" * 200) + ".png": (png, "valid, 204-character name"),
        ".hidden.png": (png, "valid, hidden"),
        "-dash.png": (png, "valid, name starting with a dash"),
    }
    palette = Image.fromarray(_texture(30, 40)).convert("P")
    files["palette.png"] = (_pil_bytes(palette, "PNG", transparency=0), "palette with transparency")
    files["cmyk.jpg"] = (_pil_bytes(Image.fromarray(_texture(30, 40)).convert("CMYK"), "JPEG"), "CMYK JPEG")
    frames = [Image.fromarray(_texture(20, 20, s)) for s in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    files["anim.gif"] = (buf.getvalue(), "3-frame GIF")
    exif = Image.Exif()
    exif[0x0112] = 6
    files["rotated.jpg"] = (_pil_bytes(Image.fromarray(_texture(30, 50)), "JPEG", exif=exif), "EXIF rotate")
    files["bad_exif.jpg"] = (jpg[:2] + b"\xff\xe1\x00\x10Exif\x00\x00garbage!" + jpg[2:], "garbage EXIF")
    described = {}
    for name, (data, what) in files.items():
        (folder / name).write_bytes(data)
        described[name] = what
    os.symlink(folder / "gone.png", folder / "dangling.png")
    described["dangling.png"] = "dangling symbolic link"
    os.symlink(folder / "loop.jpg", folder / "loop.jpg")
    described["loop.jpg"] = "symbolic link loop"
    os.symlink(folder / "UPPER.JPG", folder / "alias.jpg")
    described["alias.jpg"] = "valid link to another input"
    raw = os.fsdecode(b"latin1_\xe9.png")  # not valid UTF-8 on disk
    (folder / raw).write_bytes(png)
    described[raw] = "valid, file name not UTF-8"
    sub = folder / "sub"
    sub.mkdir()
    (sub / "inner.png").write_bytes(png)
    described["sub/inner.png"] = "valid, in a subfolder"
    os.symlink(folder, sub / "back_up")  # a folder loop: walked once
    return described


def write_manifest_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


GOOD_RECORD = '{"id": "g", "dataset": "d", "split": "test", "image": "g.png", "label": "authentic"}'

# Manifests that cannot be used at all: each must give exit 2 and one line naming the file.
BAD_MANIFESTS: dict[str, bytes] = {
    "id_int": b'{"id": 123, "dataset": "d", "split": "test", "image": "g.png", "label": "authentic"}',
    "image_int": b'{"id": "a", "dataset": "d", "split": "test", "image": 5, "label": "authentic"}',
    "meta_str": b'{"id": "a", "dataset": "d", "split": "test", "image": "g.png", "label": "authentic", '
    b'"meta": "abc"}',
    "no_id": b'{"dataset": "d", "split": "test", "image": "g.png", "label": "authentic"}',
    "array": b'["a", "b"]',
    "not_json": b"{this is not json",
    "not_utf8": b'{"id": "\xff\xfe", "dataset": "d"}',
    "label_bad": b'{"id": "a", "dataset": "d", "split": "test", "image": "g.png", "label": "maybe"}',
    "unknown_field": b'{"id": "a", "dataset": "d", "split": "test", "image": "g.png", "label": "authentic", '
    b'"colour": 1}',
    "absolute": b'{"id": "a", "dataset": "d", "split": "test", "image": "/etc/passwd", "label": "authentic"}',
    "width_str": b'{"id": "a", "dataset": "d", "split": "test", "image": "g.png", "label": "authentic", '
    b'"width": "9"}',
    "manip_str": b'{"id": "a", "dataset": "d", "split": "test", "image": "g.png", "label": "tampered", '
    b'"manipulation": "splice"}',
    "mask_format_bad": b'{"id": "a", "dataset": "d", "split": "test", "image": "g.png", "label": "tampered", '
    b'"mask": "m.png", "mask_format": "rainbow"}',
    "empty": b"",
    "blank_lines": b"\n\n  \n",
}
