"""The engine behind the page and the API: one Detector, a bounded queue, and the server's temporary files.

Page and API share one :class:`EngineGate`, so ``--concurrency`` bounds the analyses running at once
whichever door they came in by, and a request that would wait behind more than ``--max-queue`` others is
turned away at once (HTTP 503) instead of piling up.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from xforge.inference import Detector
from xforge.serve.limits import UploadLimits


class Busy(RuntimeError):
    """The queue is full; the client should retry later (HTTP 503)."""


class EngineGate:
    """At most ``concurrency`` holders at once and at most ``max_queue`` waiting for a turn."""

    def __init__(self, concurrency: int = 1, max_queue: int = 32):
        if concurrency < 1 or max_queue < 0:
            raise ValueError(f"need concurrency >= 1 and max_queue >= 0, got {concurrency}, {max_queue}")
        self.concurrency, self.max_queue = concurrency, max_queue
        self._slots = threading.Semaphore(concurrency)
        self._lock = threading.Lock()
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold one of the engine's slots for the ``with`` block; raises :class:`Busy` when the queue is full."""
        if not self._slots.acquire(blocking=False):
            with self._lock:
                if self._waiting >= self.max_queue:
                    raise Busy(f"the server is busy ({self._waiting} requests waiting); retry in a moment")
                self._waiting += 1
            try:
                self._slots.acquire()
            finally:
                with self._lock:
                    self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()


@dataclass
class ServeSettings:
    """What ``xforge serve`` was told: upload limits and queue sizes."""

    limits: UploadLimits
    concurrency: int = 1
    max_queue: int = 32


class Service:
    """The detector, its gate, the settings and a private temporary folder removed by :meth:`close`."""

    def __init__(self, detector: Detector, settings: ServeSettings, temp_root: str | None = None):
        self.detector = detector
        self.settings = settings
        self.gate = EngineGate(settings.concurrency, settings.max_queue)
        self.temp_root = Path(tempfile.mkdtemp(prefix="xforge-serve-", dir=temp_root))

    @property
    def engine(self) -> str:
        return self.detector.engine

    def describe(self) -> str:
        """Which engine answers, worded as the CLI words it."""
        return self.detector.describe()

    def temp_dir(self, kind: str) -> Path:
        """A fresh folder under the server's temporary root (``kind``: ``api`` or ``ui``)."""
        parent = self.temp_root / kind
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=parent))

    def close(self) -> None:
        shutil.rmtree(self.temp_root, ignore_errors=True)
