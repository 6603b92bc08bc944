"""Training data as the Trainer sees it: token-id sequences (MNTP) or tokenised examples (contrastive), each with its
dataset index so collators can seed their randomness per batch."""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
from torch.utils.data import Dataset

from lab.training.config import TrainingConfig

logger = logging.getLogger(__name__)


class SequenceDataset(Dataset):
    """Training examples as dict items with their dataset ``index`` (so collators can seed per batch).

    A token-id array becomes ``{"input_ids": array, "index": i}``; a tokenised text (``input_ids``, ``pool_mask``)
    keeps its fields, so ``len(item["input_ids"])`` is its length (``train_sampling_strategy: group_by_length``);
    anything else (a supervised record) rides as ``{"input_ids": example, "index": i}``.
    """

    def __init__(self, sequences: Sequence[Any]) -> None:
        self.sequences = list(sequences)

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.sequences[index]
        if isinstance(item, dict):
            return {**item, "index": index}
        return {"input_ids": item, "index": index}


def load_sequences(config: TrainingConfig, tokenizer) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Documents from ``config.dataset``, split by document, tokenised once (cached), chunked -> (train, eval)."""
    from lab.data.corpus import load_documents, split_documents, tokenize_documents

    documents = load_documents(config.dataset, config.max_documents)
    train_docs, eval_docs = split_documents(documents, config.eval_fraction, config.seed)
    train = tokenize_documents(train_docs, tokenizer, config.max_seq_length)
    evaluation = tokenize_documents(eval_docs, tokenizer, config.max_seq_length) if eval_docs else []
    if config.max_eval_sequences and len(evaluation) > config.max_eval_sequences:
        pick = np.random.default_rng(config.seed).choice(len(evaluation), config.max_eval_sequences, replace=False)
        evaluation = [evaluation[i] for i in sorted(pick)]
    logger.info(
        "Data %s: %d train sequences (%s tokens), %d held-out sequences, max %d tokens each",
        config.dataset,
        len(train),
        f"{sum(len(s) for s in train):,}",
        len(evaluation),
        config.max_seq_length,
    )
    return train, evaluation
