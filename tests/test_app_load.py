"""Load test: 8 gradio_client clients at once on a loopback page; every request gets its own, correct answer."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from lab.encoder import LLM2Vec
from lab.explore.engine import Engine
from lab.explore.variants import tiny_variants
from tests.test_app import CORPUS, CORPUS_BOX, launch_tiny

CLIENTS = 8
REQUESTS_PER_CLIENT = 3
QUERIES = [
    f"query number {i}: {topic}"
    for i, topic in enumerate(
        [
            "guitar music",
            "stock prices",
            "dogs in snow",
            "cooking onions",
            "interest rates",
            "a concert",
            "winter",
            "money",
        ]
    )
]
LABELS = ["Tiny Uni", "Tiny Bi", "MiniLM"]
RECIPES = {
    "Tiny Uni": ("tiny-llama", False, "weighted_mean"),
    "Tiny Bi": ("tiny-llama", True, "mean"),
    "MiniLM": ("all-minilm-l6-v2", True, "mean"),
}


def expected_top3(texts_by_query: list[str]) -> dict[tuple[str, str], list[int]]:
    """(query, variant) -> the indices of the 3 best corpus texts, computed without the app."""
    out = {}
    for label, (model, bidirectional, pooling) in RECIPES.items():
        encoder = LLM2Vec.from_pretrained(model, bidirectional=bidirectional, pooling=pooling, device="cpu")
        corpus = encoder.encode(CORPUS, normalize_embeddings=True)
        queries = encoder.encode(texts_by_query, normalize_embeddings=True)
        for query, vector in zip(texts_by_query, queries):
            out[(query, label)] = list(np.argsort(-(corpus @ vector), kind="stable")[:3])
    return out


@pytest.mark.slow
def test_eight_concurrent_clients_all_answered_correctly():
    from gradio_client import Client

    expected = expected_top3(QUERIES)
    blocks, url = launch_tiny(Engine(tiny_variants(), device="cpu"), warm_up_umap=False)
    try:
        clients = [Client(url, verbose=False) for _ in range(CLIENTS)]

        def session(i: int) -> list[tuple[str, dict]]:
            answers = []
            for r in range(REQUESTS_PER_CLIENT):
                query = QUERIES[(i + r) % len(QUERIES)]
                job = clients[i].submit(CORPUS_BOX, query, "", LABELS, "variant default", 3, api_name="/search")
                answers.append((query, job.result(timeout=120)))
            return answers

        start = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(session, range(CLIENTS), timeout=300))
        elapsed = time.perf_counter() - start
    finally:
        blocks.close()
    answered = [a for client_answers in results for a in client_answers]
    assert len(answered) == CLIENTS * REQUESTS_PER_CLIENT
    for query, (status, _page, raw) in answered:
        assert "Top 3" in status, status
        for label in LABELS:
            assert [row["index"] for row in raw[label]] == expected[(query, label)], (query, label)
    print(f"{len(answered)} requests from {CLIENTS} clients answered in {elapsed:.1f} s")
