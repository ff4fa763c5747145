"""One server for the page and the API: FastAPI routes under ``/api``, the Gradio page at ``/``.

Gradio is told to keep to itself: no analytics, no version check, its cache inside the server's own
temporary folder (removed on exit), only files it created or received are served, and uploads are capped
at the same size as the API's.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable

from xforge.serve.service import Service

logger = logging.getLogger(__name__)

# Set before gradio is imported: it reads them at import time.
OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "GRADIO_TELEMETRY_ENABLED": "False",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}


def quiet_gradio(cache_dir: str) -> None:
    """Switch off Gradio's network calls and point its file cache at ``cache_dir``."""
    os.environ.update(OFFLINE_ENV)
    os.environ["GRADIO_TEMP_DIR"] = cache_dir


def build_app(service: Service):
    """The ASGI app: ``/api/*`` (:mod:`xforge.serve.api`) and the page (:mod:`xforge.serve.ui`) at ``/``."""
    quiet_gradio(str(service.temp_root / "gradio"))
    import gradio as gr
    from fastapi import FastAPI

    from xforge.serve.api import MULTIPART_SLACK, BodyLimit, build_router
    from xforge.serve.ui import CSS, build_page

    # No docs page: Swagger UI loads its scripts from a CDN. The schema is at /api/openapi.json.
    app = FastAPI(title="xforge", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.include_router(build_router(service))
    max_bytes = service.settings.limits.max_bytes
    app.add_middleware(BodyLimit, max_bytes=max_bytes + MULTIPART_SLACK)
    page = build_page(service)
    theme = gr.themes.Default(primary_hue="red", neutral_hue="slate")
    return gr.mount_gradio_app(
        app,
        page,
        path="/",
        footer_links=[],
        allowed_paths=[],
        max_file_size=max_bytes,
        ssr_mode=False,  # server-side rendering would start a Node server; the page renders in the browser
        mcp_server=False,
        enable_monitoring=False,
        pwa=False,
        theme=theme,
        css=CSS,
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port), so the URL is known before serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.listen(128)
    return sock


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(0)


def serve(service: Service, host: str, port: int, on_listening: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted; ``on_listening`` gets the URL once the socket accepts connections."""
    import uvicorn

    if threading.current_thread() is threading.main_thread():
        # uvicorn shuts down on SIGTERM, then raises it again with the handler found at start: make that
        # handler an exit, so the ``finally`` below still removes the temporary files.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    sock = bind(host, port)
    try:
        app = build_app(service)
        actual_port = sock.getsockname()[1]
        url_host = f"[{host}]" if ":" in host else host
        if on_listening:
            on_listening(f"http://{url_host}:{actual_port}/")
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        service.close()
