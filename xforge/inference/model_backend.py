"""The model backend: a thin adapter from :class:`~xforge.model.XForgePredictor` to the Backend protocol.

:meth:`ModelBackend.prepare` runs the two image encoders once (``XForgePredictor.encode_image``); every turn
then answers from those cached features, so a follow-up question costs only the language model and the mask
decoder. What is left here is turning a ``GenerationOutput`` into an :class:`AnalysisResult`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from xforge.data.conversations import SEG_TOKEN, user_message
from xforge.inference.backend import Backend, Reply, last_user_text
from xforge.inference.result import AnalysisResult

ENGINE_NAME = "model"
DEFAULT_MAX_NEW_TOKENS = 256


def _clean_text(text: str) -> str:
    """The answer as people read it: ``<SEG>`` removed, spacing around it tidied."""
    out = re.sub(r"[ \t]+([.,;:!?])", r"\1", text.replace(SEG_TOKEN, ""))
    return re.sub(r"[ \t]{2,}", " ", out).strip()


class ModelBackend(Backend):
    """Answers with a trained (or tiny test) XForge checkpoint."""

    engine = ENGINE_NAME

    def __init__(self, model, processor, *, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, name: str = ""):
        from xforge.model.predictor import XForgePredictor

        self.predictor = XForgePredictor(model.eval(), processor)
        self.max_new_tokens = max_new_tokens
        self.name = name

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str | os.PathLike,
        options=None,
        *,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    ) -> ModelBackend:
        """Load a checkpoint with ``options`` (``xforge.model.LoadOptions``, inference defaults filled in)."""
        from xforge.model import LoadOptions, XForgeModel, XForgeProcessor

        options = (options or LoadOptions()).for_inference()
        model = XForgeModel.from_pretrained(str(path_or_id), options)
        if not options.quantized:
            # Folding LoRA into the weights removes its per-token overhead; peft cannot fold into
            # quantised weights without rounding, so quantised models keep the adapters separate.
            model.merge_adapters()
        processor = XForgeProcessor.from_pretrained(
            str(path_or_id), trust_remote_code=options.trust_remote_code
        )
        return cls(model, processor, max_new_tokens=max_new_tokens, name=str(path_or_id))

    @property
    def model(self):
        return self.predictor.model

    @property
    def processor(self):
        return self.predictor.processor

    def describe(self) -> str:
        return f"model {self.name}" if self.name else "model"

    def prepare(self, image: np.ndarray, source_path: str | None = None) -> Any:
        import torch

        with torch.inference_mode():
            return {"features": self.predictor.encode_image(image), "size": image.shape[:2]}

    def analyze_batch(
        self,
        images: Sequence[np.ndarray],
        question: str,
        source_paths: Sequence[str | None] | None = None,
    ) -> list[AnalysisResult]:
        """The batch goes through the model together: SAM2's image encoder runs once on the stack and the
        answers are generated as one left-padded batch (``XForgePredictor.encode_images``/``generate_batch``)."""
        import torch

        messages = [user_message(question, with_image=True)]
        with torch.inference_mode():
            features = self.predictor.encode_images(images)
            gens = self.predictor.generate_batch(
                [messages] * len(images), features, max_new_tokens=self.max_new_tokens
            )
        return [self._result(gen, img.shape[:2], messages) for gen, img in zip(gens, images)]

    def respond(self, prepared: Any, messages: list[dict[str, Any]]) -> Reply:
        import torch

        with torch.inference_mode():
            gen = self.predictor.generate(
                messages, features=prepared["features"], max_new_tokens=self.max_new_tokens
            )
        return Reply(
            result=self._result(gen, prepared["size"], messages),
            history_text=gen.text,
            new_mask=bool(gen.masks),
        )

    def _result(self, gen, size: tuple[int, int], messages: list[dict[str, Any]]) -> AnalysisResult:
        """An AnalysisResult from the model's GenerationOutput for an image of ``size`` (h, w)."""
        masks = [np.asarray(m, dtype=np.float32) for m in gen.masks]
        # Several <SEG> in one answer (several edited regions) are shown as one map: their pixelwise max.
        prob = np.max(np.stack(masks), axis=0) if masks else np.zeros(size, np.float32)
        text = _clean_text(gen.text)
        # One verdict: the generation made the text and the masks agree with the score's decision.
        verdict = gen.verdict
        return AnalysisResult(
            verdict=verdict,
            score=gen.score,
            scores=gen.scores,
            prob_map=prob,
            explanation=text,
            engine=self.engine,
            question=last_user_text(messages),
            evidence={"forced_verdict": gen.forced, "low_confidence_mask": gen.low_confidence_mask},
        )
