"""Helpers shared by the inference tests."""

from __future__ import annotations


class CountingEngine:
    """The real forensic engine, counting its analyses (the classical engine's 'image features')."""

    def __init__(self):
        from xforge.forensics import ForensicEngine

        self.engine = ForensicEngine()
        self.calls = 0

    def analyze(self, image, **kwargs):
        self.calls += 1
        return self.engine.analyze(image, **kwargs)
