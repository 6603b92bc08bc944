"""The shape of MNTP over training: word probes at one layer for each checkpoint of an MNTP run, against Uni and Bi.

The paper's word-level claim is that Bi + MNTP recovers, and then beats, the word information the causal model (Uni)
had before its mask was removed. ``probe_curve`` reads an MNTP run's ``checkpoint-N`` folders (each holds the LoRA
adapter and ``trainer_state.json`` with the tokens seen so far), probes each one with both alignments (shift -1: the
paper's reading at the predicting position; shift 0: at the token itself), and the untrained Uni and Bi on the same
sentences, so a reader sees whether and where Bi + MNTP crosses Uni as training goes on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

from lab.data.conll import SPLITS, TASKS
from lab.probing.features import FeatureConfig, extract_features
from lab.probing.probe import ProbeConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpoint:
    """One saved step of a training run: its folder, optimizer step and real (non-padding) tokens seen."""

    path: Path
    step: int
    tokens_seen: int


def run_checkpoints(run_dir: str | Path) -> list[Checkpoint]:
    """The completely written ``checkpoint-N`` folders of a run, by step; ``ValueError`` if there is none."""
    found = []
    for folder in Path(run_dir).glob("checkpoint-*"):
        state = folder / "trainer_state.json"
        if folder.is_dir() and state.is_file() and (folder / "adapter_config.json").is_file():
            record = json.loads(state.read_text())
            found.append(Checkpoint(folder, int(record["global_step"]), int(record.get("num_input_tokens_seen", 0))))
    if not found:
        raise ValueError(f"No complete checkpoint-N folder with an adapter in {str(run_dir)!r}.")
    return sorted(found, key=lambda c: c.step)


def pick(checkpoints: Sequence[Checkpoint], steps: Sequence[int] | None) -> list[Checkpoint]:
    """The checkpoints at ``steps`` (all when None); ``ValueError`` names a missing step and the ones there are."""
    if steps is None:
        return list(checkpoints)
    by_step = {c.step: c for c in checkpoints}
    missing = [s for s in steps if s not in by_step]
    if missing:
        raise ValueError(f"No checkpoint at step(s) {missing}; the run has steps {sorted(by_step)}.")
    return [by_step[s] for s in steps]


def probe_curve(
    splits: dict,
    checkpoints: Sequence[Checkpoint],
    tasks: Sequence[str] = TASKS,
    layer: int = -1,
    shifts: Sequence[int] = (-1, 0),
    feature_config: FeatureConfig | None = None,
    probe_config: ProbeConfig | None = None,
    cache_root: str | Path | None = None,
) -> list[dict]:
    """Probe rows for Uni, Bi (references) and every checkpoint x shift, all at one hidden state (-1: the last).

    Each row: task, variant (``uni``, ``bi``, ``bi-mntp``), step and tokens_seen (0 for the references), shift, and the
    probe's test metrics (means over seeds) plus ``delta_vs_uni`` (accuracy minus Uni's on the same task).
    """
    from lab.probing.experiment import probe_features

    base = feature_config or FeatureConfig()
    probe_config = probe_config or ProbeConfig()
    n_hidden = _hidden_states(base.model)
    index = layer % n_hidden  # -1 -> the last hidden state
    settings = [("uni", None, 0, Checkpoint(Path(), 0, 0)), ("bi", None, 0, Checkpoint(Path(), 0, 0))]
    settings += [("bi-mntp", (str(c.path),), shift, c) for c in checkpoints for shift in shifts]
    rows = []
    for variant, adapters, shift, checkpoint in settings:
        config = replace(base, variant=variant, adapters=adapters, shift=shift, layers=(index,))
        features = {
            split: extract_features([s.words for s in splits[split]], config, root=cache_root).layer(index)
            for split in SPLITS
        }
        for task in tasks:
            result = probe_features(features, splits, task, probe_config)
            rows.append(
                {
                    "task": task,
                    "variant": variant,
                    "step": checkpoint.step,
                    "tokens_seen": checkpoint.tokens_seen,
                    "shift": shift,
                    "layer": index,
                    **result,
                }
            )
            logger.info("%s %s step %d shift %d: %.4f", task, variant, checkpoint.step, shift, result["accuracy"])
    uni = {r["task"]: r["accuracy"] for r in rows if r["variant"] == "uni"}
    for row in rows:
        row["delta_vs_uni"] = row["accuracy"] - uni[row["task"]]
    return rows


def _hidden_states(model: str) -> int:
    """Hidden states of ``model`` (layers + embeddings), read from its config without loading weights."""
    from transformers import AutoConfig

    from lab.models import resolve_model_path
    from lab.tiny import TINY_ARCHITECTURES

    if model.startswith("tiny-") and model[len("tiny-") :] in TINY_ARCHITECTURES:
        from lab.tiny import tiny_config

        return int(tiny_config(model[len("tiny-") :]).num_hidden_layers) + 1
    return int(AutoConfig.from_pretrained(resolve_model_path(model)).num_hidden_layers) + 1


def curve_figure(rows: list[dict]):
    """Plotly: accuracy minus Uni's vs MNTP tokens seen, one panel per task, one line per shift; Bi as a dotted line."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    figure = make_subplots(rows=1, cols=len(tasks), subplot_titles=[t.upper() for t in tasks])
    colours = {-1: "#2ca02c", 0: "#9467bd"}
    for col, task in enumerate(tasks, start=1):
        mine = [r for r in rows if r["task"] == task]
        for shift in sorted({r["shift"] for r in mine if r["variant"] == "bi-mntp"}):
            points = sorted((r for r in mine if r["variant"] == "bi-mntp" and r["shift"] == shift), key=_tokens)
            figure.add_trace(
                go.Scatter(
                    x=[r["tokens_seen"] for r in points],
                    y=[100 * r["delta_vs_uni"] for r in points],
                    error_y={"type": "data", "array": [100 * r.get("accuracy_std", 0.0) for r in points]},
                    mode="lines+markers",
                    name=f"Bi+MNTP, shift {shift}",
                    legendgroup=str(shift),
                    showlegend=col == 1,
                    line={"color": colours.get(shift)},
                ),
                row=1,
                col=col,
            )
        figure.add_hline(y=0, line_color="#1f77b4", annotation_text="Uni", row=1, col=col)
        bi = next(r for r in mine if r["variant"] == "bi")
        figure.add_hline(
            y=100 * bi["delta_vs_uni"], line_dash="dot", line_color="#ff7f0e", annotation_text="Bi", row=1, col=col
        )
    figure.update_xaxes(title_text="MNTP training tokens seen", type="log")
    figure.update_yaxes(title_text="test accuracy minus Uni's (points)", col=1)
    layer = rows[0]["layer"]
    figure.update_layout(
        title=f"Word probes at hidden state {layer} over MNTP training", height=420, width=380 * len(tasks)
    )
    return figure


