"""Each metric of the suite against a hand computation on a tiny case, and against an independent implementation
(sklearn, trec_eval through pytrec_eval, mteb's own threshold search) on random data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytrec_eval
from sklearn.metrics import average_precision_score, f1_score, v_measure_score

from lab.evaluation.classification import accuracy, evaluate_classification, macro_f1
from lab.evaluation.clustering import evaluate_clustering, v_measure
from lab.evaluation.pair_classification import average_precision, best_accuracy, best_f1, evaluate_pairs
from lab.evaluation.retrieval import (
    evaluate_reranking,
    evaluate_retrieval,
    ndcg_at_k,
    rank_by_cosine,
    recall_at_k,
    reciprocal_rank_at_k,
)

SCORES = np.array([0.9, 0.8, 0.7, 0.6])
LABELS = np.array([1, 0, 1, 0])


def test_pair_metrics_by_hand():
    assert average_precision(SCORES, LABELS) == pytest.approx((1 / 1 + 2 / 3) / 2)  # positives at ranks 1 and 3
    # thresholds after rank 1, 2, 3: accuracy 3/4, 2/4, 3/4; F1 2/3, 1/2, 4/5
    assert best_accuracy(SCORES, LABELS) == pytest.approx(0.75)
    assert best_f1(SCORES, LABELS) == pytest.approx(0.8)


def test_pair_metrics_equal_sklearn_and_mteb_with_ties():
    from mteb.abstasks.pair_classification import AbsTaskPairClassification as MTEBPairs

    rng = np.random.default_rng(0)
    scores = rng.integers(0, 20, 300) / 20  # many ties
    labels = rng.integers(0, 2, 300)
    assert average_precision(scores, labels) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    assert best_accuracy(scores, labels) == pytest.approx(
        MTEBPairs._find_best_acc_and_threshold(None, scores, labels, True)[0]
    )
    assert best_f1(scores, labels) == pytest.approx(
        MTEBPairs._find_best_f1_and_threshold(None, scores, labels, True)[0]
    )


def test_evaluate_pairs_takes_the_best_similarity_function():
    a = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    b = np.array([[10.0, 0.0], [0.0, 1.0], [1.0, 0.1]])  # cosine ranks pair 0 first, euclidean ranks pair 2 first
    result = evaluate_pairs(a, b, np.array([0, 0, 1]))
    assert result["cosine_ap"] == pytest.approx(0.5) and result["euclidean_ap"] == pytest.approx(1.0)
    assert result["max_ap"] == pytest.approx(1.0)


def test_ranking_metrics_by_hand():
    ranking, relevant = [3, 1, 2, 0], {1, 0}  # relevant at ranks 2 and 4
    assert ndcg_at_k(ranking, relevant, 10) == pytest.approx(
        (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    )
    assert reciprocal_rank_at_k(ranking, relevant, 10) == 0.5 and reciprocal_rank_at_k(ranking, relevant, 1) == 0.0
    assert recall_at_k(ranking, relevant, 2) == 0.5 and recall_at_k(ranking, relevant, 4) == 1.0


def test_rank_by_cosine_orders_best_first():
    queries = np.array([[1.0, 0.0]])
    documents = np.array([[0.0, 1.0], [2.0, 0.1], [1.0, 1.0], [5.0, 0.0]])
    assert rank_by_cosine(queries, documents, 3).tolist() == [[3, 1, 2]]


def _trec(run: dict, qrels: dict, measures: set[str]) -> dict[str, float]:
    evaluated = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    keys = next(iter(evaluated.values())).keys()
    return {k: float(np.mean([v[k] for v in evaluated.values()])) for k in keys}


def test_retrieval_and_reranking_equal_trec_eval():
    rng = np.random.default_rng(1)
    queries, documents = rng.normal(size=(20, 8)), rng.normal(size=(150, 8))
    relevant = [set(rng.choice(150, size=rng.integers(1, 5), replace=False).tolist()) for _ in range(20)]
    sims = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ (
        documents / np.linalg.norm(documents, axis=1, keepdims=True)
    ).T
    qrels = {f"q{i}": {f"d{j}": 1 for j in rel} for i, rel in enumerate(relevant)}
    run = {f"q{i}": {f"d{j}": float(sims[i, j]) for j in np.argsort(-sims[i])[:100]} for i in range(20)}
    trec = _trec(run, qrels, {"ndcg_cut.10", "recall.100"})
    ours = evaluate_retrieval(queries, documents, relevant)
    assert ours["ndcg_at_10"] == pytest.approx(trec["ndcg_cut_10"], abs=1e-6)
    assert ours["recall_at_100"] == pytest.approx(trec["recall_100"], abs=1e-6)

    candidates = [sorted(set(rng.choice(150, 12, replace=False).tolist()) | rel) for rel in relevant]
    run = {f"q{i}": {f"d{j}": float(sims[i, j]) for j in c} for i, c in enumerate(candidates)}
    trec = _trec(run, qrels, {"map", "recip_rank"})
    ours = evaluate_reranking(queries, documents, candidates, relevant)
    assert ours["map"] == pytest.approx(trec["map"], abs=1e-6)
    assert ours["mrr_at_10"] <= trec["recip_rank"] + 1e-9  # trec_eval's MRR is not cut at 10


def test_classification_metrics_by_hand_and_against_sklearn():
    predicted, gold = ["a", "a", "b", "c"], ["a", "b", "b", "b"]
    assert accuracy(predicted, gold) == 0.5
    # F1: a = 2*1/(2+1) = 2/3, b = 2*1/(2+2) = 1/2, c = 0 (predicted once, never gold)
    assert macro_f1(predicted, gold) == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    rng = np.random.default_rng(2)
    p, g = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    assert macro_f1(p, g) == pytest.approx(f1_score(g, p, average="macro"))


def test_logistic_regression_separates_separable_classes():
    rng = np.random.default_rng(3)
    centres = np.eye(4, 16) * 10
    train = np.repeat(centres, 10, axis=0) + rng.normal(size=(40, 16))
    test = np.repeat(centres, 5, axis=0) + rng.normal(size=(20, 16))
    labels = np.repeat(list("wxyz"), 10), np.repeat(list("wxyz"), 5)
    assert evaluate_classification(train, labels[0], test, labels[1]) == {"accuracy": 1.0, "macro_f1": 1.0}
    shuffled = evaluate_classification(train, rng.permutation(labels[0]), test, labels[1])
    assert shuffled["accuracy"] < 0.7


def test_v_measure_by_hand_and_against_sklearn():
    gold, predicted = [0, 0, 1, 1], [0, 0, 0, 1]
    # H(G) = ln 2; H(K) = H(3/4, 1/4); H(G|K) = 3/4 H(2/3, 1/3); H(K|G) = 1/2 H(1/2, 1/2)
    h = lambda *p: -sum(x * math.log(x) for x in p)  # noqa: E731
    homogeneity = 1 - 0.75 * h(2 / 3, 1 / 3) / math.log(2)
    completeness = 1 - 0.5 * math.log(2) / h(0.75, 0.25)
    expected = 2 * homogeneity * completeness / (homogeneity + completeness)
    assert v_measure(gold, predicted) == pytest.approx(expected)
    assert v_measure([0, 0, 1, 1], ["b", "b", "a", "a"]) == 1.0  # cluster ids do not matter
    rng = np.random.default_rng(4)
    g, k = rng.integers(0, 5, 300), rng.integers(0, 7, 300)
    assert v_measure(g, k) == pytest.approx(v_measure_score(g, k))


def test_kmeans_recovers_well_separated_groups():
    rng = np.random.default_rng(5)
    points = np.repeat(np.eye(3, 8) * 20, 30, axis=0) + rng.normal(size=(90, 8))
    labels = np.repeat(["x", "y", "z"], 30)
    assert evaluate_clustering(points, labels, runs=3)["v_measure"] == pytest.approx(1.0)
    assert evaluate_clustering(rng.normal(size=(90, 8)), labels, runs=3)["v_measure"] < 0.2
