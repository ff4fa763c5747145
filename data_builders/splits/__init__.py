"""Split protocols that reproduce published split lists exactly: ``catnet``, ``mvss``, ``trufor-test``."""

from __future__ import annotations

import importlib

from data_builders.splits.spec import ListSpec, Protocol, SplitResult, build_protocol

_MODULES = {"catnet": "catnet", "mvss": "mvss", "trufor-test": "trufor_test"}
PROTOCOL_NAMES = tuple(_MODULES)


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; unknown names raise KeyError listing the known ones."""
    try:
        module = _MODULES[name.lower()]
    except KeyError:
        raise KeyError(f"unknown protocol {name!r}; known: {', '.join(_MODULES)}") from None
    return importlib.import_module(f"data_builders.splits.{module}").PROTOCOL


__all__ = ["PROTOCOL_NAMES", "ListSpec", "Protocol", "SplitResult", "build_protocol", "get_protocol"]
