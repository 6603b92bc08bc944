"""Probe every (task, variant, layer) on CoNLL-2003 with baselines, and write the tables and the per-layer figure.

One feature pass per (variant, split) serves all tasks and layers; the probes then cost seconds each. Rows carry the
test accuracy (mean and std over seeds), entity F1 for chunking and NER, and the valid accuracy used to pick the best
layer. Baselines: the majority label, and a probe on random features (no information: it should match the majority).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
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
from lab.variants import VARIANTS, missing_adapters

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
) -> tuple[list[dict], list[str]]:
    """Probe every task x variant x layer (plus baselines); returns (rows, skipped variants with reasons).

    ``feature_config`` gives model, layers, pooling and alignment; its ``variant`` is replaced by each of ``variants``.
    """
    feature_config = feature_config or FeatureConfig()
    probe_config = probe_config or ProbeConfig()
    tasks = [check_task(t) for t in tasks]
    rows: list[dict] = []
    skipped: list[str] = []
    dim = None
    for variant in variants:
        config = FeatureConfig(**{**asdict(feature_config), "variant": variant})
        missing = missing_adapters(variant, config.model)
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


def summary_table(rows: list[dict]) -> list[dict]:
    """Per task and variant: the best layer (by valid accuracy) and the last layer, with their test scores."""
    out = []
    probed = [r for r in rows if r["layer"] is not None]
    for task in dict.fromkeys(r["task"] for r in rows):
        for variant in dict.fromkeys(r["variant"] for r in probed):
            mine = [r for r in probed if r["task"] == task and r["variant"] == variant]
            if not mine:
                continue
            best = max(mine, key=lambda r: r["valid_accuracy"])
            last = max(mine, key=lambda r: r["layer"])
            out.append(
                {
                    "task": task,
                    "variant": variant,
                    "best_layer": best["layer"],
                    "best_accuracy": best["accuracy"],
                    "best_f1": best.get("f1"),
                    "last_layer": last["layer"],
                    "last_accuracy": last["accuracy"],
                    "last_f1": last.get("f1"),
                }
            )
        for r in rows:
            if r["task"] == task and r["layer"] is None:
                out.append(
                    {
                        "task": task,
                        "variant": r["variant"],
                        "best_layer": None,
                        "best_accuracy": r["accuracy"],
                        "best_f1": r.get("f1"),
                        "last_layer": None,
                        "last_accuracy": r["accuracy"],
                        "last_f1": r.get("f1"),
                    }
                )
    return out


def layer_figure(rows: list[dict]):
    """A plotly figure: test accuracy per layer, one line per variant, one panel per task, baselines dashed."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    figure = make_subplots(rows=1, cols=len(tasks), subplot_titles=[t.upper() for t in tasks], shared_yaxes=False)
    colours = {name: v.colour for name, v in VARIANTS.items()}
    for col, task in enumerate(tasks, start=1):
        mine = [r for r in rows if r["task"] == task]
        for variant in dict.fromkeys(r["variant"] for r in mine if r["layer"] is not None):
            points = sorted(
                (r for r in mine if r["variant"] == variant and r["layer"] is not None), key=lambda r: r["layer"]
            )
            figure.add_trace(
                go.Scatter(
                    x=[r["layer"] for r in points],
                    y=[r["accuracy"] for r in points],
                    mode="lines+markers",
                    name=variant,
                    legendgroup=variant,
                    showlegend=col == 1,
                    line={"color": colours.get(variant)},
                    error_y={"type": "data", "array": [r.get("accuracy_std", 0.0) for r in points], "visible": True},
                ),
                row=1,
                col=col,
            )
        for r in mine:
            if r["layer"] is None:
                figure.add_hline(
                    y=r["accuracy"],
                    line_dash="dash" if r["variant"] == "majority" else "dot",
                    line_color="grey",
                    annotation_text=r["variant"],
                    annotation_position="top left" if r["variant"] == "majority" else "bottom right",
                    row=1,
                    col=col,
                )
    figure.update_xaxes(title_text="layer (0 = embeddings)")
    figure.update_yaxes(title_text="test word accuracy", col=1)
    figure.update_layout(title="Linear probes per layer on CoNLL-2003", height=420, width=380 * len(tasks))
    return figure


def write_results(
    rows: list[dict], output_dir: str | os.PathLike, settings: dict, skipped: Sequence[str] = ()
) -> dict[str, Path]:
    """Write ``probe_results.json`` (rows, summary, settings), ``probe_results.csv``, ``probe_summary.csv`` and the
    figure (HTML; PNG when kaleido is installed). Returns the paths written."""
    import pandas as pd

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summary_table(rows)
    paths = {
        "json": out / "probe_results.json",
        "csv": out / "probe_results.csv",
        "summary": out / "probe_summary.csv",
        "html": out / "probe_layers.html",
    }
    paths["json"].write_text(
        json.dumps({"settings": settings, "skipped": list(skipped), "summary": summary, "rows": rows}, indent=1) + "\n"
    )
    pd.DataFrame(rows).to_csv(paths["csv"], index=False, float_format="%.4f")
    pd.DataFrame(summary).to_csv(paths["summary"], index=False, float_format="%.4f")
    figure = layer_figure(rows)
    figure.write_html(paths["html"], include_plotlyjs="cdn")  # small file; the viewer fetches plotly.js
    try:
        paths["png"] = save_png(figure, out / "probe_layers.png")
    except Exception as error:  # PNG needs kaleido or a local Chromium; the HTML is the figure of record
        logger.warning("PNG figure not written (%s).", error)
    return paths


def save_png(figure, path: Path) -> Path:
    """Render a plotly figure to PNG with kaleido when installed, else by screenshotting it in headless Chromium."""
    try:
        figure.write_image(path)
        return path
    except (ImportError, ValueError, RuntimeError):
        pass
    import tempfile

    from playwright.sync_api import sync_playwright

    from lab.explore.screenshot import CHROMIUM, CHROMIUM_ARGS

    with tempfile.TemporaryDirectory() as tmp:
        page_path = Path(tmp) / "figure.html"
        figure.write_html(page_path, include_plotlyjs=True)  # inline plotly.js: no network needed
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": int(figure.layout.width), "height": int(figure.layout.height)})
            page.goto(page_path.as_uri())
            page.wait_for_selector(".main-svg")
            page.screenshot(path=str(path))
            browser.close()
    return path
