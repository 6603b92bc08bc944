"""The training loop every LoRA run shares: the Hugging Face ``Trainer`` (so ``torchrun`` / ``accelerate launch`` work
unchanged) driven by a task's ``loss_fn(decoder, batch) -> (loss, n_correct, n_counted)``.

``run_training`` adds checkpoints and resume (``resume="auto"`` picks the latest complete checkpoint), a progress bar,
evaluation on a held-out split, ``metrics.jsonl`` (every log line), and at the end the adapter and its files
(``lab.training.checkpoints``).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from transformers import Trainer, TrainerCallback, TrainingArguments

from lab.memory import peak_memory_gb
from lab.training.checkpoints import (
    METRICS_LOG_NAME,
    METRICS_NAME,
    RUN_CONFIG_NAME,
    check_finite,
    check_same_run,
    read_metrics_log,
    resolve_resume,
    save_run,
    truncate_metrics_log,
)
from lab.training.config import TrainingConfig, config_to_dict
from lab.training.data import SequenceDataset
from lab.training.lora import count_parameters

logger = logging.getLogger(__name__)

LossFn = Callable[[nn.Module, Any], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
Evaluator = Callable[[nn.Module], dict[str, float]]  # model -> metrics (e.g. STS-B dev Spearman), run in eval mode


def default_precision(config: TrainingConfig) -> tuple[bool, bool]:
    """(bf16, gradient_checkpointing): the config's values, or on for CUDA and off for a CPU when left as None."""
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported() if config.bf16 is None else config.bf16
    checkpointing = cuda if config.gradient_checkpointing is None else config.gradient_checkpointing
    return bool(bf16), bool(checkpointing)


