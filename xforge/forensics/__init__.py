"""The classical, weight-free forensic engine (copy-move, noise, JPEG and ELA cues, fused and explained)."""

from xforge.forensics.engine import MAX_WORKING_PIXELS, ForensicEngine, ForensicResult

__all__ = ["MAX_WORKING_PIXELS", "ForensicEngine", "ForensicResult"]
