"""The classical, weight-free forensic engine (copy-move, double-JPEG, JPEG grid and ghost, CFA, noise and ELA cues,
fused and explained)."""

from xforge.forensics.engine import MAX_WORKING_PIXELS, ForensicEngine, ForensicResult

__all__ = ["MAX_WORKING_PIXELS", "ForensicEngine", "ForensicResult"]
