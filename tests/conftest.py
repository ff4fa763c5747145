"""Shared pytest fixtures. Other areas may append their own fixtures below."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A tiny qwen2_5_vl xforge checkpoint folder (random weights, forensic stream on), built once."""
    from xforge.testing import build_tiny_checkpoint

    return build_tiny_checkpoint(
        tmp_path_factory.mktemp("tiny_xforge"), family="qwen2_5_vl", forensic_stream=True
    )
