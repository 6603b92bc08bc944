"""Numbers that compare variants on one corpus: label agreement of neighbours, neighbour overlap, rank correlation,
and anisotropy (why raw cosines of different variants are not on one scale).

Every function takes unit-length embeddings (n, d) and works on the full cosine matrix, excluding each text itself
from its neighbours; a corpus of at most a few thousand texts makes that matrix cheap.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr


def neighbours(vectors: np.ndarray, k: int) -> np.ndarray:
    """Indices (n, k) of each text's ``k`` nearest other texts by cosine, best first (ties keep corpus order)."""
    n = len(vectors)
    if not 1 <= k < n:
        raise ValueError(f"k must be from 1 to {n - 1} (the corpus has {n} texts); got {k}.")
    scores = vectors @ vectors.T  # (n, n)
    np.fill_diagonal(scores, -np.inf)  # a text is not its own neighbour
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]  # (n, k)


def precision_at_k(nearest: np.ndarray, labels: list[str]) -> float:
    """Mean share of each text's neighbours that carry its label."""
    tags = np.asarray(labels)
    return float((tags[nearest] == tags[:, None]).mean())


def knn_accuracy(nearest: np.ndarray, labels: list[str]) -> float:
    """Share of texts whose neighbours' majority label (ties: the nearer neighbour's) is their own."""
    tags = np.asarray(labels)
    hits = 0
    for row, own in zip(tags[nearest], tags):
        values, counts = np.unique(row, return_counts=True)
        best = counts.max()
        winner = next(v for v in row if counts[values == v][0] == best)  # the first of the tied labels in rank order
        hits += winner == own
    return hits / len(tags)


def anisotropy(vectors: np.ndarray) -> float:
    """Mean cosine over all pairs of different texts: near 0 for an isotropic space, near 1 when all point alike."""
    n = len(vectors)
    scores = vectors @ vectors.T  # (n, n)
    return float((scores.sum() - np.trace(scores)) / (n * (n - 1)))


def overlap_at_k(first: np.ndarray, second: np.ndarray) -> float:
    """Mean share of the ``k`` neighbours two variants agree on, per text (both (n, k))."""
    k = first.shape[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(first, second)]))


def rank_correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Mean over texts of the Spearman correlation between two variants' cosines to every other text."""
    n = len(first)
    a, b = first @ first.T, second @ second.T  # (n, n) each
    off = ~np.eye(n, dtype=bool)
    return float(np.mean([spearmanr(a[i, off[i]], b[i, off[i]]).statistic for i in range(n)]))


def rank_normalise(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each score as the share of ``reference`` scores (e.g. all pair cosines) below it: comparable across variants."""
    reference = np.sort(np.asarray(reference).ravel())
    return np.searchsorted(reference, scores, side="left") / len(reference)


def per_variant(vectors: dict[str, np.ndarray], labels: list[str] | None, k: int) -> list[dict]:
    """One row per variant: anisotropy and, with labels, precision@k and kNN accuracy."""
    rows = []
    for name, matrix in vectors.items():
        row: dict = {"variant": name, "anisotropy (mean cosine)": round(anisotropy(matrix), 4)}
        if labels:
            nearest = neighbours(matrix, k)
            row[f"label precision@{k}"] = round(precision_at_k(nearest, labels), 4)
            row[f"kNN accuracy (k={k})"] = round(knn_accuracy(nearest, labels), 4)
        rows.append(row)
    return rows


def between_variants(vectors: dict[str, np.ndarray], k: int) -> list[dict]:
    """One row per pair of variants: overlap@k of neighbour lists and the rank correlation of their cosines."""
    names = list(vectors)
    nearest = {name: neighbours(matrix, k) for name, matrix in vectors.items()}
    return [
        {
            "variant A": a,
            "variant B": b,
            f"overlap@{k}": round(overlap_at_k(nearest[a], nearest[b]), 4),
            "Spearman of cosines": round(rank_correlation(vectors[a], vectors[b]), 4),
        }
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]
