"""The one batch path from token ids to vectors: ``length_batches`` groups texts of similar length, ``pad`` features
into a ``Batch``, ``forward`` it through the bare decoder, ``embed`` it (forward + pool in fp32).

``LLM2Vec.encode`` and every trainer's collator (MNTP, SimCSE, supervised) go through these functions, so a text is
trained exactly as it is encoded: same padding, same position ids, same pooling mask.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from lab.pooling import pool


@dataclass
class Batch:
    """A padded batch ready for the decoder; every tensor is (B, T).

    The one batch type of the lab: ``LLM2Vec.encode`` and every trainer's collator build it with ``pad``, so a text is
    trained exactly as it is encoded. Fields read like a mapping (``batch["input_ids"]``) for the HF Trainer.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    pool_mask: torch.Tensor  # 1 on the tokens that are pooled: the text's own, never padding or instruction
    labels: torch.Tensor | None = None  # MNTP targets aligned with input_ids (IGNORE_INDEX elsewhere); None to encode

    def tensors(self) -> dict[str, torch.Tensor]:
        """The fields that are set."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        return replace(self, **{k: v.to(device, non_blocking=non_blocking) for k, v in self.tensors().items()})

    def pin_memory(self) -> Batch:
        """Called by a ``DataLoader`` with ``pin_memory=True`` (GPU training)."""
        return replace(self, **{k: v.pin_memory() for k, v in self.tensors().items()})

    def rows(self, start: int, stop: int) -> Batch:
        """Rows ``start:stop``, without the columns that are padding in every one of them."""
        keep = self.attention_mask[start:stop].bool().any(dim=0)  # (T,)
        return replace(self, **{k: v[start:stop][:, keep] for k, v in self.tensors().items()})

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def __contains__(self, key: object) -> bool:
        return key in self.tensors()

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.tensors()[key]


def length_batches(lengths: Sequence[int], batch_size: int, max_tokens: int | None = None) -> list[np.ndarray]:
    """Indices of texts grouped into batches, longest first; every index once.

    By count (``max_tokens`` None): ``batch_size`` texts a batch. By token budget: as many texts as keep rows x the
    batch's longest text <= ``max_tokens`` (a text longer than the budget runs alone), so short texts share big batches
    (large matrix products, few Python steps) and long ones small batches (bounded memory). Longest first, as
    sentence-transformers does: a batch too big for the device fails at once, not at the end.
    """
    sizes = np.maximum(np.asarray(lengths, dtype=np.int64).reshape(-1), 1)  # pad() gives an empty text one token
    order = np.argsort(-sizes, kind="stable")  # longest first; ties keep input order
    if max_tokens is None:
        return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    batches, start = [], 0
    while start < len(order):
        width = int(sizes[order[start]])  # the batch's longest text: sorted, so its first
        rows = max(1, max_tokens // width)  # rows x width <= max_tokens; one row even past the budget
        batches.append(order[start : start + rows])
        start += rows
    return batches


def pad(features: Sequence[dict[str, Any]], pad_token_id: int, padding_side: str = "right") -> Batch:
    """Pad token-id features (``input_ids``, optional ``pool_mask``: all tokens if absent) into a ``Batch``.

    Position ids count from each row's first real token (0..n-1), so the padding side never moves RoPE positions;
    right padding gives 0..T-1 on every row. An empty feature becomes one attended, pooled pad token.
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"Unknown padding_side {padding_side!r}; expected 'left' or 'right'.")
    lengths = [max(len(f["input_ids"]), 1) for f in features]
    rows, width = len(features), max(lengths)
    input_ids = torch.full((rows, width), int(pad_token_id), dtype=torch.long)  # (B, T)
    attention_mask = torch.zeros((rows, width), dtype=torch.long)  # (B, T)
    pool_mask = torch.zeros((rows, width), dtype=torch.long)  # (B, T)
    for row, (f, length) in enumerate(zip(features, lengths)):
        span = slice(width - length, width) if padding_side == "left" else slice(0, length)
        attention_mask[row, span] = 1
        if len(f["input_ids"]) == 0:  # an empty string with a tokenizer that adds nothing: one pad token, pooled
            pool_mask[row, span] = 1
            continue
        input_ids[row, span] = torch.as_tensor(np.asarray(f["input_ids"]), dtype=torch.long)
        own = f.get("pool_mask")
        pool_mask[row, span] = 1 if own is None else torch.as_tensor(np.asarray(own), dtype=torch.long)
    leading = torch.tensor([width - n if padding_side == "left" else 0 for n in lengths])  # (B,) pads before text
    position_ids = (torch.arange(width)[None, :] - leading[:, None]).clamp_min(0)  # (B, T): 0..n-1 on real tokens
    return Batch(input_ids, attention_mask, position_ids, pool_mask)


def forward(model: nn.Module, batch: Batch, output_hidden_states: bool = False):
    """Run the bare decoder on a batch (already on its device); returns the transformers output."""
    return model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=batch.position_ids,
        output_hidden_states=output_hidden_states,
        use_cache=False,
    )


def embed(model: nn.Module, batch: Batch, pooling: str) -> torch.Tensor:
    """Pooled fp32 embeddings of a batch through the decoder, with gradients if enabled. -> (B, C).

    The one forward-and-pool of the lab: ``LLM2Vec.encode`` and the contrastive trainers both call it.
    """
    hidden = forward(model, batch).last_hidden_state.float()  # (B, T, C) pooled in fp32 even for bf16 models
    return pool(hidden, batch.pool_mask.to(hidden.device), pooling)  # (B, C)
