"""Unsupervised SimCSE (LLM2Vec step 3): dropout is the only augmentation, the rest of the batch the negatives.

Each sentence goes through the bidirectional model twice in training mode; attention dropout (switched on by
``set_attention_dropout``, Llama-style models ship with none) makes the two embeddings differ slightly. InfoNCE then
pulls each sentence's two views together and pushes them away from every other sentence in the batch. LLM2Vec trains
a fresh LoRA on top of the *merged* MNTP weights: ``adapters: [mntp]`` in the config.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

from lab.training.config import TrainingConfig
from lab.training.contrastive import ContrastiveBatch, Feature, contrastive_step, encode_texts, pad_group
from lab.training.dropout import SIMCSE_ATTENTION_DROPOUT, set_attention_dropout
from lab.training.losses import SCALE

logger = logging.getLogger(__name__)

STSB_TRAIN = "stsb-train"  # the sentences of STS-B's train split (never dev/test), scores unused


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class ContrastiveSettings:
    """Fields both contrastive trainers add to ``TrainingConfig`` (a mixin: defaults live here only)."""

    pooling: str = field(default="mean", metadata=_help("pooling trained and saved with the run (LLM2Vec: mean)"))
    scale: float = field(default=SCALE, metadata=_help("1 / temperature of the InfoNCE loss (0.05 -> 20)"))
    gradcache_chunk_size: int = field(
        default=0, metadata=_help("GradCache: embed the batch in chunks of N texts, same gradients (0 = off)")
    )

    def validate_contrastive(self) -> None:
        """Checks of the shared fields; each trainer's ``__post_init__`` calls it."""
        from lab.pooling import canonical_pooling

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
class SimCSEConfig(TrainingConfig, ContrastiveSettings):
    """Unsupervised SimCSE on top of merged adapters (the paper's defaults)."""

    output_dir: str = field(default="runs/simcse", metadata=_help("where checkpoints, adapter, config and metrics go"))
    adapters: list[str] = field(
        default_factory=lambda: ["mntp"], metadata=_help("adapters merged before training (LLM2Vec: the MNTP adapter)")
    )
    dataset: str = field(
        default=STSB_TRAIN,
        metadata=_help(
            "stsb-train (STS-B train sentences), wiki-sample, a .txt (one text a line) or .jsonl ('text') file"
        ),
    )
    max_seq_length: int = field(default=128, metadata=_help("tokens per sentence (longer ones are cut)"))
    per_device_train_batch_size: int = field(default=128, metadata=_help("sentences per batch (each seen twice)"))
    learning_rate: float = field(default=3e-5, metadata=_help("peak learning rate (LLM2Vec's SimCSE value)"))
    attention_dropout: float = field(
        default=SIMCSE_ATTENTION_DROPOUT, metadata=_help("attention dropout: SimCSE's only noise (paper: 0.3)")
    )
    eval_fraction: float = field(default=0.0, metadata=_help("unused: SimCSE is judged on STS-B (python -m lab eval)"))

    def __post_init__(self) -> None:
        super().__post_init__()
        self.validate_contrastive()
        if not 0.0 < self.attention_dropout < 1.0:
            raise ValueError(f"attention_dropout must be in (0, 1) for SimCSE; got {self.attention_dropout!r}.")


def load_sentences(source: str, max_documents: int = 0) -> list[str]:
    """Training sentences: STS-B train's distinct sentences, or texts from ``lab.data.corpus.load_documents``."""
    if source == STSB_TRAIN:
        from lab.data.stsb import load_stsb

        pairs = load_stsb("train")
        texts = list(dict.fromkeys(t for p in pairs for t in (p.sentence1, p.sentence2)))  # distinct, file order
    else:
        from lab.data.corpus import load_documents

        texts = load_documents(source)
    texts = [t for t in texts if t.strip()]
    return texts[:max_documents] if max_documents else texts


@dataclass
class SimCSECollator:
    """Pads ``{"input_ids": Feature}`` items; the same padded sentences are the query and positive groups."""

    pad_token_id: int

    def __call__(self, features: Sequence[dict]) -> ContrastiveBatch:
        group = pad_group([f["input_ids"] for f in features], self.pad_token_id)
        return ContrastiveBatch(query=group, positive=group)  # two passes, two dropout masks


def train_simcse(config: SimCSEConfig) -> dict[str, float]:
    """Train a SimCSE LoRA adapter as ``config`` says; returns the final metrics (also in ``metrics.json``)."""
    from lab.training.lora import build_lora_model, load_causal_lm
    from lab.training.trainer import run_training

    causal_lm, tokenizer = load_causal_lm(config)  # adapters merged, bidirectional, train mode
    set_attention_dropout(causal_lm, config.attention_dropout)
    decoder = build_lora_model(causal_lm, config)
    sentences = load_sentences(config.dataset, config.max_documents)
    items: list[Feature] = encode_texts(tokenizer, sentences, config.pooling, config.max_seq_length)
    logger.info(
        "SimCSE on %d sentences from %s (%s tokens)",
        len(items),
        config.dataset,
        f"{sum(len(e['input_ids']) for e in items):,}",
    )
    return run_training(
        config,
        decoder=decoder,
        tokenizer=tokenizer,
        train_sequences=items,
        eval_sequences=[],
        collator=SimCSECollator(int(tokenizer.pad_token_id)),
        loss_fn=lambda model, batch: contrastive_step(
            model, batch, config.pooling, config.scale, config.gradcache_chunk_size
        ),
        encoder_settings={"pooling": config.pooling},
    )
