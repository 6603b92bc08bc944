"""Shared fixtures: offline settings, session-scoped real and tiny models."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from lab import LLM2Vec  # noqa: E402

SENTENCES = [
    "A man is playing a guitar on the street.",
    "The stock market fell sharply after the announcement.",
    "Two dogs run through the snow.",
    "Researchers discovered a new species of frog in the rainforest of Peru last spring.",
    "Hi.",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
]


@pytest.fixture(scope="session")
def smollm2() -> LLM2Vec:
    """The real SmolLM2-135M, bidirectional, mean pooling, fp32 on the CPU (the converted cache makes this ~1 s)."""
    return LLM2Vec.from_pretrained("smollm2-135m", device="cpu")


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    return list(SENTENCES)
