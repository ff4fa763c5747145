"""Tiny xforge checkpoints for tests and CPU runs: the real classes, tiny configs, no download."""

from xforge.testing.tiny import TINY_SAM2_OVERRIDES, build_tiny_checkpoint, tiny_config

__all__ = ["TINY_SAM2_OVERRIDES", "build_tiny_checkpoint", "tiny_config"]
