"""Pair classification: are two texts paraphrases? Scored as MTEB does, threshold-free and at the best threshold.

Average precision (AP) ranks all pairs by a similarity and asks how early the positives come; MTEB reports it for
cosine, dot product, Euclidean and Manhattan distance and takes the best (``max_ap``, its main score). Accuracy and F1
are at the best threshold on the same pairs (an upper bound: the threshold is tuned on the test pairs, as in MTEB).
"""

from __future__ import annotations

import numpy as np


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean of precision@k over the ranks k of the positives, pairs sorted by descending score.

    Tied scores count as one block (the precision at the block's end), as ``sklearn.metrics.average_precision_score``.
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(bool)
    if labels.sum() == 0:
        raise ValueError("Average precision needs at least one positive pair; got none.")
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    last_of_block = np.r_[scores[1:] != scores[:-1], True]  # thresholds sit between distinct scores
    hits = np.cumsum(labels)[last_of_block]  # positives at or above each threshold
    seen = np.flatnonzero(last_of_block) + 1  # pairs at or above each threshold
    new_hits = np.diff(np.r_[0, hits])  # positives gained at each threshold
    return float(np.sum(new_hits * hits / seen) / labels.sum())


def _ranked(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels sorted by descending score, and where a threshold may fall: after row i for i < n - 1, between two
    distinct scores (a threshold cannot split ties, or row order would leak into the metric). -> (n,), (n - 1,)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(bool)
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    return labels, scores[1:] != scores[:-1]


def best_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """The best accuracy of "positive iff score > t" over the thresholds of ``_ranked`` (0 if there are none)."""
    labels, cut = _ranked(scores, labels)
    true_pos = np.cumsum(labels)[:-1]  # positives above a cut after row i
    true_neg = (~labels).sum() - np.cumsum(~labels)[:-1]  # negatives below it
    accuracy = (true_pos + true_neg) / len(labels)
    return float(accuracy[cut].max()) if cut.any() else 0.0


def best_f1(scores: np.ndarray, labels: np.ndarray) -> float:
    """The best F1 of "positive iff score > t" over the thresholds of ``_ranked`` (0 if there are none)."""
    labels, cut = _ranked(scores, labels)
    true_pos = np.cumsum(labels)[:-1]
    called = np.arange(1, len(labels))  # rows above a cut after row i
    f1 = 2 * true_pos / (called + labels.sum())  # = 2PR / (P + R)
    return float(f1[cut].max()) if cut.any() else 0.0


def similarity_scores(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Per-pair similarities of rows of ``a`` and ``b`` (n, d), larger = more similar (distances negated)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    unit_a = a / np.linalg.norm(a, axis=1, keepdims=True).clip(1e-12)
    unit_b = b / np.linalg.norm(b, axis=1, keepdims=True).clip(1e-12)
    return {
        "cosine": (unit_a * unit_b).sum(axis=1),
        "dot": (a * b).sum(axis=1),
        "euclidean": -np.linalg.norm(a - b, axis=1),
        "manhattan": -np.abs(a - b).sum(axis=1),
    }


def evaluate_pairs(a: np.ndarray, b: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """AP for each similarity, ``max_ap`` over them (MTEB's main score), and cosine accuracy / F1 at the best cut."""
    labels = np.asarray(labels)
    if len(a) != len(b) or len(a) != len(labels):
        raise ValueError(f"Need as many labels as pairs; got {len(a)} / {len(b)} embeddings and {len(labels)} labels.")
    sims = similarity_scores(a, b)
    result = {f"{name}_ap": average_precision(s, labels) for name, s in sims.items()}
    result["max_ap"] = max(result.values())
    result["cosine_accuracy"] = best_accuracy(sims["cosine"], labels)
    result["cosine_f1"] = best_f1(sims["cosine"], labels)
    return result
