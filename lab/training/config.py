"""Run configs: dataclasses with one source of defaults, loadable from JSON or YAML, every field overridable on the CLI.

A run is described by one config object. ``parse_config(MNTPConfig, argv)`` reads ``--config FILE`` (JSON or YAML),
then applies ``--field value`` overrides, then validates (``__post_init__``). The config used is saved with the run, so
``load_config(MNTPConfig, run_dir / "run_config.json")`` rebuilds it exactly.

Every field carries ``metadata={"help": ...}``, which becomes the ``--help`` text.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar, Union

from lab.data.sentences import WIKI_SENTENCES
from lab.pooling import canonical_pooling
from lab.training.dropout import SIMCSE_ATTENTION_DROPOUT
from lab.training.losses import SCALE

C = TypeVar("C", bound="TrainingConfig")

MASKING_STRATEGIES = ("bert", "replace_all")  # BERT's 80/10/10, or every selected token -> the mask token
SAMPLING_STRATEGIES = ("random", "group_by_length", "sequential")  # transformers' train_sampling_strategy values
MASK_TOKENS = ("_", "eos", "<mask>")  # the paper's "blank", the EOS token, or a new token with a trained embedding
STSB_PAIRS = "stsb-pairs"  # the supervised default: STS-B train pairs with mined hard negatives


def doc(text: str) -> dict[str, str]:
    """A field's ``metadata``: its ``--help`` text."""
    return {"help": text}


