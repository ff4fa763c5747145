"""Tiny xforge checkpoints for tests and CPU runs: the real classes, tiny configs, no download."""

from xforge.testing.families import qwen2_5_vl_config_and_processor
from xforge.testing.tiny import TINY_SAM2_OVERRIDES, build_tiny_checkpoint, tiny_config

__all__ = [
    "TINY_SAM2_OVERRIDES",
    "build_tiny_checkpoint",
    "qwen2_5_vl_config_and_processor",
    "tiny_config",
]
