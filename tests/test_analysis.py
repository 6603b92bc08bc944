"""Causal-vs-bidirectional similarity per layer, checked against two separately loaded models."""

from __future__ import annotations

import numpy as np
import torch

from lab import LLM2Vec
from lab.analysis import layerwise_similarity, tokenwise_similarity


def test_tokenwise_similarity_matches_two_independent_models():
    text = "The cat sat on the mat while the dog slept."
    bidirectional = LLM2Vec.from_pretrained("tiny-llama")
    causal = LLM2Vec.from_pretrained("tiny-llama", bidirectional=False)
    ours = tokenwise_similarity(bidirectional, text)  # (L+1, T)
    batch = causal.collate(causal.tokenize([text]))
    with torch.no_grad():
        a = causal.forward(batch, output_hidden_states=True).hidden_states
        b = bidirectional.forward(batch, output_hidden_states=True).hidden_states
    manual = np.array(
        [[float(torch.cosine_similarity(x[0, t], y[0, t], dim=0)) for t in range(x.shape[1])] for x, y in zip(a, b)]
    )
    np.testing.assert_allclose(ours, manual, atol=1e-5)
    assert np.allclose(ours[0], 1.0)  # embeddings do not attend
    assert ours[1, -1] > 0.99999  # in layer 1 the last token sees the same inputs either way
    assert ours[1:, 0].min() < 0.999  # the first token sees the whole sentence only when bidirectional


def test_layerwise_similarity_ignores_padding_and_batching():
    model = LLM2Vec.from_pretrained("tiny-llama")
    texts = ["short one", "a much longer sentence with many more tokens in it than the first"]
    together = layerwise_similarity(model, texts, batch_size=2)
    tokens = [len(f["input_ids"]) for f in model.tokenize(texts)]
    separately = [tokenwise_similarity(model, t).mean(axis=1) for t in texts]
    expected = (separately[0] * tokens[0] + separately[1] * tokens[1]) / sum(tokens)
    np.testing.assert_allclose(together, expected, atol=1e-5)
    assert model.config.bidirectional and not model.model.config.is_causal  # the mode is restored afterwards
