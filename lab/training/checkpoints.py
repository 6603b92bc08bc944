"""A run's files: checkpoints (which one to resume from), ``metrics.jsonl`` (every log event), and the final adapter
with ``run_config.json``, ``metrics.json`` and ``llm2vec_adapter.json`` (the encoder settings it was trained with)."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import struct
import zipfile
from pathlib import Path
from typing import Any

from torch import nn

from lab.adapters import write_settings
from lab.training.config import TrainingConfig, config_to_dict

logger = logging.getLogger(__name__)

RUN_CONFIG_NAME = "run_config.json"
METRICS_LOG_NAME = "metrics.jsonl"  # one JSON object per log / eval event, in step order
METRICS_NAME = "metrics.json"  # the final summary


# Fields a resumed run may change: how long it runs and how it reports, never what it computes. max_steps and
# max_minutes are the budget (the LR schedule is the checkpoint's); logging, checkpointing, the progress bar and the
# DataLoader's worker count change no weight. Anything else (model, data, lr, seed, LoRA, ...) makes another run.
BUDGET_FIELDS = (
    "max_steps",
    "max_minutes",
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "disable_tqdm",
    "report_to",
    "dataloader_num_workers",
    "resume",
    "output_dir",
)


class TrainingDivergedError(ValueError):
    """The loss or the trained weights became NaN or infinite: the run stops and no adapter is written."""


def checkpoint_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be resumed from (its first missing, truncated or unreadable file), or None if whole.

    Cheap: ``trainer_state.json`` must parse, each ``.safetensors`` must be as long as its header says, and each
    ``.pt`` / ``.pth`` (a zip archive) must have its central directory, which a truncated file loses.
    """
    state = folder / "trainer_state.json"
    if not state.is_file():
        return f"{state} is missing (the run was interrupted while saving)"
    try:
        if not isinstance(json.loads(state.read_text(encoding="utf-8")).get("global_step"), int):
            return f"{state} has no integer global_step"
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as error:
        return f"{state} is not valid JSON ({error})"
    for path in sorted(folder.iterdir()):
        if path.suffix == ".safetensors":
            size = path.stat().st_size
            with open(path, "rb") as handle:
                head = handle.read(8)
                header_size = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
                try:
                    header = json.loads(handle.read(header_size)) if 0 < header_size < size else None
                except (json.JSONDecodeError, UnicodeDecodeError):
                    header = None
            if not isinstance(header, dict):
                return f"{path} is truncated or corrupt (no valid safetensors header)"
            ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
            expected = 8 + header_size + max(ends, default=0)
            if expected != size:
                return f"{path} is truncated or corrupt ({size} bytes; its header describes {expected})"
        elif path.suffix in (".pt", ".pth") and not zipfile.is_zipfile(path):
            return f"{path} is truncated or corrupt (not a complete torch archive)"
    return None


def last_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The latest ``checkpoint-N`` that is whole (``checkpoint_problem``); later broken ones are skipped, named.

    A run killed while saving leaves a folder without ``trainer_state.json`` (the Trainer writes it last); a disk
    that filled up or a copy cut short leaves a truncated file. Either way the previous complete checkpoint is used.
    """
    found = []
    for folder in Path(output_dir).glob("checkpoint-*"):
        step = folder.name.removeprefix("checkpoint-")
        if folder.is_dir() and step.isdigit():
            found.append((int(step), folder))
    for _, folder in sorted(found, reverse=True):
        problem = checkpoint_problem(folder)
        if problem is None:
            return str(folder)
        logger.warning("Skipping %s: %s; falling back to the previous checkpoint", folder, problem)
    return None


def resolve_resume(config: TrainingConfig) -> str | None:
    """The checkpoint to resume from: ``resume`` as a folder, the latest complete one for ``auto``, or None."""
    if config.resume == "never":
        return None
    if config.resume != "auto":
        problem = checkpoint_problem(Path(config.resume))
        if problem:
            raise ValueError(f"Cannot resume from {config.resume!r}: {problem}. Pick another checkpoint folder.")
        return config.resume
    if not Path(config.output_dir).is_dir():
        return None
    return last_complete_checkpoint(config.output_dir)


def config_differences(saved: dict[str, Any], current: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    """``field: saved -> current`` for every field but ``BUDGET_FIELDS`` that differs; a field the saved config
    lacks (written before the field existed) counts as its default."""
    missing = "<absent>"
    return [
        f"{name}: {saved.get(name, missing)!r} -> {current.get(name, missing)!r}"
        for name in sorted(set(saved) | set(current))
        if name not in BUDGET_FIELDS and saved.get(name, defaults.get(name, missing)) != current.get(name, missing)
    ]


def check_same_run(run_dir: Path, config: TrainingConfig) -> None:
    """Refuse to continue (or overwrite) the run in ``run_dir`` when ``config`` differs from its ``run_config.json``
    in anything but the budget (``BUDGET_FIELDS``): resuming would mix two runs and lose the first one's provenance.
    """
    path = run_dir / RUN_CONFIG_NAME
    if not path.is_file():
        return
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}); move it away or use resume=never.") from None
    defaults = {
        f.name: f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        for f in dataclasses.fields(config)
    }
    differences = config_differences(saved, json.loads(json.dumps(config_to_dict(config))), defaults)
    if differences:
        raise ValueError(
            f"{run_dir} holds another run: its {RUN_CONFIG_NAME} differs in {'; '.join(differences)}. "
            f"resume=auto continues only the same run (it may change {', '.join(BUDGET_FIELDS[:5])}, ...). "
            "Use another output_dir, or resume=never to start over there."
        )


def check_finite(loss: float | None, model: nn.Module | None, step: int) -> None:
    """Raise ``TrainingDivergedError`` when the loss or any trainable weight is NaN or infinite."""
    if loss is not None and not math.isfinite(loss):
        raise TrainingDivergedError(
            f"The training loss became {loss} at step {step}: the run diverged (learning_rate too high?). "
            "No adapter was written; lower learning_rate (or raise warmup_steps) and start again with resume=never."
        )
    if model is None:
        return
    import torch

    bad = [name for name, p in model.named_parameters() if p.requires_grad and not torch.isfinite(p).all()]
    if bad:
        raise TrainingDivergedError(
            f"{len(bad)} trained weight(s) became NaN or infinite after step {step} (first: {bad[0]}): the run "
            "diverged (learning_rate too high?). No adapter was written; lower learning_rate and start again with "
            "resume=never."
        )


def _read_events(path: Path) -> list[dict[str, Any]]:
    """The events of a ``metrics.jsonl``; a torn last line (a kill mid-write) is dropped with a warning."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    events = []
    for number, line in enumerate(lines, 1):
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number < len(lines):
                raise ValueError(
                    f"{path}, line {number}, is not valid JSON ({error}); only a torn last line is dropped. "
                    "Fix or delete that line."
                ) from None
            logger.warning("Dropping the torn last line of %s (%d characters): %r", path, len(line), line[:80])
    return events


def truncate_metrics_log(path: Path, step: int) -> None:
    """Drop log lines written after ``step`` (by a run killed after its last checkpoint) before resuming."""
    if not path.is_file():
        return
    kept = [event for event in _read_events(path) if event.get("step", 0) <= step]
    path.write_text("".join(json.dumps(event) + "\n" for event in kept), encoding="utf-8")


def read_metrics_log(output_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every event of ``metrics.jsonl`` (train logs have ``loss``; evaluations have ``eval_loss``)."""
    return _read_events(Path(output_dir) / METRICS_LOG_NAME)


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
