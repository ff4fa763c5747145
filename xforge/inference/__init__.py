"""Inference: the Detector API, chat sessions, batch detection and overlays."""

from xforge.inference.detector import DEFAULT_QUESTION, Detector
from xforge.inference.result import AnalysisResult
from xforge.inference.session import ChatSession

__all__ = ["DEFAULT_QUESTION", "AnalysisResult", "ChatSession", "Detector"]
