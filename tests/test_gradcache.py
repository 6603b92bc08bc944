"""GradCache gives the same parameter gradients as back-propagating the whole batch at once, dropout included."""

from __future__ import annotations

import pytest
import torch

from lab.encoder import EncoderConfig, LLM2Vec
from lab.tiny import tiny_model, tiny_tokenizer
from lab.training.dropout import set_attention_dropout
from lab.training.gradcache import RngState, cached_backward
from lab.training.losses import info_nce

QUERIES = [
    "A man is playing a guitar.",
    "Stock markets fell on Monday.",
    "The cat sat on the mat.",
    "Two dogs run in the park.",
    "Scientists found water ice on the Moon.",
    "The club signed a new striker.",
    "It was raining in the park.",
    "The central bank raised interest rates.",
]
POSITIVES = [
    "Someone plays the guitar.",
    "Shares dropped sharply.",
    "A cat is sitting on a mat.",
    "Dogs are running.",
    "Ice was discovered in lunar craters.",
    "A football team bought a forward.",
    "Rain fell on the park.",
    "Rates went up by half a point.",
]


def split_chunks(items: list[str], size: int) -> list[list[str]]:
    """``items`` in consecutive chunks of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def encoder(dropout: float) -> LLM2Vec:
    model = LLM2Vec.from_model(tiny_model("llama"), tiny_tokenizer(), EncoderConfig())
    set_attention_dropout(model.model, dropout)
    model.model.train()
    return model


def embed_fn(model: LLM2Vec):
    return lambda texts: model.embed_batch(model.collate(model.tokenize(list(texts))))  # (b, C)


def grads(model: LLM2Vec) -> dict[str, torch.Tensor]:
    out = {n: p.grad.clone() for n, p in model.model.named_parameters() if p.grad is not None}
    model.model.zero_grad(set_to_none=True)
    return out


def reference_loss(model: LLM2Vec, chunk_size: int) -> torch.Tensor:
    """Plain autograd over the whole batch, embedded chunk by chunk (so dropout draws masks in the same order)."""
    embed = embed_fn(model)
    q = torch.cat([embed(c) for c in split_chunks(QUERIES, chunk_size)])  # (B, C)
    p = torch.cat([embed(c) for c in split_chunks(POSITIVES, chunk_size)])  # (B, C)
    loss = info_nce(q, p)
    loss.backward()
    return loss.detach()


@pytest.mark.parametrize("dropout,chunk_size", [(0.0, 3), (0.3, 3), (0.3, 5)])
def test_cached_gradients_equal_full_batch_gradients(dropout, chunk_size):
    model = encoder(dropout)
    torch.manual_seed(123)
    expected_loss = reference_loss(model, chunk_size)
    expected = grads(model)
    torch.manual_seed(123)
    groups = [split_chunks(QUERIES, chunk_size), split_chunks(POSITIVES, chunk_size)]
    loss, embeddings = cached_backward(embed_fn(model), groups, info_nce)
    assert [e.shape[0] for e in embeddings] == [len(QUERIES), len(POSITIVES)]
    got = grads(model)
    assert loss.item() == pytest.approx(expected_loss.item(), rel=1e-6)
    assert got.keys() == expected.keys() and len(got) > 0
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-6, msg=name)


def test_without_dropout_cached_chunks_equal_one_big_batch():
    model = encoder(0.0)
    loss = info_nce(embed_fn(model)(QUERIES), embed_fn(model)(POSITIVES))  # no chunking at all
    loss.backward()
    expected = grads(model)
    cached_backward(embed_fn(model), [split_chunks(QUERIES, 2), split_chunks(POSITIVES, 4)], info_nce)
    got = grads(model)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-6, msg=name)


def test_without_rng_replay_dropout_gradients_would_differ():
    """The replay matters: re-embedding with fresh dropout masks gives other gradients."""
    model = encoder(0.3)
    torch.manual_seed(123)
    reference_loss(model, 4)
    expected = grads(model)
    torch.manual_seed(999)  # different masks in the reference-style pass
    reference_loss(model, 4)
    other = grads(model)
    assert any(not torch.allclose(expected[n], other[n], atol=1e-6) for n in expected)


def test_rng_replay_restores_the_callers_stream():
    torch.manual_seed(0)
    state = RngState.capture()
    first = torch.rand(3)
    with state.replay():
        again = torch.rand(3)
    after = torch.rand(3)
    torch.manual_seed(0)
    torch.rand(3)
    assert torch.equal(first, again) and torch.equal(after, torch.rand(3))
