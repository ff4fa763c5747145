"""XForgePredictor: a model, its processor and cached image features; answers questions about images.

As sam2 keeps ``SAM2ImagePredictor`` apart from ``SAM2Base``, the predictor is apart from the ``nn.Module``:
it encodes an image once (the VLM's vision tower and SAM2's image encoder, :class:`ImageFeatures`) and
answers any number of turns from those features. There is one generation path,
:meth:`XForgePredictor.generate_batch` (``xforge.model.generation``); :meth:`XForgePredictor.generate` is a
batch of one.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from xforge.data.images import load_image
from xforge.model.generation import GenerationOutput, generate_answers


@dataclass
class ImageFeatures:
    """Everything generation needs from one image, computed once (:meth:`XForgePredictor.encode_images`)."""

    image: np.ndarray
    vision: Any  # the backbone's get_image_features output, passed as ``mm_encoder_outputs``
    sam_embedding: torch.Tensor  # (1, C, S/16, S/16), forensic stream included
    sam_high_res: list[torch.Tensor]

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[0], self.image.shape[1]


class XForgePredictor:
    """Answers questions about images with ``model`` (an :class:`~xforge.model.XForgeModel`) and its
    ``processor`` (:class:`~xforge.model.XForgeProcessor`)."""

    def __init__(self, model, processor):
        self.model = model
        self.processor = processor

    @torch.no_grad()
    def encode_images(self, images: Sequence[Any]) -> list[ImageFeatures]:
        """Both image encoders, once per image: SAM2's (the costly one, fixed input size) on the whole stack,
        the VLM's vision tower one image at a time (its inputs differ in size)."""
        model, processor = self.model, self.processor
        arrays = [load_image(image) for image in images]
        embedding, high_res = model.encode_sam(torch.stack([processor.sam_image(a) for a in arrays]))
        fn = model.image_feature_fn()
        wanted = inspect.signature(fn).parameters
        features = []
        for i, array in enumerate(arrays):
            image_inputs = processor.image_inputs(array).to(model.device)
            vision = fn(**{k: v for k, v in image_inputs.items() if k in wanted}, return_dict=True)
            features.append(
                ImageFeatures(array, vision, embedding[i : i + 1], [h[i : i + 1] for h in high_res])
            )
        return features

    def encode_image(self, image: Any) -> ImageFeatures:
        """:meth:`encode_images` of one image; pass the result to :meth:`generate` to reuse it across turns."""
        return self.encode_images([image])[0]

    @torch.no_grad()
    def generate_batch(
        self,
        conversations: Sequence[Sequence[Mapping[str, Any]]],
        features: Sequence[ImageFeatures],
        **kwargs: Any,
    ) -> list[GenerationOutput]:
        """Answer several conversations (one image each) in left-padded batches: the text, one mask per
        ``<SEG>``, the detection score and the verdict they all agree on. ``kwargs`` as
        ``xforge.model.generation.generate_answers`` takes them (``max_new_tokens``, ``require_mask``, and
        transformers ``generate`` arguments; greedy by default)."""
        return generate_answers(self.model, self.processor, conversations, features, **kwargs)

    def generate(
        self,
        messages: Sequence[Mapping[str, Any]],
        image: Any = None,
        features: ImageFeatures | None = None,
        **kwargs: Any,
    ) -> GenerationOutput:
        """Answer the last user turn of ``messages`` about ``image`` (or cached ``features``): a batch of one."""
        if features is None:
            if image is None:
                raise ValueError("generate() needs an image or features from encode_image()")
            features = self.encode_image(image)
        return self.generate_batch([messages], [features], **kwargs)[0]
