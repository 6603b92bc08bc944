"""Pieces both contrastive trainers share: texts tokenised as ``LLM2Vec`` does, groups padded into ``Batch``es,
and one contrastive step with or without GradCache.

A ``ContrastiveBatch`` holds one ``lab.encoder.Batch`` per group (``query``, ``positive``, optionally ``negative``),
each built by the encoder's own ``pad`` and embedded by its own ``embed``: training and inference share one path. The
step returns ``(loss, n_correct, n_counted)`` as ``lab.training.trainer.LabTrainer`` expects.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from lab.batch import Batch, embed, pad
from lab.encoder import EncoderConfig, tokenize
from lab.training.gradcache import cached_backward
from lab.training.losses import in_batch_accuracy, info_nce

Feature = dict[str, np.ndarray]  # one tokenised text: ``input_ids`` and ``pool_mask``, both (T,)


def encode_texts(tokenizer, texts: Sequence, pooling: str, max_length: int) -> list[Feature]:
    """Tokenise texts or (instruction, text) pairs exactly as ``LLM2Vec.encode`` would at inference."""
    return tokenize(tokenizer, list(texts), EncoderConfig(pooling=pooling, max_length=max_length))


@dataclass
class ContrastiveBatch:
    """Padded groups of one contrastive step; row i of each group belongs to example i."""

    query: Batch
    positive: Batch
    negative: Batch | None = None

    def groups(self) -> list[Batch]:
        """The groups in loss-argument order: query, positive[, negative]."""
        return [g for g in (self.query, self.positive, self.negative) if g is not None]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> ContrastiveBatch:
        moved = {name: getattr(self, name) for name in ("query", "positive", "negative")}
        return replace(self, **{k: v.to(device, non_blocking) for k, v in moved.items() if v is not None})

    def pin_memory(self) -> ContrastiveBatch:
        moved = {name: getattr(self, name) for name in ("query", "positive", "negative")}
        return replace(self, **{k: v.pin_memory() for k, v in moved.items() if v is not None})

    # The Trainer counts tokens seen from ``batch["attention_mask"]``: every group's tokens, flattened.
    def __contains__(self, key: object) -> bool:
        return key in ("input_ids", "attention_mask")

    def __getitem__(self, key: str) -> Any:
        if key not in self:
            raise KeyError(key)
        return torch.cat([g[key].flatten() for g in self.groups()])  # (sum B*T,)

    def __len__(self) -> int:  # what HF's LengthGroupedSampler reads (train_sampling_strategy: group_by_length)
        return len(self.input_ids)


def pad_group(features: Sequence[Feature], pad_token_id: int) -> Batch:
    """Right-pad one group with the encoder's ``pad``."""
    return pad(features, pad_token_id, padding_side="right")


def chunk_group(group: Batch, size: int) -> list[Batch]:
    """Split a padded group into row chunks of at most ``size`` (all-padding columns trimmed per chunk)."""
    return [group.rows(start, start + size) for start in range(0, len(group), size)]


def contrastive_step(
    model: nn.Module, batch: ContrastiveBatch, pooling: str, scale: float, chunk_size: int = 0
) -> tuple[torch.Tensor, int, int]:
    """InfoNCE of queries vs positives (+ hard negatives) -> (loss, n_correct, n_queries).

    ``chunk_size > 0`` with gradients enabled runs GradCache: the gradients are already accumulated into the
    parameters when this returns, and the loss handed back is a detached leaf (so the Trainer's own ``backward`` on
    it adds nothing). Otherwise the loss carries the graph for the Trainer to back-propagate.
    """
    groups = batch.groups()

    def loss_fn(*embeddings: torch.Tensor) -> torch.Tensor:
        return info_nce(*embeddings, scale=scale)

    if chunk_size and torch.is_grad_enabled():
        no_sync = getattr(model, "no_sync", None)
        chunks = [chunk_group(group, chunk_size) for group in groups]
        loss, embeddings = cached_backward(lambda chunk: embed(model, chunk, pooling), chunks, loss_fn, no_sync)
        return loss.clone().requires_grad_(), in_batch_accuracy(*embeddings), embeddings[0].shape[0]
    embeddings = [embed(model, group, pooling) for group in groups]  # each (B, C)
    return loss_fn(*embeddings), in_batch_accuracy(*embeddings), embeddings[0].shape[0]
