"""Pooling against plain Python loops over hand-built masks (padding on either side, instruction tokens left out)."""

from __future__ import annotations

import pytest
import torch

from lab.pooling import POOLING_MODES, canonical_pooling, pool, position_weights


def random_case(seed: int = 0):
    """Hidden states (4, 9, 5) and a pooling mask with left padding, right padding and a skipped instruction."""
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(4, 9, 5, generator=generator)
    mask = torch.zeros(4, 9, dtype=torch.long)
    mask[0, :] = 1  # no padding
    mask[1, 3:] = 1  # left padding
    mask[2, :5] = 1  # right padding
    mask[3, 6:8] = 1  # an instruction in 0..5 (attended, not pooled), then 2 text tokens, then padding
    hidden[mask == 0] = float("nan")  # whatever sits outside the mask must never leak in
    return hidden, mask


def loop_pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    rows = []
    for h, m in zip(hidden, mask):
        pooled = [h[t] for t in range(len(m)) if m[t]]
        if mode == "mean":
            rows.append(sum(pooled) / len(pooled))
        elif mode == "weighted_mean":  # weights 1..n over the pooled tokens, normalised
            n = len(pooled)
            rows.append(sum((i + 1) * v for i, v in enumerate(pooled)) / (n * (n + 1) / 2))
        elif mode in ("last_token", "eos_token"):
            rows.append(pooled[-1])
        elif mode == "bos_token":
            rows.append(pooled[0])
    return torch.stack(rows)


@pytest.mark.parametrize("mode", POOLING_MODES)
def test_pooling_matches_a_loop(mode):
    hidden, mask = random_case()
    torch.testing.assert_close(pool(hidden, mask, mode), loop_pool(hidden, mask, mode))


def test_position_weights_are_one_to_n_normalised():
    mask = torch.tensor([[0, 0, 1, 1, 1, 0]])
    expected = torch.tensor([[0, 0, 1, 2, 3, 0]]) / 6
    torch.testing.assert_close(position_weights(mask), expected)


def test_bf16_states_pool_without_nan():
    hidden, mask = random_case()
    assert torch.isfinite(pool(hidden.bfloat16(), mask, "mean")).all()


def test_unknown_pooling_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown pooling 'max'; expected one of mean, weighted_mean"):
        canonical_pooling("max")
