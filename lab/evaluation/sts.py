"""Semantic textual similarity: Spearman correlation between the cosine of two sentence embeddings and gold scores.

The standard yardstick for sentence embeddings (SimCSE, LLM2Vec, MTEB's STS tasks): embed both sentences, take the
cosine, and rank-correlate it with the human 0-5 scores over all pairs. Each distinct sentence is embedded once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy.stats import pearsonr, spearmanr

from lab.data.stsb import STSPair, load_stsb

logger = logging.getLogger(__name__)


@dataclass
class STSResult:
    """Correlations of one split (in [-1, 1]; papers print them x100)."""

    spearman: float
    pearson: float
    pairs: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def cosine_scores(model, pairs: Sequence[STSPair], batch_size: int = 32, show_progress_bar: bool = False) -> np.ndarray:
    """Cosine similarity of each pair's two embeddings -> (n,)."""
    texts = sorted({p.sentence1 for p in pairs} | {p.sentence2 for p in pairs})
    index = {t: i for i, t in enumerate(texts)}
    emb = model.encode(
        texts, batch_size=batch_size, show_progress_bar=show_progress_bar, normalize_embeddings=True
    )  # (U, C) unit rows
    a = emb[[index[p.sentence1] for p in pairs]]  # (n, C)
    b = emb[[index[p.sentence2] for p in pairs]]  # (n, C)
    return (a * b).sum(axis=1)  # (n,)


def correlations(predicted: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    """(Spearman, Pearson) of predicted vs gold scores."""
    if len(predicted) != len(gold) or len(gold) < 2:
        raise ValueError(f"Need two equal-length score lists of >= 2 items; got {len(predicted)} and {len(gold)}.")
    return float(spearmanr(predicted, gold).statistic), float(pearsonr(predicted, gold).statistic)


def evaluate_pairs(model, pairs: Sequence[STSPair], batch_size: int = 32, show_progress_bar: bool = False) -> STSResult:
    """Score ``pairs`` with ``model`` (an ``LLM2Vec``) against their gold scores."""
    start = time.perf_counter()
    predicted = cosine_scores(model, pairs, batch_size, show_progress_bar)
    spearman, pearson = correlations(predicted, np.array([p.score for p in pairs]))
    return STSResult(spearman, pearson, len(pairs), round(time.perf_counter() - start, 1))


def evaluate_stsb(
    model,
    splits: Sequence[str] = ("dev", "test"),
    limit: int | None = None,
    batch_size: int = 32,
    show_progress_bar: bool = False,
) -> dict[str, STSResult]:
    """STS-B Spearman/Pearson for each split; ``limit`` uses the first ``limit`` pairs (quick checks only)."""
    results = {}
    for split in splits:
        results[split] = evaluate_pairs(model, load_stsb(split, limit), batch_size, show_progress_bar)
        logger.info(
            "STS-B %s: Spearman %.4f, Pearson %.4f (%d pairs, %.0fs)",
            split,
            results[split].spearman,
            results[split].pearson,
            results[split].pairs,
            results[split].seconds,
        )
    return results
