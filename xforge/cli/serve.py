"""``xforge serve``: the web page and the HTTP API on one local server."""

from __future__ import annotations

import argparse
import sys

from xforge.cli.detect import add_model_arguments, detector_from_args, setup_logging


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="a web page and an HTTP API for people and programs",
        description=(
            "Serve a web page (drop an image, see the verdict, the marked region and the explanation, ask "
            "follow-ups) and an HTTP API (POST /api/analyze returns the predictions record and the mask PNG). "
            "Binds to 127.0.0.1 unless --host says otherwise."
        ),
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 picks a free one)")
    p.add_argument(
        "--concurrency", type=int, default=1, metavar="N", help="analyses running at once (default 1)"
    )
    p.add_argument(
        "--max-queue",
        type=int,
        default=32,
        metavar="N",
        help="requests that may wait for the engine; more are refused with 503 (default 32)",
    )
    p.add_argument(
        "--max-upload-mb", type=float, default=20.0, metavar="MB", help="largest upload in MiB (default 20)"
    )
    p.add_argument(
        "--max-megapixels",
        type=float,
        default=50.0,
        metavar="MP",
        help="largest image in megapixels; larger ones are refused before decoding (default 50)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    add_model_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit code 0 after Ctrl-C, 2 on bad options or an engine that cannot be loaded."""
    import importlib.util

    setup_logging(args.verbose)
    if importlib.util.find_spec("gradio") is None:
        print("error: xforge serve needs Gradio: pip install 'xforge[serve]'", file=sys.stderr)
        return 2
    from xforge.serve.limits import UploadLimits
    from xforge.serve.service import ServeSettings, Service

    try:
        if not 0 <= args.port <= 65535:
            raise ValueError(f"--port must be 0..65535, got {args.port}")
        if args.concurrency < 1 or args.max_queue < 0:
            raise ValueError("--concurrency must be >= 1 and --max-queue >= 0")
        limits = UploadLimits(
            max_bytes=int(args.max_upload_mb * 2**20), max_pixels=int(args.max_megapixels * 1e6)
        )
        settings = ServeSettings(limits, concurrency=args.concurrency, max_queue=args.max_queue)
        detector = detector_from_args(args)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from xforge.serve.app import serve

    service = Service(detector, settings)

    def announce(url: str) -> None:
        print(f"xforge serve: {url} (engine: {detector.describe()}); API: POST {url}api/analyze", flush=True)

    try:
        serve(service, args.host, args.port, on_listening=announce)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
