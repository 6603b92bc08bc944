"""The contrastive (InfoNCE) loss of SimCSE and LLM2Vec's supervised stage, over in-batch and hard negatives.

Row i of ``queries`` should be closest to row i of ``positives``; every other positive in the batch (and every hard
negative) is a negative. Under ``torch.distributed`` the candidates of every process are gathered *with gradients*, so
each query is contrasted with the global batch, as in the paper's multi-GPU runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SCALE = 20.0  # 1 / temperature; SimCSE and LLM2Vec use temperature 0.05


def gather_with_grad(tensor: torch.Tensor) -> tuple[torch.Tensor, int]:
    """All processes' rows concatenated in rank order, gradients flowing back to each, and this rank's row offset.

    Outside ``torch.distributed`` (or with one process) it returns ``(tensor, 0)`` unchanged.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor, 0
    from torch.distributed.nn.functional import all_gather  # differentiable, unlike dist.all_gather

    return torch.cat(all_gather(tensor), dim=0), dist.get_rank() * tensor.shape[0]  # (world * B, C)


def info_nce(
    queries: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor | None = None,
    scale: float = SCALE,
    gather: bool = True,
) -> torch.Tensor:
    """Cross-entropy of each query over [all positives; all hard negatives] by cosine * scale; target: its positive.

    Args:
        queries, positives: (B, C) embeddings; row i of each forms a pair.
        negatives: optional (B, C) hard negatives (row i is query i's, and a negative for every query).
        scale: 1 / temperature.
        gather: contrast with the candidates of every process under ``torch.distributed``.
    """
    candidates = positives if negatives is None else torch.cat([positives, negatives], dim=0)  # (B or 2B, C)
    offset = 0
    if gather:
        # Gather positives and negatives separately so positives stay in one block of (world * B) rows.
        positives, offset = gather_with_grad(positives)
        candidates = positives if negatives is None else torch.cat([positives, gather_with_grad(negatives)[0]])
    logits = scale * F.normalize(queries, dim=-1) @ F.normalize(candidates, dim=-1).T  # (B, N) scaled cosines
    labels = torch.arange(queries.shape[0], device=queries.device) + offset  # (B,) query i's positive column
    return F.cross_entropy(logits, labels)


@torch.no_grad()
def in_batch_accuracy(queries: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor | None = None) -> int:
    """How many queries rank their own positive first among this process's candidates (a training metric)."""
    candidates = positives if negatives is None else torch.cat([positives, negatives], dim=0)  # (B or 2B, C)
    sims = F.normalize(queries.float(), dim=-1) @ F.normalize(candidates.float(), dim=-1).T  # (B, N)
    return int((sims.argmax(dim=1) == torch.arange(queries.shape[0], device=queries.device)).sum())
