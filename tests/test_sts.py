"""STS-B loading and the STS evaluation: Spearman against a hand computation, pair bookkeeping, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lab.cli import main
from lab.data.stsb import SPLIT_SIZES, STSPair, load_stsb, parse_line
from lab.evaluation.sts import correlations, evaluate_pairs


def hand_spearman(x: list[float], y: list[float]) -> float:
    """Pearson correlation of average ranks, written out with loops (ties share the mean of their ranks)."""

    def ranks(values: list[float]) -> list[float]:
        out = [0.0] * len(values)
        for i, v in enumerate(values):
            below = sum(1 for w in values if w < v)
            equal = sum(1 for w in values if w == v)
            out[i] = below + (equal + 1) / 2  # 1-based average rank
        return out

    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    vx = sum((a - mx) ** 2 for a in rx) ** 0.5
    vy = sum((b - my) ** 2 for b in ry) ** 0.5
    return cov / (vx * vy)


def test_spearman_matches_hand_computation_with_ties():
    predicted = [0.9, 0.1, 0.5, 0.5, 0.3, 0.8]
    gold = [5.0, 0.0, 2.5, 3.0, 2.5, 4.2]
    spearman, pearson = correlations(np.array(predicted), np.array(gold))
    assert spearman == pytest.approx(hand_spearman(predicted, gold), abs=1e-12)
    assert pearson == pytest.approx(float(np.corrcoef(predicted, gold)[0, 1]), abs=1e-12)
    assert correlations(np.array([1.0, 2, 3]), np.array([10.0, 20, 40]))[0] == pytest.approx(1.0)  # monotone -> 1


class FixedEncoder:
    """A stand-in model: each sentence's embedding is looked up in a table."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def encode(self, texts, batch_size=32, show_progress_bar=False, normalize_embeddings=False):
        vectors = np.array([self.table[t] for t in texts], dtype=np.float64)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True) if normalize_embeddings else vectors


def test_evaluate_pairs_uses_the_cosine_of_each_pair():
    table = {"a": [1, 0], "b": [1, 0.1], "c": [0, 1], "d": [-1, 0.2], "e": [1, 1]}
    pairs = [
        STSPair("a", "b", 5.0, "g", "s"),
        STSPair("a", "c", 1.0, "g", "s"),
        STSPair("a", "d", 0.0, "g", "s"),
        STSPair("e", "a", 3.0, "g", "s"),
    ]
    result = evaluate_pairs(FixedEncoder(table), pairs)
    cosines = [
        np.dot(table[p.sentence1], table[p.sentence2])
        / np.linalg.norm(table[p.sentence1])
        / np.linalg.norm(table[p.sentence2])
        for p in pairs
    ]
    assert result.pairs == 4
    assert result.spearman == pytest.approx(hand_spearman(cosines, [p.score for p in pairs]))
    assert result.spearman == pytest.approx(1.0)  # the cosines rank the pairs exactly as the gold scores do


def test_stsb_splits_are_complete():
    for split, size in SPLIT_SIZES.items():
        pairs = load_stsb(split)
        assert len(pairs) == size
        assert all(0.0 <= p.score <= 5.0 and p.sentence1 and p.sentence2 for p in pairs)
    assert load_stsb("test")[0].sentence1 == "A girl is styling her hair."  # not dev (the package's loader bug)
    with pytest.raises(ValueError, match="expected one of train, dev, test"):
        load_stsb("validation")
    with pytest.raises(ValueError, match="Malformed"):
        parse_line("a\tb\tc")


def test_cli_writes_json(tmp_path, capsys):
    out = tmp_path / "sts.json"
    code = main(
        [
            "eval",
            "sts",
            "--model",
            "tiny-llama",
            "--split",
            "dev,test",
            "--limit",
            "12",
            "--pooling",
            "weighted_mean",
            "--causal",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    record = json.loads(out.read_text())
    assert record["bidirectional"] is False and record["pooling"] == "weighted_mean"
    assert set(record["results"]) == {"dev", "test"} and record["results"]["test"]["pairs"] == 12
    assert -1.0 <= record["results"]["dev"]["spearman"] <= 1.0
    with pytest.raises(SystemExit):
        main(["eval", "sts", "--model", "tiny-llama", "--split", "valid"])
    assert "Unknown split" in capsys.readouterr().err
