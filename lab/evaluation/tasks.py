"""Task types of the suite, each a small dataclass holding its texts and labels, scored the way MTEB scores its type.

A task never sees a model: it calls ``embed(texts, instruction)`` (raw embeddings, cached by the suite) with its
instruction for query-side texts and ``""`` for documents, exactly as the LLM2Vec paper gives instructions to
queries only. ``texts()`` lists what it will embed, so the suite can size a run before it starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar, Sequence

import numpy as np

from lab.evaluation.classification import evaluate_classification
from lab.evaluation.clustering import evaluate_clustering
from lab.evaluation.pair_classification import evaluate_pairs
from lab.evaluation.retrieval import evaluate_reranking, evaluate_retrieval
from lab.evaluation.sts import correlations

Embed = Callable[[Sequence[str], str], np.ndarray]  # (texts, instruction) -> (n, d), not normalised


def _unique(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Distinct texts in first-seen order, and each input's row among them (each text is embedded once)."""
    distinct = list(dict.fromkeys(texts))
    row = {t: i for i, t in enumerate(distinct)}
    return distinct, np.asarray([row[t] for t in texts], dtype=np.int64)


@dataclass
class Task:
    """What every task has: a name, a one-line account of its data, its query instruction and its main metric."""

    name: str
    description: str  # "lab task built from ...": what the data is and how the labels were made
    instruction: str  # for query-side texts; from the suite's instruction table
    kind: ClassVar[str] = ""
    main_metric: ClassVar[str] = ""

    def texts(self) -> list[tuple[str, list[str]]]:
        """(instruction, distinct texts) for every embedding pass the task makes."""
        raise NotImplementedError

    def size(self) -> dict[str, int]:
        """Counts of the task's items (pairs, queries, documents, ...)."""
        raise NotImplementedError

    def evaluate(self, embed: Embed) -> dict[str, float]:
        raise NotImplementedError


@dataclass
class PairTask(Task):
    """What the pair tasks share: sentence pairs, both sides embedded with the instruction, each text once."""

    pairs: list[tuple[str, str]] = field(default_factory=list)

    def texts(self) -> list[tuple[str, list[str]]]:
        return [(self.instruction, _unique([t for pair in self.pairs for t in pair])[0])]

    def size(self) -> dict[str, int]:
        return {"pairs": len(self.pairs), "texts": len(self.texts()[0][1])}

    def embed_pairs(self, embed: Embed) -> np.ndarray:
        """Both sides of every pair -> (n, 2, C)."""
        distinct, rows = _unique([t for pair in self.pairs for t in pair])
        return embed(distinct, self.instruction)[rows].reshape(len(self.pairs), 2, -1)  # (n, 2, C)


@dataclass
class STSTask(PairTask):
    """Sentence pairs with gold similarity scores: Spearman of cosine (MTEB's ``cosine_spearman``)."""

    scores: list[float] = field(default_factory=list)
    kind: ClassVar[str] = "STS"
    main_metric: ClassVar[str] = "spearman"

    def evaluate(self, embed: Embed) -> dict[str, float]:
        emb = self.embed_pairs(embed)  # (n, 2, C)
        emb = emb / np.linalg.norm(emb, axis=-1, keepdims=True).clip(1e-12)
        cosine = (emb[:, 0] * emb[:, 1]).sum(axis=1)  # (n,)
        spearman, pearson = correlations(cosine, np.asarray(self.scores))
        return {"spearman": spearman, "pearson": pearson}


@dataclass
class PairClassificationTask(PairTask):
    """Sentence pairs labelled 1 (paraphrase) or 0: average precision, MTEB's ``max_ap`` over similarity functions."""

    labels: list[int] = field(default_factory=list)
    kind: ClassVar[str] = "PairClassification"
    main_metric: ClassVar[str] = "max_ap"

    def size(self) -> dict[str, int]:
        return {"pairs": len(self.pairs), "positives": int(sum(self.labels)), "texts": len(self.texts()[0][1])}

    def evaluate(self, embed: Embed) -> dict[str, float]:
        emb = self.embed_pairs(embed)  # (n, 2, C)
        return evaluate_pairs(emb[:, 0], emb[:, 1], np.asarray(self.labels))