class MetricsFileCallback(TrainerCallback):
    """Appends every log event (loss, accuracy, eval metrics) to ``output_dir/metrics.jsonl``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        if state.is_world_process_zero and logs:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": state.global_step, **logs}) + "\n")


class FiniteWeightsCallback(TrainerCallback):
    """Stops a diverged run after the optimizer step that made a trained weight NaN or infinite (before it is saved:
    the Trainer checkpoints after ``on_step_end``). The loss is checked on every micro-batch in ``compute_loss``."""

    def on_step_end(self, args, state, control, model=None, **kwargs) -> None:
        check_finite(None, model, state.global_step)


class TimeLimitCallback(TrainerCallback):
    """Stops training (the Trainer then saves as usual) once ``minutes`` of wall time have passed."""

    def __init__(self, minutes: float) -> None:
        self.seconds = minutes * 60.0
        self.start = time.time()

    def on_step_end(self, args, state, control, **kwargs):
        if time.time() - self.start > self.seconds:
            logger.info(
                "Time limit of %.1f minutes reached at step %d; stopping.", self.seconds / 60, state.global_step
            )
            control.should_training_stop = True
            control.should_save = True
        return control


class EpochCallback(TrainerCallback):
    """Tells the training collator which epoch starts (``collator.epoch``), so each pass over the data masks anew."""

    def __init__(self, collator: Callable) -> None:
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs) -> None:
        self.collator.epoch = int(state.epoch or 0)  # a resumed run starts inside the epoch it was killed in


class LabTrainer(Trainer):
    """``Trainer`` driven by a ``loss_fn(model, batch) -> (loss, n_correct, n_counted)``.

    Logs ``accuracy`` (n_correct / n_counted since the last log) beside the loss, and evaluates with its own loop so
    held-out loss and accuracy are weighted by counted tokens, with a fixed-seed eval collator (same masks every time).
    ``extra_modules`` (e.g. a frozen LM head outside the peft model) are moved to the training device.

    ``token_weighted``: ``loss_fn``'s loss is a mean over ``n_counted`` tokens (MNTP's masked tokens). Each
    micro-batch's loss is then re-weighted so the step's gradient is that of the mean over every counted token of the
    global batch (all gradient-accumulation steps, all processes), whatever the split: N processes at batch B/N train
    as one process at batch B. Otherwise (contrastive losses, a mean over queries of equal-sized micro-batches) the
    Trainer averages micro-batch losses, which is already the global mean.
    """

    def __init__(
        self,
        *args,
        loss_fn: LossFn,
        eval_collator: Callable | None = None,
        extra_modules: dict[str, nn.Module] | None = None,
        evaluator: Evaluator | None = None,
        token_weighted: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.loss_fn = loss_fn
        self.evaluator = evaluator
        # a copy: the training collator's epoch moves on, held-out masks must not
        self.eval_collator = eval_collator or copy.copy(self.data_collator)
        self.token_weighted = token_weighted
        # True makes the Trainer count the batch's labels (!= -100) over every accumulation step and process before
        # the step (num_items_in_batch) and skip its division by the accumulation steps; compute_loss uses the count.
        self.model_accepts_loss_kwargs = token_weighted
        for module in (extra_modules or {}).values():
            module.to(self.args.device)
        self._correct = 0
        self._counted = 0

    def _prepare_inputs(self, inputs):
        """Batches are ``Batch`` / ``ContrastiveBatch`` objects, not dicts: they move themselves."""
        return inputs.to(self.args.device)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, correct, counted = self.loss_fn(model, inputs)
        check_finite(float(loss.detach()), None, self.state.global_step + 1)  # the step this micro-batch is part of
        if self.token_weighted and num_items_in_batch is not None:
            # mean over this micro-batch's tokens -> its share of the mean over the global batch's tokens; DDP then
            # averages the processes' gradients, so each process's share is scaled back up by their number
            loss = loss * (float(counted) / num_items_in_batch) * self.accelerator.num_processes
        self._correct += int(correct)
        self._counted += int(counted)
        return (loss, None) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._counted:
            logs["accuracy"] = self._correct / self._counted
            logs["counted_tokens"] = self._counted
            self._correct = self._counted = 0
        super().log(logs, start_time)

    @torch.no_grad()
    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """Held-out loss and accuracy, weighted by counted (masked) tokens; or the task's own ``evaluator``."""
        if self.evaluator is not None:
            start = time.time()
            metrics = {f"{metric_key_prefix}_{k}": v for k, v in self.evaluator(self.model).items()}
            metrics[f"{metric_key_prefix}_runtime"] = time.time() - start
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if dataset is None or len(dataset) == 0:
            return {}
        generator = getattr(self.eval_collator, "generator", None)
        if generator is not None:
            generator.manual_seed(self.args.seed)  # identical masks at every evaluation
        loader = DataLoader(dataset, batch_size=self.args.per_device_eval_batch_size, collate_fn=self.eval_collator)
        model = self.model
        was_training = model.training
        model.eval()
        total_loss, correct, counted, start = 0.0, 0, 0, time.time()
        try:
            for batch in loader:
                batch = batch.to(self.args.device)
                with self.compute_loss_context_manager():
                    loss, n_correct, n = self.loss_fn(model, batch)
                total_loss += float(loss) * int(n)
                correct += int(n_correct)
                counted += int(n)
        finally:
            model.train(was_training)
        metrics = {
            f"{metric_key_prefix}_loss": total_loss / max(counted, 1),
            f"{metric_key_prefix}_accuracy": correct / max(counted, 1),
            f"{metric_key_prefix}_counted_tokens": counted,
            f"{metric_key_prefix}_runtime": time.time() - start,
        }
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def training_arguments(config: TrainingConfig, has_eval: bool, best_metric: str | None = None) -> TrainingArguments:
    """``TrainingArguments`` from a run config (bf16 / gradient checkpointing default on for CUDA).

    ``best_metric`` (an eval metric, higher is better): keep the best checkpoint by it and end on it.
    """
    bf16, checkpointing = default_precision(config)
    eval_every = config.eval_steps if has_eval and config.eval_steps else None
    if best_metric and (not eval_every or config.save_steps % eval_every):
        raise ValueError(
            f"Choosing the best checkpoint by {best_metric} needs eval_steps > 0 dividing save_steps; got eval_steps "
            f"{config.eval_steps} and save_steps {config.save_steps}."
        )
    return TrainingArguments(
        output_dir=config.output_dir,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.per_device_train_batch_size,
        per_device_eval_batch_size=config.per_device_eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_steps,
        lr_scheduler_type=config.lr_scheduler_type,
        max_grad_norm=config.max_grad_norm,
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=config.logging_steps,
        logging_nan_inf_filter=False,  # never log a NaN loss as the mean of earlier ones (0.0 at the start)
        eval_strategy="steps" if eval_every else "no",
        eval_steps=eval_every,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=bool(best_metric),
        metric_for_best_model=best_metric,
        greater_is_better=True if best_metric else None,
        bf16=bf16,
        activation_checkpointing=checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
        dataloader_num_workers=config.dataloader_num_workers,
        remove_unused_columns=False,  # the collator builds exactly the model's inputs
        report_to=config.report_to,
        disable_tqdm=config.disable_tqdm,
        # "sequential" keeps a trainer's pre-arranged order (supervised: every global batch from one source)
        train_sampling_strategy=config.train_sampling_strategy,
        include_num_input_tokens_seen="non_padding",  # gives train_tokens_per_second
        use_cpu=not torch.cuda.is_available(),
    )


