"""Pieces both contrastive trainers share: pre-tokenised texts, padding them into batches, embedding a batch
through the (possibly DDP-wrapped) LoRA decoder, and one contrastive step with or without GradCache.

A batch is a flat dict of (B, T) tensors keyed ``<group>.<field>``: groups ``query``, ``positive`` and optionally
``negative``; fields ``input_ids``, ``attention_mask``, ``position_ids``, ``pool_mask``. Flat, so the Trainer (and
``LabTrainer.evaluate``) move it to the device as it is. The step returns ``(loss, n_correct, n_counted)`` as
``lab.training.common.LabTrainer`` expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from lab.pooling import pool
from lab.training.gradcache import cached_backward
from lab.training.losses import in_batch_accuracy, info_nce

GROUPS = ("query", "positive", "negative")


@dataclass
class Encoded:
    """One tokenised text: its ids and the mask of the tokens that are pooled (not the instruction's). Both (T,)."""

    input_ids: np.ndarray
    pool_mask: np.ndarray

    def __len__(self) -> int:  # what HF's LengthGroupedSampler reads (train_sampling_strategy: group_by_length)
        return len(self.input_ids)


def encode_texts(encoder, texts: Sequence) -> list[Encoded]:
    """Tokenise texts or (instruction, text) pairs exactly as ``LLM2Vec.encode`` would at inference."""
    return [Encoded(f["input_ids"], f["pool_mask"]) for f in encoder.tokenize(list(texts))]


def pad_group(items: Sequence[Encoded], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad one group -> input_ids, attention_mask, position_ids, pool_mask, each (B, T)."""
    width = max(len(e.input_ids) for e in items)
    ids = torch.full((len(items), width), pad_token_id, dtype=torch.long)  # (B, T)
    attention_mask = torch.zeros_like(ids)  # (B, T)
    pool_mask = torch.zeros_like(ids)  # (B, T)
    for row, e in enumerate(items):
        n = len(e.input_ids)
        ids[row, :n] = torch.from_numpy(np.asarray(e.input_ids, dtype=np.int64))
        attention_mask[row, :n] = 1
        pool_mask[row, :n] = torch.from_numpy(np.asarray(e.pool_mask, dtype=np.int64))
    position_ids = torch.arange(width).expand_as(ids).contiguous()  # (B, T) right padding: 0..n-1 on real tokens
    return {"input_ids": ids, "attention_mask": attention_mask, "position_ids": position_ids, "pool_mask": pool_mask}


def flatten_batch(groups: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``{"query": {...}, ...}`` -> ``{"query.input_ids": ..., ...}``, plus every group's ``input_ids`` and
    ``attention_mask`` flattened and concatenated (1-D) so the Trainer can count the tokens encoded."""
    batch = {f"{g}.{k}": v for g, group in groups.items() for k, v in group.items()}
    batch["input_ids"] = torch.cat([g["input_ids"].flatten() for g in groups.values()])  # (sum B*T,) tokens/s only
    batch["attention_mask"] = torch.cat([g["attention_mask"].flatten() for g in groups.values()])
    return batch


def group_of(batch: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """The (B, T) tensors of one group of a flat batch."""
    return {k.split(".", 1)[1]: v for k, v in batch.items() if k.startswith(name + ".")}


def embed(model: nn.Module, group: dict[str, torch.Tensor], pooling: str) -> torch.Tensor:
    """Pooled fp32 embeddings of a padded group through the decoder (B, T) -> (B, C), with gradients if enabled."""
    hidden = model(
        input_ids=group["input_ids"],
        attention_mask=group["attention_mask"],
        position_ids=group["position_ids"],
        use_cache=False,
    ).last_hidden_state.float()  # (B, T, C)
    return pool(hidden, group["pool_mask"], pooling)  # (B, C)


def chunk_group(group: dict[str, torch.Tensor], size: int) -> list[dict[str, torch.Tensor]]:
    """Split a padded group into row chunks of at most ``size`` (padding columns trimmed per chunk)."""
    chunks = []
    for start in range(0, group["input_ids"].shape[0], size):
        rows = {k: v[start : start + size] for k, v in group.items()}
        width = int(rows["attention_mask"].sum(dim=1).max())  # right padding: the longest real row
        chunks.append({k: v[:, :width] for k, v in rows.items()})
    return chunks


def contrastive_step(
    model: nn.Module, batch: dict[str, torch.Tensor], pooling: str, scale: float, chunk_size: int = 0
) -> tuple[torch.Tensor, int, int]:
    """InfoNCE of queries vs positives (+ hard negatives) -> (loss, n_correct, n_queries).

    ``chunk_size > 0`` with gradients enabled runs GradCache: the gradients are already accumulated into the
    parameters when this returns, and the loss handed back is a detached leaf (so the Trainer's own ``backward`` on
    it adds nothing). Otherwise the loss carries the graph for the Trainer to back-propagate.
    """
    groups = {g: group_of(batch, g) for g in GROUPS if f"{g}.input_ids" in batch}

    def loss_fn(*embeddings: torch.Tensor) -> torch.Tensor:
        return info_nce(*embeddings, scale=scale)

    if chunk_size and torch.is_grad_enabled():
        no_sync = getattr(model, "no_sync", None)
        chunks = [chunk_group(group, chunk_size) for group in groups.values()]
        loss, embeddings = cached_backward(lambda chunk: embed(model, chunk, pooling), chunks, loss_fn, no_sync)
        return loss.clone().requires_grad_(), in_batch_accuracy(*embeddings), embeddings[0].shape[0]
    embeddings = [embed(model, group, pooling) for group in groups.values()]  # each (B, C)
    return loss_fn(*embeddings), in_batch_accuracy(*embeddings), embeddings[0].shape[0]
