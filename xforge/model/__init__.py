"""The xforge model: VLM + LoRA emits <SEG>, SAM2 decodes the mask, a forensic stream sees the pixels.

See docs/ARCHITECTURE.md ("From an image to an answer"): ``modeling`` (the nn.Module), ``loading``
(build, load, save), ``predictor`` (answers about images), ``config`` (the settings tree).
"""

from xforge.model.config import XForgeConfig
from xforge.model.generation import GenerationOutput
from xforge.model.loading import LoadOptions
from xforge.model.modeling import DEFAULT_TRAINABLE, TRAINABLE_GROUPS, XForgeModel, XForgeOutput
from xforge.model.predictor import ImageFeatures, XForgePredictor
from xforge.model.processing import XForgeProcessor

__all__ = [
    "DEFAULT_TRAINABLE",
    "TRAINABLE_GROUPS",
    "GenerationOutput",
    "ImageFeatures",
    "LoadOptions",
    "XForgeConfig",
    "XForgeModel",
    "XForgeOutput",
    "XForgePredictor",
    "XForgeProcessor",
]
