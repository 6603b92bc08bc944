"""Classification on frozen embeddings: a logistic regression fit on a fixed train split, scored on a test split.

As MTEB's classification tasks: the embedding is the only feature, the classifier is sklearn's
``LogisticRegression(max_iter=100)``; accuracy is the main score, macro-F1 weighs every class equally.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression


def accuracy(predicted: Sequence, gold: Sequence) -> float:
    """Share of items whose prediction equals the gold label."""
    return float(np.mean(np.asarray(predicted) == np.asarray(gold)))


def macro_f1(predicted: Sequence, gold: Sequence) -> float:
    """Unweighted mean over the gold classes of F1 = 2 TP / (2 TP + FP + FN)."""
    predicted, gold = np.asarray(predicted), np.asarray(gold)
    scores = []
    for label in np.unique(np.concatenate([gold, predicted])):
        true_pos = np.sum((predicted == label) & (gold == label))
        wrong = np.sum((predicted == label) != (gold == label))  # FP + FN
        scores.append(2 * true_pos / (2 * true_pos + wrong))
    return float(np.mean(scores))


def evaluate_classification(
    train: np.ndarray, train_labels: Sequence, test: np.ndarray, test_labels: Sequence, seed: int = 42
) -> dict[str, float]:
    """Fit a logistic regression on ``train`` (n, d) and score it on ``test`` (m, d)."""
    classifier = LogisticRegression(max_iter=100, random_state=seed)
    classifier.fit(np.asarray(train, dtype=np.float64), np.asarray(train_labels))
    predicted = classifier.predict(np.asarray(test, dtype=np.float64))
    return {"accuracy": accuracy(predicted, test_labels), "macro_f1": macro_f1(predicted, test_labels)}
