"""``xforge serve``'s HTTP API against a real server on a loopback port (classical engine, no weights)."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from serve_helpers import running_server

from xforge.cli import main
from xforge.predictions import iter_predictions
from xforge.serve.limits import UploadLimits, UploadRejected, check_upload

# Looked up, not imported: the server imports gradio, the test does not need to. CI must run these tests.
if importlib.util.find_spec("gradio") is None and not os.environ.get("CI"):
    pytest.skip("gradio is not installed (pip install -e '.[dev]')", allow_module_level=True)
httpx = pytest.importorskip("httpx")  # a dependency of gradio

EXAMPLES = Path(__file__).resolve().parent.parent / "xforge" / "assets" / "examples"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve_api")
    with running_server(tmp, "--concurrency", "2") as (url, tmpdir):
        yield url
    assert not list(tmpdir.glob("xforge-serve-*")), "the server left its temporary folder behind"


def _post(url: str, name: str, data: bytes, timeout: float = 60.0) -> httpx.Response:
    return httpx.post(url + "api/analyze", files={"image": (name, data)}, timeout=timeout)


def png_header(width: int, height: int) -> bytes:
    """A PNG that is only a signature, an IHDR chunk and IEND: it claims a size and holds no pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_api_record_equals_detect(server, tmp_path, monkeypatch):
    src = EXAMPLES / "astronaut_copymove.jpg"
    shutil.copy(src, tmp_path / src.name)
    monkeypatch.chdir(tmp_path)  # so detect's "image" is the bare file name, as an upload's is
    assert main(["detect", src.name, "--out", "preds", "--no-progress"]) == 0
    (expected,) = list(iter_predictions(tmp_path / "preds"))

    r = _post(server, src.name, src.read_bytes())
    assert r.status_code == 200, r.text
    body = r.json()
    # Every field agrees but ``source``: detect records the server file it read, the API had only an upload
    # and must not name any server path.
    assert expected["source"]["path"] == str((tmp_path / src.name).resolve())
    assert body["record"]["source"] is None
    assert {k: v for k, v in body["record"].items() if k != "source"} == {
        k: v for k, v in expected.items() if k != "source"
    }
    assert body["record"]["verdict"] == "tampered"
    mask_png = base64.b64decode(body["mask_png"])
    assert mask_png == (tmp_path / "preds" / expected["mask"]).read_bytes()
    assert "classical forensic engine" in body["engine_description"]


@pytest.mark.parametrize(
    ("name", "data", "status", "words"),
    [
        ("empty.jpg", b"", 400, "empty file (0 bytes)"),
        ("notes.txt", b"This is a text file, not a picture.\n" * 20, 415, "not an image"),
        ("bomb.png", png_header(30000, 30000), 413, "decompression bomb"),
    ],
    ids=["zero-byte", "text", "30000x30000-header"],
)
def test_api_refuses_bad_uploads_with_a_clear_message(server, name, data, status, words):
    r = _post(server, name, data)
    assert r.status_code == status, r.text
    message = r.json()["error"]
    assert message.startswith(f"{name}: ") and words in message
    assert "/tmp" not in message and "upload" not in message.split(":", 1)[0]


def test_api_refuses_a_body_over_the_upload_limit(server):
    r = _post(server, "big.jpg", b"\xff" * (21 * 2**20))
    assert r.status_code == 413
    assert "upload limit" in r.json()["error"]


def test_api_never_reads_server_paths(server, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("server-side secret")
    # A path where a file should be is a form field, not a file: refused, and the file is never opened.
    r = httpx.post(server + "api/analyze", data={"image": str(secret)}, timeout=30)
    assert r.status_code in (400, 422)
    assert "server-side secret" not in r.text
    for probe in (f"gradio_api/file={secret}", f"gradio_api/file={EXAMPLES / 'astronaut_copymove.jpg'}"):
        r = httpx.get(server + probe, timeout=30)
        assert r.status_code in (403, 404), probe
        assert "server-side secret" not in r.text


def test_api_16_concurrent_requests_all_answered(server):
    rng = np.random.default_rng(0)
    uploads = {}
    for i in range(16):
        img = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
        ok, buf = cv2.imencode(".png", img)
        assert ok
        uploads[f"img{i:02d}.png"] = buf.tobytes()
    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(lambda kv: _post(server, *kv), uploads.items()))
    assert [r.status_code for r in responses] == [200] * 16, [
        r.text for r in responses if r.status_code != 200
    ]
    records = [r.json()["record"] for r in responses]
    assert [rec["image"] for rec in records] == list(uploads)
    assert {rec["id"] for rec in records} == {Path(n).stem for n in uploads}
    assert all(rec["verdict"] in ("tampered", "authentic") and rec["error"] is None for rec in records)


def test_check_upload_limits(tmp_path):
    """The same checks without a server: size, type and pixel limits, and messages naming the client's file."""
    src = EXAMPLES / "astronaut_copymove.jpg"
    loaded = check_upload(src, "photo.jpg", UploadLimits())
    assert loaded.array.shape == (512, 512, 3) and loaded.name == "photo"
    with pytest.raises(UploadRejected) as err:
        check_upload(src, "photo.jpg", UploadLimits(max_bytes=1000))
    assert err.value.status == 413 and "exceeds the upload limit of 1,000 bytes" in str(err.value)
    with pytest.raises(UploadRejected) as err:
        check_upload(src, "photo.jpg", UploadLimits(max_pixels=100_000))
    assert err.value.status == 413 and "at most 100,000 pixels" in str(err.value)
    pdf = tmp_path / "x"
    pdf.write_bytes(b"%PDF-1.4\n" + b"0" * 100)
    with pytest.raises(UploadRejected) as err:
        check_upload(pdf, "doc.pdf", UploadLimits())
    assert err.value.status == 415 and str(err.value).startswith("doc.pdf: not an image")


def test_info_names_the_engine(server):
    info = json.loads(httpx.get(server + "api/info", timeout=30).text)
    assert info["engine"] == "classical" and info["concurrency"] == 2
    assert info["limits"]["max_pixels"] == 50_000_000


def test_gate_refuses_when_the_queue_is_full():
    """``--max-queue``: a request that would wait behind more than that many is refused at once."""
    import threading

    from xforge.serve.service import Busy, EngineGate

    gate = EngineGate(concurrency=1, max_queue=1)
    holding, release = threading.Event(), threading.Event()
    waited = []

    def hold():
        with gate.turn():
            holding.set()
            release.wait(30)

    def wait_for_turn():
        with gate.turn():
            waited.append(True)

    first = threading.Thread(target=hold)
    first.start()
    assert holding.wait(30)
    second = threading.Thread(target=wait_for_turn)
    second.start()
    for _ in range(3000):  # until the second request is queued behind the first (30 s at most)
        if gate.waiting == 1:
            break
        threading.Event().wait(0.01)
    assert gate.waiting == 1
    with pytest.raises(Busy, match="busy"), gate.turn():
        pass
    release.set()
    first.join(30)
    second.join(30)
    assert waited == [True] and gate.waiting == 0
