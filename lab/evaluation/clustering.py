"""Clustering: mini-batch k-means with as many clusters as gold labels, scored by V-measure (as MTEB does).

V-measure is the harmonic mean of homogeneity (each cluster holds one label) and completeness (each label sits in one
cluster); it ignores cluster ids, so any permutation of a perfect clustering scores 1. k-means depends on its seed, so
the score is the mean over ``runs`` seeds.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.cluster import MiniBatchKMeans


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def v_measure(gold: Sequence, predicted: Sequence) -> float:
    """2 h c / (h + c), with h = 1 - H(gold | cluster) / H(gold) and c = 1 - H(cluster | gold) / H(cluster)."""
    _, g = np.unique(np.asarray(gold), return_inverse=True)
    _, k = np.unique(np.asarray(predicted), return_inverse=True)
    table = np.zeros((g.max() + 1, k.max() + 1))  # (labels, clusters) contingency counts
    np.add.at(table, (g, k), 1)
    h_gold, h_cluster, h_joint = _entropy(table.sum(1)), _entropy(table.sum(0)), _entropy(table.ravel())
    homogeneity = 1.0 if h_gold == 0 else 1 - (h_joint - h_cluster) / h_gold  # H(G|K) = H(G,K) - H(K)
    completeness = 1.0 if h_cluster == 0 else 1 - (h_joint - h_gold) / h_cluster
    total = homogeneity + completeness
    return float(2 * homogeneity * completeness / total) if total else 0.0


def evaluate_clustering(embeddings: np.ndarray, labels: Sequence, runs: int = 10, seed: int = 42) -> dict[str, float]:
    """Mean (and spread) of the V-measure of ``runs`` k-means runs (k = number of gold labels, batch 512)."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    n_clusters = len(set(labels))
    scores = []
    for run in range(runs):
        kmeans = MiniBatchKMeans(n_clusters, init="k-means++", n_init=1, batch_size=512, random_state=seed + run)
        scores.append(v_measure(labels, kmeans.fit_predict(embeddings)))
    return {"v_measure": float(np.mean(scores)), "v_measure_std": float(np.std(scores))}
