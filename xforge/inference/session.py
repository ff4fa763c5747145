"""A multi-turn conversation about one image, with the image's features computed once."""

from __future__ import annotations

import logging
from typing import Any

from xforge.data.conversations import assistant_message, user_message
from xforge.inference.backend import Backend
from xforge.inference.inputs import ImageInput, load_input
from xforge.inference.result import AnalysisResult

logger = logging.getLogger(__name__)


class ChatSession:
    """Ask questions about one image; the history is kept as chat-template messages.

    The backend prepares the image once (:meth:`Backend.prepare`); each :meth:`ask` answers from that state
    and the messages so far. :meth:`set_image` switches to another image and starts a new conversation.
    """

    def __init__(self, backend: Backend, image_or_path):
        self.backend = backend
        self.messages: list[dict[str, Any]] = []
        self.results: list[AnalysisResult] = []
        self.set_image(image_or_path)

    @property
    def engine(self) -> str:
        return self.backend.engine

    @property
    def image(self) -> ImageInput:
        return self._image

    @property
    def last_result(self) -> AnalysisResult | None:
        return self.results[-1] if self.results else None

    @property
    def history(self) -> list[tuple[str, AnalysisResult]]:
        """(question, answer) pairs of this image's conversation, oldest first."""
        return [(r.question or "", r) for r in self.results]

    def set_image(self, image_or_path) -> None:
        """Load and prepare a new image; on a read error the current image and history are kept."""
        image = load_input(image_or_path)
        prepared = self.backend.prepare(image.array, image.source_path)
        self._image, self._prepared = image, prepared
        self.messages, self.results = [], []
        logger.info("chat: image %s (%dx%d) ready", image.name, image.array.shape[1], image.array.shape[0])

    def ask(self, text: str) -> AnalysisResult:
        """Answer ``text`` in the context of the conversation so far."""
        text = text.strip()
        if not text:
            raise ValueError("empty question")
        messages = [*self.messages, user_message(text, with_image=not self.messages)]
        reply = self.backend.respond(self._prepared, messages)
        result = reply.result
        if not reply.new_mask and self.results:
            # A follow-up such as "why?" draws no new mask: the region under discussion is still the last one.
            prev = self.results[-1]
            result.prob_map, result.mask, result.regions = prev.prob_map, prev.mask, prev.regions
        self.messages = [*messages, assistant_message(reply.history_text)]
        self.results.append(result)
        return result

    def to_dict(self) -> dict[str, Any]:
        """The conversation as JSON-ready data: the image, the engine, each turn's answer, the messages."""
        return {
            "image": self._image.source_path or self._image.name,
            "engine": self.engine,
            "turns": [r.to_dict() for r in self.results],
            "messages": self.messages,
        }
