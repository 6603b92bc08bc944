"""Pool token states into one vector per text, over a mask that leaves out padding and instruction tokens.

The pooling mask is built once per batch by the encoder (``lab.encoder``): 1 for a token of the text itself, 0 for
padding and for an instruction's tokens, which the model attends to but which are never pooled.
"""

from __future__ import annotations

import torch

POOLING_MODES = ("mean", "weighted_mean", "last_token", "eos_token", "bos_token")
POOLING_ALIASES = {"eos_token": "last_token"}  # eos_token: append the tokenizer's EOS, then pool it (= last token)


def canonical_pooling(mode: str) -> str:
    """Validate a pooling name and fold its alias; ``ValueError`` lists the valid names."""
    if mode not in POOLING_MODES:
        raise ValueError(f"Unknown pooling {mode!r}; expected one of {', '.join(POOLING_MODES)}.")
    return POOLING_ALIASES.get(mode, mode)


def mean_pool(hidden: torch.Tensor, pool_mask: torch.Tensor) -> torch.Tensor:
    """Average of the pooled tokens. hidden (B, T, C), pool_mask (B, T) -> (B, C)."""
    mask = pool_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    hidden = hidden.masked_fill(mask == 0, 0.0)  # padding can hold NaN in some kernels; NaN * 0 would still be NaN
    return hidden.sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)  # (B, C)


def position_weights(pool_mask: torch.Tensor) -> torch.Tensor:
    """Weights 1, 2, ..., n over the n pooled tokens of each row, normalised to sum to 1. (B, T) -> (B, T).

    Later tokens of a causal model have seen more of the text, so they count more (Muennighoff 2022, SGPT).
    """
    mask = pool_mask.float()
    ranks = mask.cumsum(dim=1) * mask  # (B, T): 1..n on pooled tokens, 0 elsewhere
    return ranks / ranks.sum(dim=1, keepdim=True).clamp_min(1e-9)


def weighted_mean_pool(hidden: torch.Tensor, pool_mask: torch.Tensor) -> torch.Tensor:
    """Position-weighted mean of the pooled tokens. (B, T, C), (B, T) -> (B, C)."""
    weights = position_weights(pool_mask).to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    hidden = hidden.masked_fill(weights == 0, 0.0)
    return (hidden * weights).sum(dim=1)  # (B, C)


def last_token_pool(hidden: torch.Tensor, pool_mask: torch.Tensor) -> torch.Tensor:
    """State of each row's last pooled token, wherever padding put it. (B, T, C), (B, T) -> (B, C)."""
    positions = torch.arange(pool_mask.shape[1], device=pool_mask.device)  # (T,)
    last = (positions * (pool_mask > 0)).argmax(dim=1)  # (B,) index of the last pooled token
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]  # (B, C)


def first_token_pool(hidden: torch.Tensor, pool_mask: torch.Tensor) -> torch.Tensor:
    """State of each row's first pooled token (the BOS for ``bos_token``). (B, T, C), (B, T) -> (B, C)."""
    first = (pool_mask > 0).int().argmax(dim=1)  # (B,) index of the first pooled token
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), first]  # (B, C)


POOLERS = {
    "mean": mean_pool,
    "weighted_mean": weighted_mean_pool,
    "last_token": last_token_pool,
    "bos_token": first_token_pool,
}


def pool(hidden: torch.Tensor, pool_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Pool ``hidden`` (B, T, C) over ``pool_mask`` (B, T) with the named mode -> (B, C)."""
    return POOLERS[canonical_pooling(mode)](hidden, pool_mask)
