"""The InfoNCE loss against a hand computation, and SimCSE's dropout noise really on in training, off in eval."""

from __future__ import annotations

import math

import pytest
import torch

from lab.encoder import EncoderConfig, LLM2Vec
from lab.tiny import TINY_ARCHITECTURES, tiny_model, tiny_tokenizer
from lab.training.dropout import set_attention_dropout
from lab.training.losses import SCALE, info_nce


def hand_info_nce(q: torch.Tensor, p: torch.Tensor, n: torch.Tensor | None, scale: float) -> float:
    """Mean over queries of -log softmax(target), with explicit loops and math.exp / math.log."""
    candidates = list(p) + (list(n) if n is not None else [])
    total = 0.0
    for i, query in enumerate(q):
        sims = []
        for c in candidates:
            cos = float(query @ c) / (float(query.norm()) * float(c.norm()))
            sims.append(scale * cos)
        log_sum_exp = math.log(sum(math.exp(s) for s in sims))
        total += log_sum_exp - sims[i]
    return total / len(q)


@pytest.mark.parametrize("with_negatives", [False, True])
def test_info_nce_matches_hand_computation(with_negatives):
    g = torch.Generator().manual_seed(0)
    q, p, n = (torch.randn(5, 8, generator=g, dtype=torch.float64) for _ in range(3))
    negatives = n if with_negatives else None
    got = info_nce(q, p, negatives, scale=SCALE).item()
    assert got == pytest.approx(hand_info_nce(q, p, negatives, SCALE), rel=1e-9)


def test_info_nce_scale_is_temperature_005_and_rewards_aligned_pairs():
    assert SCALE == pytest.approx(1 / 0.05)
    q = torch.eye(4)
    assert info_nce(q, q).item() < 1e-6  # each positive identical and the others orthogonal: near-zero loss
    assert info_nce(q, q.flip(0)).item() > 10  # positives point elsewhere: large loss


def test_hard_negatives_raise_the_loss():
    g = torch.Generator().manual_seed(1)
    q = torch.randn(4, 16, generator=g)
    p = q + 0.5 * torch.randn(4, 16, generator=g)
    assert info_nce(q, p, q + 0.1 * torch.randn(4, 16, generator=g)).item() > info_nce(q, p).item()


def two_passes(encoder: LLM2Vec, texts: list[str], train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    encoder.model.train(train)
    batch = encoder.collate(encoder.tokenize(texts))
    with torch.no_grad():
        return encoder.embed_batch(batch), encoder.embed_batch(batch)


@pytest.mark.parametrize("arch", sorted(TINY_ARCHITECTURES))
def test_dropout_differs_in_training_and_not_in_eval(arch, sentences):
    impl = "eager" if arch == "gemma2" else "sdpa"
    encoder = LLM2Vec.from_model(tiny_model(arch, attn_implementation=impl), tiny_tokenizer(), EncoderConfig())
    a, b = two_passes(encoder, sentences, train=True)
    assert torch.equal(a, b), "a Llama-style model has no dropout until we switch it on"
    assert set_attention_dropout(encoder.model, 0.3) == encoder.model.config.num_hidden_layers
    a, b = two_passes(encoder, sentences, train=True)
    assert not torch.allclose(a, b, atol=1e-4)
    a, b = two_passes(encoder, sentences, train=False)
    assert torch.equal(a, b)


def test_dropout_rejects_bad_probability_and_models_without_attention():
    with pytest.raises(ValueError, match="in \\[0, 1\\); got 1.5"):
        set_attention_dropout(tiny_model("llama"), 1.5)
    with pytest.raises(ValueError, match="no attention module"):
        set_attention_dropout(torch.nn.Linear(2, 2), 0.1)


@pytest.mark.slow
def test_dropout_on_smollm2(smollm2, sentences):
    encoder = smollm2  # the shared session model: dropout is switched back off below
    try:
        set_attention_dropout(encoder.model, 0.3)
        a, b = two_passes(encoder, sentences[:2], train=True)
        cos = torch.nn.functional.cosine_similarity(a, b)
        assert not torch.allclose(a, b, atol=1e-4) and (cos > 0.5).all()  # noisy views of the same sentence
        a, b = two_passes(encoder, sentences[:2], train=False)
        assert torch.equal(a, b)
    finally:
        set_attention_dropout(encoder.model, 0.0)
        encoder.model.eval()
