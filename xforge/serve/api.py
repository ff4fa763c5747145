"""The HTTP API: ``POST /api/analyze`` (one image in, its predictions record and mask PNG out), ``GET /api/info``.

The record is built by :func:`xforge.predictions.prediction_record`, the function ``xforge detect`` uses, so
a line of ``predictions.jsonl`` and an API answer about the same file agree field for field (``image`` is
the uploaded file's name, ``id`` its stem, and ``source`` is null: an upload has no file on the server, and
no server path is ever sent back). The mask comes base64-encoded, byte for byte the PNG that
``xforge detect`` writes to ``masks/``.

Errors are JSON ``{"error": "<file>: <problem>"}`` with a 4xx status: 400 (empty or broken file), 413 (too
many bytes or pixels), 415 (not an accepted image type), 503 (queue full). Only uploaded bytes are read;
the API takes no paths.
"""

from __future__ import annotations

import base64
import logging
import shutil

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import JSONResponse

from xforge.predictions import encode_mask_png, mask_relpath, prediction_record
from xforge.serve.limits import UploadRejected, check_upload, client_name
from xforge.serve.service import Busy, Service

logger = logging.getLogger(__name__)

# Multipart framing around the file: boundaries and part headers are far below this.
MULTIPART_SLACK = 64 * 1024
_COPY_CHUNK = 1024 * 1024


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` on ``/api/`` routes with 413.

    The multipart parser spools a whole body before a route sees it, so the limit has to act here: at once
    on a declared ``Content-Length``, else while the chunks arrive.
    """

    def __init__(self, app, max_bytes: int, prefix: str = "/api/"):
        self.app, self.max_bytes, self.prefix = app, max_bytes, prefix

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(self.max_bytes, scope, receive, send)
            return
        seen = 0
        started = False

        async def counted_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLarge
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                await _too_large(self.max_bytes, scope, receive, send)


async def _too_large(max_bytes: int, scope, receive, send) -> None:
    limit = max_bytes - MULTIPART_SLACK
    response = JSONResponse({"error": f"request body exceeds the upload limit of {limit:,} bytes"}, 413)
    await response(scope, receive, send)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def build_router(service: Service) -> APIRouter:
    router = APIRouter(prefix="/api")

    @router.get("/info")
    def info() -> dict:
        """Which engine answers and what uploads are accepted."""
        s = service.settings
        return {
            "engine": service.engine,
            "engine_description": service.describe(),
            "limits": s.limits.describe(),
            "concurrency": s.concurrency,
            "max_queue": s.max_queue,
        }

    # A plain ``def``: FastAPI runs it on its thread pool, where waiting for the engine blocks no one else.
    @router.post("/analyze")
    def analyze(image: UploadFile = File(..., description="the image file to analyse")) -> JSONResponse:
        """Analyse one uploaded image; returns ``{"record": ..., "mask_png": base64, "engine_description"}``."""
        name = client_name(image.filename)
        folder = service.temp_dir("api")
        try:
            path = folder / "upload"
            with open(path, "wb") as out:
                shutil.copyfileobj(image.file, out, _COPY_CHUNK)
            loaded = check_upload(path, name, service.settings.limits)
            with service.gate.turn():
                result = service.detector.analyze(loaded)
        except UploadRejected as exc:
            return _error(exc.status, str(exc))
        except Busy as exc:
            return _error(503, str(exc))
        except Exception as exc:  # noqa: BLE001 -- the client gets a message, the log keeps the traceback
            logger.exception("analysis of upload %s failed", name)
            return _error(500, f"{name}: analysis failed ({type(exc).__name__})")
        finally:
            image.file.close()
            shutil.rmtree(folder, ignore_errors=True)
        sample_id = loaded.name
        record = prediction_record(sample_id, name, result, mask_relpath(sample_id), source=None)
        body = {
            "record": record,
            "mask_png": base64.b64encode(encode_mask_png(result.prob_map)).decode("ascii"),
            "engine_description": service.describe(),
        }
        return JSONResponse(body)

    return router
