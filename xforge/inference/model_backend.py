"""The model backend: XForgeModel + XForgeProcessor, image features encoded once per image.

:meth:`ModelBackend.prepare` runs the two image encoders (the VLM's vision tower and SAM2's image encoder)
through ``model.encode_image``; every turn then calls ``model.generate`` with those cached features, so a
follow-up question costs only the language model and the mask decoder.
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


def _placement(device, dtype, quantized: bool):
    """Device and dtype to load with: the GPU when there is one, bfloat16 there (``"auto"`` or unset).

    A quantised model is placed by bitsandbytes itself, so its device is left alone.
    """
    import torch

    if device is None and not quantized and torch.cuda.is_available():
        device = "cuda"
    on_gpu = device is not None and torch.device(device).type == "cuda"
    if dtype in (None, "auto"):
        dtype = torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else None
    elif not isinstance(dtype, torch.dtype):
        value = getattr(torch, str(dtype), None)
        if not isinstance(value, torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}: use bfloat16, float16, float32 or auto")
        dtype = value
    return device, dtype


def _clean_text(text: str) -> str:
    """The answer as people read it: ``<SEG>`` removed, spacing around it tidied."""
    out = re.sub(r"[ \t]+([.,;:!?])", r"\1", text.replace(SEG_TOKEN, ""))
    return re.sub(r"[ \t]{2,}", " ", out).strip()


class ModelBackend(Backend):
    """Answers with a trained (or tiny test) XForge checkpoint."""

    engine = ENGINE_NAME

    def __init__(self, model, processor, *, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, name: str = ""):
        self.model = model.eval()
        self.processor = processor
        self.max_new_tokens = max_new_tokens
        self.name = name

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str | os.PathLike,
        *,
        device=None,
        dtype=None,
        load_in_4bit: bool = False,
        load_in_8bit: bool = False,
        trust_remote_code: bool = False,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    ) -> ModelBackend:
        from xforge.model import XForgeModel, XForgeProcessor

        device, dtype = _placement(device, dtype, quantized=load_in_4bit or load_in_8bit)
        model = XForgeModel.from_pretrained(
            str(path_or_id),
            torch_dtype=dtype,
            device=device,
            load_in_4bit=load_in_4bit,
            load_in_8bit=load_in_8bit,
            trust_remote_code=trust_remote_code,
        )
        if not (load_in_4bit or load_in_8bit):
            # Folding LoRA into the weights removes its per-token overhead; peft cannot fold into
            # quantised weights without rounding, so quantised models keep the adapters separate.
            model.merge_adapters()
        processor = XForgeProcessor.from_pretrained(str(path_or_id))
        return cls(model, processor, max_new_tokens=max_new_tokens, name=str(path_or_id))

    def describe(self) -> str:
        return f"model {self.name}" if self.name else "model"

    def prepare(self, image: np.ndarray, source_path: str | None = None) -> Any:
        import torch

        with torch.inference_mode():
            return {"features": self.model.encode_image(image, self.processor), "size": image.shape[:2]}

    def analyze_batch(
        self,
        images: Sequence[np.ndarray],
        question: str,
        source_paths: Sequence[str | None] | None = None,
    ) -> list[AnalysisResult]:
        """The batch goes through the model together: SAM2's image encoder runs once on the stack and the
        answers are generated as one left-padded batch (``XForgeModel.encode_images``/``generate_batch``)."""
        import torch

        messages = [user_message(question, with_image=True)]
        with torch.inference_mode():
            features = self.model.encode_images(images, self.processor)
            gens = self.model.generate_batch(
                self.processor, [messages] * len(images), features, max_new_tokens=self.max_new_tokens
            )
        return [self._result(gen, img.shape[:2], messages) for gen, img in zip(gens, images)]

    def respond(self, prepared: Any, messages: list[dict[str, Any]]) -> Reply:
        import torch

        with torch.inference_mode():
            gen = self.model.generate(
                self.processor,
                messages,
                features=prepared["features"],
                max_new_tokens=self.max_new_tokens,
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
            prob_map=prob,
            explanation=text,
            engine=self.engine,
            question=last_user_text(messages),
            evidence={"forced_verdict": gen.forced, "low_confidence_mask": gen.low_confidence_mask},
        )
