"""A run's files: checkpoints (which one to resume from), ``metrics.jsonl`` (every log event), and the final adapter
with ``run_config.json``, ``metrics.json`` and ``llm2vec_adapter.json`` (the encoder settings it was trained with)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from torch import nn

from lab.adapters import write_settings
from lab.training.config import TrainingConfig, config_to_dict

logger = logging.getLogger(__name__)

RUN_CONFIG_NAME = "run_config.json"
METRICS_LOG_NAME = "metrics.jsonl"  # one JSON object per log / eval event, in step order
METRICS_NAME = "metrics.json"  # the final summary


def last_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The latest ``checkpoint-N`` whose ``trainer_state.json`` was written (the Trainer writes it last).

    A run killed while saving leaves a half-written folder; resuming from it would fail, so it is skipped.
    """
    complete, partial = [], []
    for folder in Path(output_dir).glob("checkpoint-*"):
        step = folder.name.removeprefix("checkpoint-")
        if folder.is_dir() and step.isdigit():
            (complete if (folder / "trainer_state.json").is_file() else partial).append((int(step), folder))
    for _, folder in partial:
        logger.warning("Skipping %s: it was not completely written (the run was interrupted while saving)", folder)
    return str(max(complete)[1]) if complete else None


def resolve_resume(config: TrainingConfig) -> str | None:
    """The checkpoint to resume from: ``resume`` as a folder, the latest complete one for ``auto``, or None."""
    if config.resume == "never":
        return None
    if config.resume != "auto":
        return config.resume
    if not Path(config.output_dir).is_dir():
        return None
    return last_complete_checkpoint(config.output_dir)


def truncate_metrics_log(path: Path, step: int) -> None:
    """Drop log lines written after ``step`` (by a run killed after its last checkpoint) before resuming."""
    if not path.is_file():
        return
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line).get("step", 0) <= step
    ]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def read_metrics_log(output_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every event of ``metrics.jsonl`` (train logs have ``loss``; evaluations have ``eval_loss``)."""
    path = Path(output_dir) / METRICS_LOG_NAME
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def save_run(
    output_dir: str | os.PathLike,
    decoder: nn.Module,
    tokenizer,
    config: TrainingConfig,
    metrics: dict[str, Any],
    encoder_settings: dict[str, Any] | None = None,
) -> None:
    """Write the LoRA adapter (bare-decoder keys), the tokenizer, ``llm2vec_adapter.json`` (base model, architecture
    and the encoder settings it was trained with, applied when it is loaded), ``run_config.json`` and ``metrics.json``.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    decoder.save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_settings(
        out,
        base_model=config.model,
        model_type=decoder.config.model_type,
        bidirectional=True,  # every LLM2Vec stage trains the bidirectional model
        max_seq_length=config.max_seq_length,  # recorded, not applied: encoding may use longer texts
        **(encoder_settings or {}),
    )
    (out / RUN_CONFIG_NAME).write_text(json.dumps(config_to_dict(config), indent=2) + "\n")
    (out / METRICS_NAME).write_text(json.dumps(metrics, indent=2) + "\n")