@dataclass
class ClassificationTask(Task):
    """Texts with class labels and a fixed train/test split: logistic regression on the embeddings."""

    train: list[str] = field(default_factory=list)
    train_labels: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    test_labels: list[str] = field(default_factory=list)
    kind: ClassVar[str] = "Classification"
    main_metric: ClassVar[str] = "accuracy"

    def texts(self) -> list[tuple[str, list[str]]]:
        return [(self.instruction, _unique(self.train + self.test)[0])]

    def size(self) -> dict[str, int]:
        return {"train": len(self.train), "test": len(self.test), "classes": len(set(self.train_labels))}

    def evaluate(self, embed: Embed) -> dict[str, float]:
        distinct, rows = _unique(self.train + self.test)
        emb = embed(distinct, self.instruction)[rows]
        n = len(self.train)
        return evaluate_classification(emb[:n], self.train_labels, emb[n:], self.test_labels)


@dataclass
class ClusteringTask(Task):
    """Texts with gold groups: k-means with k = the number of groups, V-measure."""

    documents: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    kind: ClassVar[str] = "Clustering"
    main_metric: ClassVar[str] = "v_measure"

    def texts(self) -> list[tuple[str, list[str]]]:
        return [(self.instruction, _unique(self.documents)[0])]

    def size(self) -> dict[str, int]:
        return {"texts": len(self.documents), "clusters": len(set(self.labels))}

    def evaluate(self, embed: Embed) -> dict[str, float]:
        distinct, rows = _unique(self.documents)
        return evaluate_clustering(embed(distinct, self.instruction)[rows], self.labels)


@dataclass
class QueryTask(Task):
    """What the ranking tasks share: queries (with the instruction, each once) against a corpus (without)."""

    queries: list[str] = field(default_factory=list)
    corpus: list[str] = field(default_factory=list)  # distinct documents

    def texts(self) -> list[tuple[str, list[str]]]:
        return [(self.instruction, _unique(self.queries)[0]), ("", list(self.corpus))]

    def embed_both(self, embed: Embed) -> tuple[np.ndarray, np.ndarray]:
        """(queries (q, C), corpus (n, C))."""
        distinct, rows = _unique(self.queries)
        return embed(distinct, self.instruction)[rows], embed(self.corpus, "")


@dataclass
class RetrievalTask(QueryTask):
    """Queries (with the instruction) against a corpus (without): nDCG@10, MRR@10, recall@100 over the whole corpus."""

    relevant: list[set[int]] = field(default_factory=list)  # per query, indices into corpus
    kind: ClassVar[str] = "Retrieval"
    main_metric: ClassVar[str] = "ndcg_at_10"

    def size(self) -> dict[str, int]:
        return {"queries": len(self.queries), "documents": len(self.corpus)}

    def evaluate(self, embed: Embed) -> dict[str, float]:
        return evaluate_retrieval(*self.embed_both(embed), self.relevant)


@dataclass
class RerankingTask(QueryTask):
    """Queries, each with a short candidate list from the corpus: MAP and MRR@10 of the cosine ranking."""

    candidates: list[list[int]] = field(default_factory=list)  # per query, indices into corpus
    relevant: list[set[int]] = field(default_factory=list)  # per query, a subset of its candidates
    kind: ClassVar[str] = "Reranking"
    main_metric: ClassVar[str] = "map"

    def size(self) -> dict[str, int]:
        return {
            "queries": len(self.queries),
            "documents": len(self.corpus),
            "candidates": sum(len(c) for c in self.candidates),
        }

    def evaluate(self, embed: Embed) -> dict[str, float]:
        return evaluate_reranking(*self.embed_both(embed), self.candidates, self.relevant)