def run_training(
    config: TrainingConfig,
    decoder: nn.Module,
    tokenizer,
    train_sequences: Sequence[np.ndarray],
    eval_sequences: Sequence[np.ndarray],
    collator: Callable,
    loss_fn: LossFn,
    eval_collator: Callable | None = None,
    extra_modules: dict[str, nn.Module] | None = None,
    encoder_settings: dict[str, Any] | None = None,
    evaluator: Evaluator | None = None,
    best_metric: str | None = None,
    token_weighted: bool = False,
) -> dict[str, Any]:
    """Train ``decoder`` (a peft model) with ``loss_fn``; resume, evaluate, save; returns the final metrics.

    Args:
        config: the run config (saved as ``run_config.json``).
        decoder: the peft LoRA model the Trainer optimises (only its trainable parameters change).
        tokenizer: saved with the adapter (it may have gained a ``<mask>`` token).
        train_sequences / eval_sequences: token-id arrays fed to the collators.
        collator: batch builder for training; ``eval_collator`` for evaluation (default: the same).
        loss_fn: ``(model, batch) -> (loss, n_correct, n_counted)``.
        extra_modules: frozen modules ``loss_fn`` uses outside ``decoder`` (moved to the device).
        encoder_settings: how the adapter must be encoded with (a contrastive run's ``pooling``), saved beside it.
        evaluator: ``model -> metrics`` run every ``eval_steps`` instead of the held-out loss (SimCSE: STS-B dev).
        best_metric: an evaluator metric (``eval_`` prefixed); the run ends on the checkpoint that maximises it.
        token_weighted: ``loss_fn``'s loss is a mean over counted tokens; weight it by the global count (see
            ``LabTrainer``).
    """
    out = Path(config.output_dir)
    if config.resume != "never":  # continuing a run: it must be the same run (checked before anything is written)
        check_same_run(out, config)
        if config.resume != "auto":
            check_same_run(Path(config.resume).parent, config)
    out.mkdir(parents=True, exist_ok=True)
    (out / RUN_CONFIG_NAME).write_text(json.dumps(config_to_dict(config), indent=2) + "\n")
    eval_dataset = SequenceDataset(eval_sequences) if eval_sequences else None
    has_eval = eval_dataset is not None or evaluator is not None
    trainer = LabTrainer(
        model=decoder,
        args=training_arguments(config, has_eval, best_metric),
        train_dataset=SequenceDataset(train_sequences),
        # the Trainer refuses eval_strategy "steps" without an eval dataset; an evaluator needs none
        eval_dataset=eval_dataset if eval_dataset is not None or evaluator is None else SequenceDataset([]),
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[MetricsFileCallback(out / METRICS_LOG_NAME), EpochCallback(collator), FiniteWeightsCallback()]
        + ([TimeLimitCallback(config.max_minutes)] if config.max_minutes else []),
        loss_fn=loss_fn,
        eval_collator=eval_collator,
        extra_modules=extra_modules,
        evaluator=evaluator,
        token_weighted=token_weighted,
    )
    checkpoint = resolve_resume(config)
    metrics_log = out / METRICS_LOG_NAME
    initial: dict[str, float] = {}
    if checkpoint:
        step = json.loads((Path(checkpoint) / "trainer_state.json").read_text())["global_step"]
        logger.info("Resuming from %s (step %d)", checkpoint, step)
        truncate_metrics_log(metrics_log, step)
    else:
        metrics_log.unlink(missing_ok=True)
        if has_eval and config.eval_at_start:
            initial = trainer.evaluate(metric_key_prefix="initial_eval")
    tokens_before = (
        json.loads((Path(checkpoint) / "trainer_state.json").read_text()).get("num_input_tokens_seen", 0)
        if checkpoint
        else 0
    )
    result = trainer.train(resume_from_checkpoint=checkpoint)
    # with a best checkpoint the run ends on a model already evaluated (its metrics are in the log and below)
    final_eval = trainer.evaluate() if has_eval and not best_metric else {}
    train_logs = [e for e in read_metrics_log(out) if "loss" in e]
    trainable, total = count_parameters(decoder)
    metrics = {
        "global_step": trainer.state.global_step,
        "final_train_loss": train_logs[-1]["loss"] if train_logs else math.nan,
        "final_train_accuracy": train_logs[-1].get("accuracy", math.nan) if train_logs else math.nan,
        **{k: v for k, v in initial.items() if not k.endswith("_runtime")},
        **{k: v for k, v in final_eval.items() if not k.endswith("_runtime")},
        "train_runtime_s": result.metrics.get("train_runtime"),
        "train_tokens_per_second": (trainer.state.num_input_tokens_seen - tokens_before)
        / max(result.metrics.get("train_runtime") or 1e-9, 1e-9),
        # this process's peak (process 0's when distributed): CUDA max allocated on a GPU, else the CPU's max RSS
        "peak_memory_gb": round(peak_memory_gb(trainer.args.device), 3),
        "trainable_parameters": trainable,
        "total_parameters": total,
        "resumed_from": checkpoint,
        "world_size": trainer.args.world_size,
    }
    if best_metric:
        metrics["best_metric"] = {best_metric: trainer.state.best_metric}
        metrics["best_checkpoint"] = trainer.state.best_model_checkpoint
    if trainer.is_world_process_zero():
        save_run(out, decoder, tokenizer, config, metrics, encoder_settings)
    logger.info("Saved the adapter, %s and %s to %s", RUN_CONFIG_NAME, METRICS_NAME, out)
    return metrics
