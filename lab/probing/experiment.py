"""Probe every (task, variant, layer) on CoNLL-2003 with baselines, and write the tables and the per-layer figure.

One feature pass per (variant, split) serves all tasks and layers; the probes then cost seconds each. Rows carry the
test accuracy (mean and std over seeds), entity F1 for chunking and NER, and the valid accuracy used to pick the best
layer. Baselines: the majority label, and a probe on random features (no information: it should match the majority).
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict
from typing import Callable, Sequence

import numpy as np
import torch

from lab.data.conll import SPLITS, TASKS, Sentence, check_task, load_conll2003
from lab.probing.features import FeatureConfig, extract_features
from lab.probing.probe import (
    ProbeConfig,
    accuracy,
    entity_f1,
    majority_label,
    predict,
    random_features,
    standardizer,
    train_probe,
)
from lab.variants import get_variant, missing_adapters

logger = logging.getLogger(__name__)

F1_TASKS = ("chunk", "ner")  # span tasks: seqeval's entity F1 beside word accuracy


def load_splits(limits: dict[str, int | None] | None = None, source: str = "auto") -> dict[str, list[Sentence]]:
    """train / valid / test sentences, each cut to its first ``limits[split]`` sentences (None: all)."""
    limits = limits or {}
    return {split: load_conll2003(split, source)[: limits.get(split)] for split in SPLITS}


def label_vocabulary(splits: dict[str, list[Sentence]], task: str) -> list[str]:
    """Sorted tag set of a task over all splits (so a tag unseen in train is still scored, as an error)."""
    return sorted({tag for sentences in splits.values() for s in sentences for tag in s.tags(task)})


def label_indices(sentences: Sequence[Sentence], task: str, vocabulary: list[str]) -> np.ndarray:
    """(n_words,) label index of every word, sentences concatenated."""
    lookup = {tag: i for i, tag in enumerate(vocabulary)}
    return np.asarray([lookup[tag] for s in sentences for tag in s.tags(task)], dtype=np.int64)


def score(pred: np.ndarray, gold: np.ndarray, task: str, vocabulary: list[str], lengths: list[int]) -> dict:
    """Word accuracy, and entity F1 for span tasks."""
    out = {"accuracy": accuracy(pred, gold)}
    if task in F1_TASKS:
        names = np.asarray(vocabulary)
        out["f1"] = entity_f1(list(names[pred]), list(names[gold]), lengths)
    return out


def probe_features(
    features: dict[str, np.ndarray], splits: dict[str, list[Sentence]], task: str, config: ProbeConfig
) -> dict:
    """Train one probe per seed on ``features[split]`` (n_words, C) and score it on test; means and stds."""
    vocabulary = label_vocabulary(splits, task)
    y = {split: torch.as_tensor(label_indices(splits[split], task, vocabulary)) for split in SPLITS}
    x = {split: torch.as_tensor(np.asarray(features[split], dtype=np.float32)) for split in SPLITS}
    if config.standardize:
        mean, std = standardizer(x["train"])
        x = {split: (v - mean) / std for split, v in x.items()}  # (N, C)
    lengths = [len(s.words) for s in splits["test"]]
    runs = []
    for seed in config.seeds:
        result = train_probe(x["train"], y["train"], x["valid"], y["valid"], len(vocabulary), config, seed)
        test = score(predict(result.probe, x["test"]), y["test"].numpy(), task, vocabulary, lengths)
        runs.append({"valid_accuracy": result.valid_accuracy, "best_step": result.best_step, **test})
    return summarise(runs)


def summarise(runs: list[dict]) -> dict:
    """Mean and std over seeds of every metric."""
    out = {}
    for key in runs[0]:
        values = np.asarray([r[key] for r in runs], dtype=np.float64)
        out[key] = float(values.mean())
        if key != "best_step":
            out[f"{key}_std"] = float(values.std())
    out["seeds"] = len(runs)
    return out


def baselines(splits: dict[str, list[Sentence]], task: str, config: ProbeConfig, dim: int) -> list[dict]:
    """The majority-label baseline and a probe on random features, as result rows."""
    vocabulary = label_vocabulary(splits, task)
    y_train = label_indices(splits["train"], task, vocabulary)
    y_test = label_indices(splits["test"], task, vocabulary)
    lengths = [len(s.words) for s in splits["test"]]
    majority = score(np.full_like(y_test, majority_label(y_train)), y_test, task, vocabulary, lengths)
    rows = [
        {
            "task": task,
            "variant": "majority",
            "layer": None,
            **majority,
            "majority_label": vocabulary[majority_label(y_train)],
        }
    ]
    counts = {split: sum(len(s.words) for s in splits[split]) for split in SPLITS}
    noise = {split: random_features(counts[split], dim, seed=100 + i) for i, split in enumerate(SPLITS)}
    rows.append(
        {"task": task, "variant": "random-features", "layer": None, **probe_features(noise, splits, task, config)}
    )
    return rows


def run_experiment(
    splits: dict[str, list[Sentence]],
    tasks: Sequence[str] = TASKS,
    variants: Sequence[str] = ("uni", "bi", "bi-mntp", "bi-mntp-simcse"),
    feature_config: FeatureConfig | None = None,
    probe_config: ProbeConfig | None = None,
    encoder_factory: Callable | None = None,
    cache_root: str | os.PathLike | None = None,
    adapter_paths: dict[str, str] | None = None,
) -> tuple[list[dict], list[str]]:
    """Probe every task x variant x layer (plus baselines); returns (rows, skipped variants with reasons).

    ``feature_config`` gives model, layers, pooling and alignment; its ``variant`` is replaced by each of ``variants``.
    ``adapter_paths`` maps adapter names to folders (``{"mntp": "runs/mntp"}``): the variants then merge the
    adapters just trained rather than the shipped ones.
    """
    feature_config = feature_config or FeatureConfig()
    probe_config = probe_config or ProbeConfig()
    tasks = [check_task(t) for t in tasks]
    rows: list[dict] = []
    skipped: list[str] = []
    dim = None
    for variant in variants:
        adapters = tuple((adapter_paths or {}).get(a, a) for a in get_variant(variant).adapters)
        config = FeatureConfig(**{**asdict(feature_config), "variant": variant, "adapters": adapters})
        missing = missing_adapters(variant, config.model, adapters)
        if missing:
            reason = f"{variant}: skipped, adapters {missing} are not shipped for {config.model} (lab/adapters/)"
            logger.warning(reason)
            skipped.append(reason)
            continue
        sets = {
            split: extract_features([s.words for s in splits[split]], config, encoder_factory, cache_root)
            for split in SPLITS
        }
        dim = sets["train"].meta["hidden_size"]
        for layer in sets["train"].layers:
            features = {split: sets[split].layer(layer) for split in SPLITS}
            for task in tasks:
                result = probe_features(features, splits, task, probe_config)
                rows.append(
                    {
                        "task": task,
                        "variant": variant,
                        "layer": layer,
                        "shift": config.resolved_shift,
                        "word_pooling": config.word_pooling,
                        **result,
                    }
                )
                logger.info("%s %s layer %d: test accuracy %.4f", task, variant, layer, result["accuracy"])
    if dim is not None:
        for task in tasks:
            rows.extend(baselines(splits, task, probe_config, dim))
    return rows, skipped
