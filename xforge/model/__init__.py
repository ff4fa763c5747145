"""The xforge model: VLM + LoRA emits <SEG>, SAM2 decodes the mask, a forensic stream sees the pixels.

See docs/ARCHITECTURE.md ("From an image to an answer") and ``xforge.model.modeling``.
"""

from xforge.model.config import XForgeConfig
from xforge.model.modeling import (
    DEFAULT_TRAINABLE,
    TRAINABLE_GROUPS,
    GenerationOutput,
    ImageFeatures,
    XForgeModel,
    XForgeOutput,
)
from xforge.model.processing import XForgeProcessor

__all__ = [
    "DEFAULT_TRAINABLE",
    "TRAINABLE_GROUPS",
    "GenerationOutput",
    "ImageFeatures",
    "XForgeConfig",
    "XForgeModel",
    "XForgeOutput",
    "XForgeProcessor",
]
