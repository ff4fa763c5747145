"""The backend protocol: what the Detector needs from an engine (the trained model or the classical one).

An engine works in two steps so a chat pays for the image once: :meth:`Backend.prepare` does the per-image
work (the model's vision and SAM2 features, or the classical engine's whole analysis) and
:meth:`Backend.respond` answers the last user turn of a conversation from that prepared state.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xforge.data.conversations import user_message
from xforge.inference.result import AnalysisResult


@dataclass
class Reply:
    """One answer: the result shown to the caller and the assistant text kept in the chat history.

    ``history_text`` is what the engine really said (the model's ``<SEG>`` kept, so the next turn's prompt
    matches what it was trained on); ``new_mask`` is False when the turn produced no mask of its own.
    """

    result: AnalysisResult
    history_text: str
    new_mask: bool = True


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """The text of the last user turn (what the engine is asked now)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    raise ValueError("the conversation has no user message")


class Backend(abc.ABC):
    """An engine behind :class:`xforge.Detector`."""

    #: which engine answered, written to every result and prediction line
    engine: str

    @abc.abstractmethod
    def prepare(self, image: np.ndarray, source_path: str | None = None) -> Any:
        """Per-image work done once per image (features or analysis), reused by every turn."""

    @abc.abstractmethod
    def respond(self, prepared: Any, messages: list[dict[str, Any]]) -> Reply:
        """Answer the last user message of ``messages`` (chat-template form, image placeholder first)."""

    def analyze_batch(
        self,
        images: Sequence[np.ndarray],
        question: str,
        source_paths: Sequence[str | None] | None = None,
    ) -> list[AnalysisResult]:
        """One single-turn answer per image, one image after another; the model backend overrides this to
        encode a batch's images together."""
        paths = list(source_paths) if source_paths is not None else [None] * len(images)
        messages = [user_message(question, with_image=True)]
        return [self.respond(self.prepare(img, src), messages).result for img, src in zip(images, paths)]

    def describe(self) -> str:
        """One line for people: which engine this is."""
        return self.engine