@dataclass
class TrainingConfig:
    """Settings shared by every LoRA training run (MNTP, SimCSE, supervised contrastive)."""

    # --- model and output
    model: str = field(default="smollm2-135m", metadata=doc("base model: short name, tiny-<arch>, folder or hub id"))
    output_dir: str = field(default="runs/train", metadata=doc("where checkpoints, adapter, config and metrics go"))
    adapters: list[str] = field(
        default_factory=list,
        metadata=doc("LoRA adapters merged into the base before training (names or folders)"),
    )
    # --- LoRA (the paper's values)
    lora_r: int = field(default=16, metadata=doc("LoRA rank"))
    lora_alpha: int = field(default=32, metadata=doc("LoRA scaling numerator (scale = alpha / r)"))
    lora_dropout: float = field(default=0.05, metadata=doc("dropout on the LoRA input"))
    lora_target_modules: list[str] = field(
        default_factory=list,
        metadata=doc("projection names to adapt; empty = the architecture's q,k,v,o,gate,up,down from the table"),
    )
    # --- data
    dataset: str = field(
        default="wiki-sample",
        metadata=doc("wiki-sample (offline default), a .txt (one document a line) or .jsonl file, or a HF name"),
    )
    max_seq_length: int = field(default=512, metadata=doc("tokens per training sequence (documents are chunked)"))
    max_documents: int = field(default=0, metadata=doc("use only the first N documents (0 = all)"))
    eval_fraction: float = field(default=0.05, metadata=doc("fraction of documents held out for evaluation"))
    max_eval_sequences: int = field(default=64, metadata=doc("cap on held-out sequences evaluated (0 = all)"))
    # --- optimisation
    max_steps: int = field(default=1000, metadata=doc("optimizer steps"))
    max_minutes: float = field(
        default=0.0, metadata=doc("stop (and save) after this many minutes of training; 0 = no limit")
    )
    per_device_train_batch_size: int = field(default=8, metadata=doc("sequences per device per micro-batch"))
    per_device_eval_batch_size: int = field(default=8, metadata=doc("sequences per device per eval batch"))
    gradient_accumulation_steps: int = field(default=1, metadata=doc("micro-batches per optimizer step"))
    learning_rate: float = field(default=5e-5, metadata=doc("peak learning rate (llm2vec's MNTP value)"))
    weight_decay: float = field(default=0.0, metadata=doc("AdamW weight decay"))
    warmup_steps: int = field(default=0, metadata=doc("linear warm-up steps"))
    lr_scheduler_type: str = field(default="linear", metadata=doc("transformers scheduler name"))
    max_grad_norm: float = field(default=1.0, metadata=doc("gradient clipping norm"))
    seed: int = field(default=42, metadata=doc("seed for data order, masking, dropout and LoRA init"))
    # --- bookkeeping
    logging_steps: int = field(default=10, metadata=doc("log loss and accuracy every N steps"))
    eval_steps: int = field(default=100, metadata=doc("evaluate on the held-out split every N steps (0 = only at end)"))
    eval_at_start: bool = field(default=True, metadata=doc("evaluate the untrained model first (a baseline)"))
    save_steps: int = field(default=100, metadata=doc("checkpoint every N steps"))
    save_total_limit: int = field(default=2, metadata=doc("keep at most N checkpoints"))
    resume: str = field(
        default="auto",
        metadata=doc("auto (latest checkpoint in output_dir if any) | never | a checkpoint folder"),
    )
    # --- speed (None = on when training on CUDA, off on CPU)
    bf16: bool | None = field(default=None, metadata=doc("bf16 autocast; default: on for CUDA"))
    gradient_checkpointing: bool | None = field(default=None, metadata=doc("recompute activations; default: CUDA"))
    attn_implementation: str = field(default="sdpa", metadata=doc("sdpa | eager | flash_attention_2"))
    dataloader_num_workers: int = field(default=0, metadata=doc("DataLoader worker processes"))
    train_sampling_strategy: str = field(
        default="random",
        metadata=doc(
            "random | group_by_length (batches of similar length: less padding, HF's LengthGroupedSampler) | "
            "sequential (the dataset's own order)"
        ),
    )
    report_to: str = field(default="none", metadata=doc("transformers report_to (none, tensorboard, wandb, ...)"))
    disable_tqdm: bool = field(default=False, metadata=doc("hide the progress bar"))

    def __post_init__(self) -> None:
        positive = ("lora_r", "lora_alpha", "max_seq_length", "max_steps", "per_device_train_batch_size")
        positive += ("per_device_eval_batch_size", "gradient_accumulation_steps", "logging_steps", "save_steps")
        positive += ("save_total_limit",)
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        for name in ("max_documents", "max_eval_sequences", "warmup_steps", "eval_steps", "dataloader_num_workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0; got {value!r}.")
        for f in fields(self):  # NaN passes every comparison and inf passes "> 0": a run would diverge at step 1
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number; got {value!r}.")
        if self.max_seq_length < 4:
            raise ValueError(f"max_seq_length must be at least 4; got {self.max_seq_length}.")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1); got {self.lora_dropout!r}.")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ValueError(f"eval_fraction must be in [0, 1); got {self.eval_fraction!r}.")
        if self.max_minutes < 0:
            raise ValueError(f"max_minutes must be >= 0; got {self.max_minutes!r}.")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate!r}.")
        if self.attn_implementation not in ("sdpa", "eager", "flash_attention_2"):
            raise ValueError(
                f"Unknown attn_implementation {self.attn_implementation!r}; expected sdpa, eager or flash_attention_2."
            )
        if self.train_sampling_strategy not in SAMPLING_STRATEGIES:
            raise ValueError(
                f"Unknown train_sampling_strategy {self.train_sampling_strategy!r}; expected one of "
                f"{', '.join(SAMPLING_STRATEGIES)}."
            )
        if self.resume not in ("auto", "never") and not Path(self.resume).is_dir():
            raise ValueError(f"resume must be 'auto', 'never' or an existing checkpoint folder; got {self.resume!r}.")


