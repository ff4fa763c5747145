"""Bad input in a build: each bad file is skipped with a reason naming it, and the rest is built."""

from __future__ import annotations

import builtins
import os
import struct
import zlib

import pytest
from data_fakes import image_bytes, write, write_image, write_mask

from data_builders.registry import get_adapter
from xforge.cli import main
from xforge.data.manifest import ManifestError, read_manifest
from xforge.data.masks import load_record_mask
from xforge.data.schema import SampleRecord


def _png_header(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def _truncated_jpeg():
    from io import BytesIO

    import numpy as np
    from PIL import Image

    buf = BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    return data[: len(data) // 2]


def test_bad_files_are_skipped_with_reasons_and_the_rest_is_built(tmp_path):
    root = tmp_path / "compRAISE"
    for name in ("good_1.jpg", "good 2 (copy).jpg", "ünïcode_3.jpg"):
        write_image(root, name)
    write(root, "truncated.jpg", _truncated_jpeg())
    write(root, "zero.png", b"")
    write(root, "bomb.png", _png_header(30000, 30000))
    write(root, "notanimage.jpg", b"hello, I am text")
    os.symlink(root / "missing-target.jpg", root / "dangling.jpg")
    result = get_adapter("compraise").build(root, workers=1)
    assert sorted(r.image for r in result.records) == ["good 2 (copy).jpg", "good_1.jpg", "ünïcode_3.jpg"]
    reasons = {s.path: s.reason for s in result.skips}
    assert "truncated" in reasons["truncated.jpg"]
    assert "empty file (0 bytes)" in reasons["zero.png"]
    assert "decompression bomb" in reasons["bomb.png"]
    assert "not a recognised image format" in reasons["notanimage.jpg"]
    assert "no such file" in reasons["dangling.jpg"]


def test_non_utf8_file_name_is_reported(tmp_path):
    root = tmp_path / "compRAISE"
    write_image(root, "ok.jpg")
    try:
        with open(os.path.join(os.fsencode(root), b"bad\xff.jpg"), "wb") as f:
            f.write(image_bytes(".jpg"))
    except OSError:
        pytest.skip("this file system refuses non-UTF-8 names")
    result = get_adapter("compraise").build(root, workers=1)
    assert [r.image for r in result.records] == ["ok.jpg"]
    assert [s.reason for s in result.skips] == ["file name is not valid UTF-8"]


def test_mask_of_wrong_size_and_missing_mask(tmp_path):
    root = tmp_path / "grip"
    for name in ("forged_images/TP_C01_001_copy.png", "forged_images/TP_C01_002_copy.png",
                 "forged_images/TP_C01_003_copy.png"):  # fmt: skip
        write_image(root, name)
    write_mask(root, "forged_images/TP_C01_001_gt.png", "white_forged")
    write_mask(root, "forged_images/TP_C01_002_gt.png", "white_forged", size=(8, 5))
    result = get_adapter("grip").build(root, workers=1)
    assert [r.image for r in result.records] == ["forged_images/TP_C01_001_copy.png"]
    reasons = {s.path: s.reason for s in result.skips}
    assert "mask is 8x5 but its image is 8x8" in reasons["forged_images/TP_C01_002_gt.png"]
    assert "no ground-truth mask found" in reasons["forged_images/TP_C01_003_copy.png"]


def _deny(monkeypatch, tmp_path, path):
    """Make ``path`` unreadable: chmod for ordinary users; root ignores modes, so refuse its opens instead."""
    if os.name == "posix" and os.geteuid() != 0:
        path.chmod(0)
        return
    real_open = builtins.open

    def guarded(file, *args, **kwargs):
        if os.fspath(file) == os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)


def test_unreadable_file_is_skipped(tmp_path, monkeypatch):
    root = tmp_path / "compRAISE"
    write_image(root, "a.jpg")
    write_image(root, "locked.jpg")
    _deny(monkeypatch, tmp_path, root / "locked.jpg")
    try:
        result = get_adapter("compraise").build(root, workers=1)
    finally:
        (root / "locked.jpg").chmod(0o644)
    assert [r.image for r in result.records] == ["a.jpg"]
    assert {s.path: s.reason for s in result.skips} == {"locked.jpg": "permission denied"}


def test_manifest_path_escaping_its_root_is_refused(tmp_path):
    write_mask(tmp_path / "outside", "x.png", "white_forged")
    record = SampleRecord(id="d/a", dataset="d", split="test", image="a.jpg", label="tampered",
                          mask="../outside/x.png", mask_format="white_forged", width=8, height=8)  # fmt: skip
    (tmp_path / "root").mkdir()
    with pytest.raises(ManifestError, match="escapes the dataset root"):
        load_record_mask(record, tmp_path / "root")
    with pytest.raises(ManifestError, match="escapes the dataset root"):
        load_record_mask(record.to_dict() | {"mask": "../../x"}, tmp_path / "root")


def test_cli_build_reports_skips_and_writes_the_rest(tmp_path, capsys):
    root = tmp_path / "compRAISE"
    write_image(root, "good.jpg")
    write(root, "zero.png", b"")
    out = tmp_path / "m" / "compraise.jsonl"
    assert main(["data", "build", "compraise", "--root", str(root), "--out", str(out), "--workers", "1"]) == 0
    assert [r.image for r in read_manifest(out)] == ["good.jpg"]
    err = capsys.readouterr().err
    assert "zero.png: empty file (0 bytes)" in err
    assert (tmp_path / "m" / "compraise.skipped.jsonl").read_text().count("\n") == 1
    assert main(["data", "build", "casia9", "--root", str(root), "--out", str(out)]) == 2
    assert "unknown dataset 'casia9'" in capsys.readouterr().err
    assert main(["data", "build", "casia2", "--root", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_verify_decodes_files_whose_header_and_end_look_fine(tmp_path):
    import io

    import numpy as np
    from PIL import Image

    root = tmp_path / "compRAISE"
    write_image(root, "good.png")
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    start = data.index(b"IDAT") + 4
    data[start + 10 : start + 60] = bytes(50)  # garbage in the compressed pixels; header and IEND intact
    write(root, "corrupt_middle.png", bytes(data))
    plain = get_adapter("compraise").build(root, workers=1)
    assert len(plain.records) == 2  # headers alone cannot tell
    verified = get_adapter("compraise").build(root, workers=1, verify=True)
    assert [r.image for r in verified.records] == ["good.png"]
    assert "corrupt_middle.png" in {s.path for s in verified.skips}


def test_mask_drawn_on_the_stored_pixels_of_an_exif_rotated_image_is_explained(tmp_path):
    from PIL import Image

    image = tmp_path / "grip" / "forged_images" / "TP_C01_001_copy.png"
    image.parent.mkdir(parents=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated by 90 degrees: stored 16x8, displayed 8x16
    Image.new("RGB", (16, 8)).save(image, exif=exif)
    write_mask(tmp_path / "grip", "forged_images/TP_C01_001_gt.png", "white_forged", size=(16, 8))
    result = get_adapter("grip").build(tmp_path / "grip", workers=1)
    assert result.records == []
    reason = {s.path: s.reason for s in result.skips}["forged_images/TP_C01_001_gt.png"]
    assert "mask is 16x8 but its image is 8x16" in reason and "before the image's EXIF rotation" in reason
