"""The lab's recorded experiments as plotly figures: training curves, STS-B scores, word-probe accuracy, benchmarks.

Everything is read from the files as they are now (``results/`` and the shipped adapters' ``metrics.jsonl``), never
from numbers written here, so a new training run shows up on the next read. A ``metrics.jsonl`` being written while
a run trains may end in a half-written line: that line is skipped, not an error.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from lab.adapters import SHIPPED_DIR
from lab.explore.figures import style

logger = logging.getLogger(__name__)

RESULTS_DIR = Path(__file__).resolve().parents[2] / "results"  # the repository's results/ (absent in a wheel)
METRICS = "metrics.jsonl"
LOSS_PANEL, SCORE_PANEL = "loss", "accuracy / correlation"
PALETTE = qualitative.Plotly


def read_metrics(path: str | Path) -> list[dict]:
    """The records of a ``metrics.jsonl`` (one JSON object a line); a torn or non-object line is skipped."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # the line a running trainer is writing right now
        if isinstance(record, dict) and isinstance(record.get("step"), (int, float)):
            records.append(record)
    return records


def _panel(key: str) -> str | None:
    """Which panel a metric goes in: losses, scores (accuracy, Spearman, Pearson), or none (bookkeeping)."""
    if key.endswith("loss") and not key.startswith("train_"):  # train_loss is the run's mean, one point
        return LOSS_PANEL
    if any(word in key for word in ("accuracy", "spearman", "pearson")):
        return SCORE_PANEL
    return None


def curves(records: list[dict]) -> dict[str, tuple[list[float], list[float]]]:
    """Metric -> (steps, values) for every loss and score key in ``records``, in step order."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for record in sorted(records, key=lambda r: r["step"]):
        for key, value in record.items():
            if _panel(key) and isinstance(value, (int, float)) and math.isfinite(value):
                steps, values = out.setdefault(key, ([], []))
                steps.append(record["step"])
                values.append(float(value))
    return out


def curves_figure(runs: dict[str, list[dict]], title: str) -> go.Figure:
    """Loss (left) and accuracy/correlation (right) against the step, one line per (run, metric)."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=[LOSS_PANEL, SCORE_PANEL], horizontal_spacing=0.08)
    colour = 0
    for run, records in runs.items():
        for key, (steps, values) in curves(records).items():
            column = 1 if _panel(key) == LOSS_PANEL else 2
            figure.add_trace(
                go.Scatter(
                    x=steps,
                    y=values,
                    mode="lines+markers" if len(steps) < 40 else "lines",
                    name=f"{run}: {key}" if len(runs) > 1 else key,
                    line=dict(color=PALETTE[colour % len(PALETTE)], dash="dot" if "eval" in key else "solid"),
                ),
                row=1,
                col=column,
            )
            colour += 1
    figure.update_xaxes(title_text="step")
    return style(
        figure,
        title,
        380,
        legend=dict(orientation="h", y=-0.25),
    )


def adapter_runs(model: str = "smollm2-135m", root: Path = SHIPPED_DIR) -> dict[str, list[dict]]:
    """Shipped adapter name -> its training records, for every adapter of ``model`` that has a ``metrics.jsonl``."""
    folder = Path(root) / model
    files = sorted(folder.glob(f"*/{METRICS}")) if folder.is_dir() else []
    return {path.parent.name: read_metrics(path) for path in files}


def sts_rows(results: Path = RESULTS_DIR) -> list[dict]:
    """One row per ``results/sts/*.json``: the recipe and its test Spearman and Pearson."""
    rows = []
    for path in sorted((Path(results) / "sts").glob("*.json")):
        try:
            data = json.loads(path.read_text())
            test = data["results"]["test"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            logger.warning("Skipping %s: %s", path, error)
            continue
        rows.append(
            {
                "run": path.stem,
                "model": data.get("model", ""),
                "attention": "bidirectional" if data.get("bidirectional") else "causal",
                "adapters": " + ".join(data.get("adapters") or []) or "-",
                "pooling": data.get("pooling", ""),
                "spearman": test.get("spearman"),
                "pearson": test.get("pearson"),
                "pairs": test.get("pairs"),
            }
        )
    return rows


def sts_figure(rows: list[dict]) -> go.Figure:
    """STS-B test Spearman per recorded run, as bars."""
    figure = go.Figure(
        go.Bar(
            x=[r["run"] for r in rows],
            y=[r["spearman"] for r in rows],
            text=[f"{r['spearman']:.3f}" if r["spearman"] is not None else "" for r in rows],
            marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(rows))],
        )
    )
    return style(
        figure,
        "STS-B test: Spearman of cosine vs gold score",
        360,
        top=50,
        yaxis_title="Spearman",
    )


def _read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def probe_figure(path: Path) -> go.Figure:
    """Word-probe test accuracy per layer (``probe_results.csv``): one panel per task, one line per variant."""
    rows = [r for r in _read_csv(path) if _number(r.get("layer")) is not None and _number(r.get("accuracy"))]
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    figure = make_subplots(rows=1, cols=max(1, len(tasks)), subplot_titles=tasks, horizontal_spacing=0.05)
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    for column, task in enumerate(tasks, start=1):
        for i, variant in enumerate(variants):
            points = [
                (_number(r["layer"]), _number(r["accuracy"]))
                for r in rows
                if r["task"] == task and r["variant"] == variant
            ]
            if points:
                points.sort()
                figure.add_trace(
                    go.Scatter(
                        x=[p[0] for p in points],
                        y=[p[1] for p in points],
                        mode="lines",
                        name=variant,
                        legendgroup=variant,
                        showlegend=column == 1,
                        line=dict(color=PALETTE[i % len(PALETTE)]),
                    ),
                    row=1,
                    col=column,
                )
    figure.update_xaxes(title_text="layer")
    return style(
        figure,
        f"Word probes: test accuracy per layer ({path.parent.name or 'probing'})",
        380,
        legend=dict(orientation="h", y=-0.25),
    )


def probe_files(results: Path = RESULTS_DIR) -> list[Path]:
    """Every ``probe_results.csv`` under ``results/probing``, the main run first."""
    root = Path(results) / "probing"
    return sorted(root.rglob("probe_results.csv"), key=lambda p: (len(p.parts), str(p))) if root.is_dir() else []


def bench_rows(results: Path = RESULTS_DIR) -> list[dict]:
    """The top-level numbers and strings of every ``results/bench/*.json``: file, field, value."""
    rows = []
    for path in sorted((Path(results) / "bench").glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            logger.warning("Skipping %s: %s", path, error)
            continue
        for key, value in data.items() if isinstance(data, dict) else []:
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items() if not isinstance(v, (dict, list)))
            if isinstance(value, (str, int, float)) and value != "":
                rows.append({"file": path.stem, "field": key, "value": value})
    return rows


def run_folder(folder: str) -> tuple[list[dict], Path]:
    """The records of ``folder/metrics.jsonl`` (a training run's output_dir); ``ValueError`` says what is wrong."""
    folder = (folder or "").strip()
    if not folder:
        raise ValueError("Type a run folder (a training output_dir holding metrics.jsonl) first.")
    path = Path(folder).expanduser()
    path = path if path.name == METRICS else path / METRICS
    if not path.is_file():
        raise ValueError(f"No {METRICS} in {str(path.parent)!r}; a training run writes one into its output_dir.")
    return read_metrics(path), path