def _tokens(row: dict) -> int:
    return row["tokens_seen"]


def write_curve(rows: list[dict], output_dir: str | Path, settings: dict) -> dict[str, Path]:
    """``probe_curve.json`` (rows and settings), ``probe_curve.csv`` and the figure (HTML, and PNG when possible)."""
    import pandas as pd

    from lab.probing.report import write_figure

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "probe_curve.json", "csv": out / "probe_curve.csv"}
    paths["json"].write_text(json.dumps({"settings": settings, "rows": rows}, indent=1, default=str) + "\n")
    pd.DataFrame(rows).to_csv(paths["csv"], index=False, float_format="%.4f")
    return {**paths, **write_figure(curve_figure(rows), out, "probe_curve")}


def curve_settings(
    run_dir: str | Path, checkpoints: Sequence[Checkpoint], splits: dict, config: FeatureConfig, probe: ProbeConfig
) -> dict:
    """What a curve was measured on, saved beside it."""
    return {
        "run_dir": str(run_dir),
        "checkpoints": [{"step": c.step, "tokens_seen": c.tokens_seen} for c in checkpoints],
        "sentences": {s: len(splits[s]) for s in SPLITS},
        "words": {s: sum(len(x.words) for x in splits[s]) for s in SPLITS},
        "features": {k: v for k, v in asdict(config).items() if k not in ("variant", "adapters", "shift")},
        "probe": asdict(probe),
    }
