"""``xforge.Detector``: one object that answers "is this image edited, and where?".

Two engines sit behind the same API (see :mod:`xforge.inference.backend`): a trained XForge checkpoint
(:meth:`Detector.from_pretrained`) or the weight-free classical forensic engine (:meth:`Detector.default`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from xforge.data.conversations import user_message
from xforge.inference.backend import Backend
from xforge.inference.inputs import load_input
from xforge.inference.result import AnalysisResult
from xforge.inference.session import ChatSession

# One of the detection-and-localization questions the stage-2 conversations train on.
DEFAULT_QUESTION = "Is this image edited? Where?"


class Detector:
    """Analyse images and chat about them.

    >>> det = Detector.default()                      # classical engine, no weights
    >>> res = det.analyze("photo.jpg")                # verdict, score, mask, regions, explanation
    >>> session = det.chat("photo.jpg"); session.ask("Where was it edited?")
    """

    def __init__(self, backend: Backend):
        self.backend = backend

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str | os.PathLike,
        options=None,
        *,
        max_new_tokens: int | None = None,
        **option_fields,
    ) -> Detector:
        """Load a checkpoint folder or Hub id saved by ``XForgeModel.save_pretrained``.

        ``options`` is an ``xforge.model.LoadOptions`` (device, dtype, quantisation, remote code); without
        it, ``option_fields`` (e.g. ``device="cuda"``) make one.
        """
        from xforge.inference.model_backend import DEFAULT_MAX_NEW_TOKENS, ModelBackend
        from xforge.model.loading import LoadOptions

        options = options or LoadOptions(**option_fields)
        return cls(
            ModelBackend.from_pretrained(
                path_or_id, options, max_new_tokens=max_new_tokens or DEFAULT_MAX_NEW_TOKENS
            )
        )

    @classmethod
    def default(cls) -> Detector:
        """The weight-free classical forensic engine (CPU)."""
        from xforge.inference.classical_backend import ClassicalBackend

        return cls(ClassicalBackend())

    @property
    def engine(self) -> str:
        """``"model"`` or ``"classical"``."""
        return self.backend.engine

    def describe(self) -> str:
        return self.backend.describe()

    def analyze(self, image_or_path, question: str | None = None) -> AnalysisResult:
        """One answer about one image (a path, a PIL image or an HxW[x3|x4] array)."""
        image = load_input(image_or_path)
        prepared = self.backend.prepare(image.array, image.source_path)
        messages = [user_message(question or DEFAULT_QUESTION, with_image=True)]
        return self.backend.respond(prepared, messages).result

    def analyze_batch(
        self,
        images: Sequence,
        question: str | None = None,
        source_paths: Sequence[str | None] | None = None,
    ) -> list[AnalysisResult]:
        """Like :meth:`analyze` for several images at once (see :meth:`Backend.analyze_batch`)."""
        loaded = [load_input(img) for img in images]
        paths = source_paths if source_paths is not None else [im.source_path for im in loaded]
        return self.backend.analyze_batch([im.array for im in loaded], question or DEFAULT_QUESTION, paths)

    def chat(self, image_or_path) -> ChatSession:
        """Start a multi-turn conversation about an image; its features are computed once."""
        return ChatSession(self.backend, image_or_path)