@dataclass
class MNTPConfig(TrainingConfig):
    """Masked next token prediction (LLM2Vec step 2)."""

    output_dir: str = field(default="runs/mntp", metadata=doc("where checkpoints, adapter, config and metrics go"))
    mask_probability: float = field(
        default=0.2, metadata=doc("fraction of maskable tokens selected as targets (paper: 0.2; 0.8 for Mistral)")
    )
    masking: str = field(
        default="bert", metadata=doc("bert: 80% mask / 10% random / 10% kept; replace_all: 100% mask token")
    )
    mask_token: str = field(
        default="_",
        metadata=doc("'_' (blank, the paper's default for Llama-style tokenizers), 'eos' or '<mask>'"),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.mask_probability <= 1.0:
            raise ValueError(f"mask_probability must be in (0, 1]; got {self.mask_probability!r}.")
        if self.masking not in MASKING_STRATEGIES:
            raise ValueError(f"Unknown masking {self.masking!r}; expected one of {', '.join(MASKING_STRATEGIES)}.")
        if self.mask_token not in MASK_TOKENS:
            raise ValueError(f"Unknown mask_token {self.mask_token!r}; expected one of {', '.join(MASK_TOKENS)}.")


@dataclass
class ContrastiveSettings:
    """Fields both contrastive stages add: a mixin only so that they stay first in ``run_config.json``."""

    pooling: str = field(default="mean", metadata=doc("pooling trained and saved with the run (LLM2Vec: mean)"))
    scale: float = field(default=SCALE, metadata=doc("1 / temperature of the InfoNCE loss (0.05 -> 20)"))
    gradcache_chunk_size: int = field(
        default=0, metadata=doc("GradCache: embed the batch in chunks of N texts, same gradients (0 = off)")
    )


@dataclass
class ContrastiveConfig(TrainingConfig, ContrastiveSettings):
    """What SimCSE and supervised training share: a fresh LoRA on the merged MNTP weights, trained with a pooling."""

    adapters: list[str] = field(
        default_factory=lambda: ["mntp"],
        metadata=doc("adapters merged before training (LLM2Vec: the MNTP adapter)"),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        canonical_pooling(self.pooling)
        if self.scale <= 0:
            raise ValueError(f"scale must be > 0; got {self.scale!r}.")
        if self.gradcache_chunk_size < 0:
            raise ValueError(f"gradcache_chunk_size must be >= 0; got {self.gradcache_chunk_size!r}.")
        if self.gradcache_chunk_size and self.gradient_accumulation_steps != 1:
            raise ValueError(
                "GradCache replaces gradient accumulation: set gradient_accumulation_steps to 1 "
                f"(got {self.gradient_accumulation_steps})."
            )


@dataclass
class SimCSEConfig(ContrastiveConfig):
    """Unsupervised SimCSE on top of merged adapters (the paper's defaults)."""

    output_dir: str = field(default="runs/simcse", metadata=doc("where checkpoints, adapter, config and metrics go"))
    dataset: str = field(
        default=WIKI_SENTENCES,
        metadata=doc(
            "wiki-sentences (the Wikipedia sample's distinct sentences, the paper's choice), stsb-train (STS-B train "
            "sentences), wiki-sample, a .txt (one text a line) or .jsonl ('text') file"
        ),
    )
    max_seq_length: int = field(default=128, metadata=doc("tokens per sentence (longer ones are cut)"))
    per_device_train_batch_size: int = field(default=128, metadata=doc("sentences per batch (each seen twice)"))
    learning_rate: float = field(default=3e-5, metadata=doc("peak learning rate (LLM2Vec's SimCSE value)"))
    attention_dropout: float = field(
        default=SIMCSE_ATTENTION_DROPOUT, metadata=doc("attention dropout: SimCSE's only noise (paper: 0.3)")
    )
    eval_fraction: float = field(default=0.0, metadata=doc("unused: SimCSE is judged on STS-B (python -m lab eval)"))
    eval_stsb_dev: bool = field(
        default=True,
        metadata=doc("every eval_steps, STS-B dev Spearman (all 1,500 pairs); the run ends on the best checkpoint"),
    )
    eval_stsb_pairs: int = field(default=0, metadata=doc("use the first N STS-B dev pairs (0 = all; tests only)"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.attention_dropout < 1.0:
            raise ValueError(f"attention_dropout must be in (0, 1) for SimCSE; got {self.attention_dropout!r}.")


@dataclass
class SupervisedConfig(ContrastiveConfig):
    """Supervised contrastive training with in-batch and hard negatives (defaults: the paper's, per process)."""

    output_dir: str = field(
        default="runs/supervised", metadata=doc("where checkpoints, adapter, config and metrics go")
    )
    dataset: str = field(
        default=STSB_PAIRS,
        metadata=doc(
            "stsb-pairs (STS-B train pairs >= 4 with hard negatives) or a .jsonl of query/positive[/negative] records"
        ),
    )
    instruction: str = field(default="", metadata=doc("instruction for queries whose record has none"))
    min_positive_score: float = field(
        default=4.0, metadata=doc("stsb-pairs: pairs scoring at least this are positives")
    )
    max_negative_score: float = field(
        default=1.0, metadata=doc("stsb-pairs: hard negatives from pairs scoring <= this")
    )
    max_seq_length: int = field(default=128, metadata=doc("tokens per text, instruction included"))
    per_device_train_batch_size: int = field(default=64, metadata=doc("records per process per batch (paper: 64 x 8)"))
    learning_rate: float = field(default=2e-4, metadata=doc("peak learning rate (LLM2Vec's supervised value)"))
    eval_fraction: float = field(default=0.05, metadata=doc("fraction of records held out for evaluation"))
    train_sampling_strategy: str = field(
        default="sequential", metadata=doc("sequential: keep the one-source-per-batch order")
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.train_sampling_strategy != "sequential":
            raise ValueError(
                "train_sampling_strategy must be 'sequential' (batches are pre-arranged by source); "
                f"got {self.train_sampling_strategy!r}."
            )


# ---------------------------------------------------------------------------------------------- loading and parsing


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """``int | None`` -> (int, True); ``int`` -> (int, False)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(tp))
    return tp, False


def _parse_bool(text: str, name: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"--{name} expects true or false; got {text!r}.")


def convert_value(name: str, tp: Any, value: Any) -> Any:
    """Coerce a value read from the CLI (a string) or a file (JSON/YAML scalar) to the field's type."""
    base, optional = _unwrap_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.strip().lower() in ("none", "null", "auto")):
        if not optional:
            raise ValueError(f"{name} cannot be None.")
        return None
    if typing.get_origin(base) is list:
        if isinstance(value, str):
            return [v for v in value.replace(",", " ").split() if v]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{name} expects a list; got {value!r}.")
        return [str(v) for v in value]
    if base is bool:
        return value if isinstance(value, bool) else _parse_bool(str(value), name)
    if base is int:
        if isinstance(value, bool):
            raise ValueError(f"{name} expects an integer; got {value!r}.")
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} expects an integer; got {value!r}.") from None
        if not as_float.is_integer():
            raise ValueError(f"{name} expects an integer; got {value!r}.")
        return int(as_float)
    if base is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} expects a number; got {value!r}.") from None
    return str(value)


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """A flat mapping from a ``.json``, ``.yaml`` or ``.yml`` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Config file {str(path)!r} does not exist.")
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    elif path.suffix == ".json":
        data = json.loads(text)
    else:
        raise ValueError(f"Config file {str(path)!r} must end in .json, .yaml or .yml.")
    if not isinstance(data, dict):
        raise ValueError(f"Config file {str(path)!r} must hold a mapping of field: value; got {type(data).__name__}.")
    return data


def build_config(cls: type[C], values: dict[str, Any]) -> C:
    """Instantiate ``cls`` from a mapping, converting types; unknown keys raise a ``ValueError`` listing valid ones."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"Unknown config field(s) {', '.join(unknown)} for {cls.__name__}; valid: {', '.join(sorted(known))}."
        )
    return cls(**{k: convert_value(k, hints[k], v) for k, v in values.items()})


def load_config(cls: type[C], path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> C:
    """Defaults <- file (JSON/YAML) <- overrides, then validation."""
    values = read_config_file(path) if path else {}
    values.update(overrides or {})
    return build_config(cls, values)


def add_config_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """``--config FILE`` plus one ``--field VALUE`` option per dataclass field (values stay strings until loading)."""
    parser.add_argument("--config", default=None, help="a JSON or YAML file of field: value")
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        kind = _unwrap_optional(hints[f.name])[0]
        type_name = getattr(kind, "__name__", str(kind))
        parser.add_argument(
            f"--{f.name}",
            default=None,
            metavar=type_name.upper(),
            help=f"{f.metadata.get('help', '')} (default: {default!r})".replace("%", "%%"),  # argparse formats help
        )


def config_from_args(cls: type[C], args: argparse.Namespace) -> C:
    """The config named by ``--config`` with every ``--field`` given on the command line applied on top."""
    overrides = {f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None}
    return load_config(cls, args.config, overrides)


def parse_config(cls: type[C], argv: list[str] | None = None) -> C:
    """Parse ``argv`` (``--config FILE --field value ...``) into a validated config."""
    parser = argparse.ArgumentParser(description=cls.__doc__)
    add_config_arguments(parser, cls)
    return config_from_args(cls, parser.parse_args(argv))


def config_to_dict(config: TrainingConfig) -> dict[str, Any]:
    """Plain JSON-able dict of a config (what is saved as ``run_config.json``)."""
    return dataclasses.asdict(config)
