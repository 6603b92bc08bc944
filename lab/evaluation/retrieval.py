"""Retrieval and reranking metrics over cosine rankings, with binary relevance (as MTEB computes them, via trec_eval).

Retrieval ranks a whole corpus for each query: nDCG@10 (MTEB's main score), MRR@10 and recall@100. Reranking ranks a
short candidate list per query: mean average precision (MAP) and MRR@10.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True).clip(1e-12)


def ndcg_at_k(ranking: Sequence[int], relevant: set[int], k: int) -> float:
    """DCG of the top ``k`` (gain 1 / log2(rank + 1) per relevant item) over the DCG of a perfect ranking."""
    dcg = sum(1.0 / np.log2(rank + 2) for rank, item in enumerate(ranking[:k]) if item in relevant)
    ideal = sum(1.0 / np.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return float(dcg / ideal) if ideal else 0.0


def reciprocal_rank_at_k(ranking: Sequence[int], relevant: set[int], k: int) -> float:
    """1 / rank of the first relevant item within the top ``k`` (0 if none is there)."""
    return next((1.0 / (rank + 1) for rank, item in enumerate(ranking[:k]) if item in relevant), 0.0)


def recall_at_k(ranking: Sequence[int], relevant: set[int], k: int) -> float:
    """Share of the relevant items found in the top ``k``."""
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def average_precision_at_k(ranking: Sequence[int], relevant: set[int], k: int) -> float:
    """Mean over relevant items of precision at their rank (0 for those below ``k``)."""
    hits, total = 0, 0.0
    for rank, item in enumerate(ranking[:k]):
        if item in relevant:
            hits += 1
            total += hits / (rank + 1)
    return total / len(relevant)


def rank_by_cosine(queries: np.ndarray, documents: np.ndarray, k: int) -> np.ndarray:
    """Indices of each query's ``k`` most cosine-similar documents, best first. (q, d), (n, d) -> (q, min(k, n))."""
    sims = _unit(queries) @ _unit(documents).T  # (q, n)
    k = min(k, sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # (q, k) unordered
    order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)  # (q, k)


def evaluate_retrieval(queries: np.ndarray, documents: np.ndarray, relevant: Sequence[set[int]]) -> dict[str, float]:
    """nDCG@10, MRR@10, recall@10 and recall@100 averaged over queries; ``relevant[i]``: query i's document indices."""
    if len(queries) != len(relevant) or any(not r for r in relevant):
        raise ValueError(
            f"Need one non-empty relevant set per query; got {len(queries)} queries and {len(relevant)} sets."
        )
    rankings = rank_by_cosine(queries, documents, 100)
    return {
        "ndcg_at_10": float(np.mean([ndcg_at_k(r, rel, 10) for r, rel in zip(rankings, relevant)])),
        "mrr_at_10": float(np.mean([reciprocal_rank_at_k(r, rel, 10) for r, rel in zip(rankings, relevant)])),
        "recall_at_10": float(np.mean([recall_at_k(r, rel, 10) for r, rel in zip(rankings, relevant)])),
        "recall_at_100": float(np.mean([recall_at_k(r, rel, 100) for r, rel in zip(rankings, relevant)])),
    }


def evaluate_reranking(
    queries: np.ndarray, documents: np.ndarray, candidates: Sequence[Sequence[int]], relevant: Sequence[set[int]]
) -> dict[str, float]:
    """MAP and MRR@10 of each query's candidates (document indices) ranked by cosine, averaged over queries."""
    q, d = _unit(queries), _unit(documents)
    maps, mrrs = [], []
    for i, (pool, rel) in enumerate(zip(candidates, relevant, strict=True)):
        pool = np.asarray(pool)
        ranking = pool[np.argsort(-(d[pool] @ q[i]), kind="stable")]  # candidates best first
        maps.append(average_precision_at_k(list(ranking), rel, len(ranking)))
        mrrs.append(reciprocal_rank_at_k(list(ranking), rel, 10))
    return {"map": float(np.mean(maps)), "mrr_at_10": float(np.mean(mrrs))}
