"""Unsupervised SimCSE (LLM2Vec step 3): dropout is the only augmentation, the rest of the batch the negatives.

Each sentence goes through the bidirectional model twice in training mode; attention dropout (switched on by
``set_attention_dropout``, Llama-style models ship with none) makes the two embeddings differ slightly. InfoNCE then
pulls each sentence's two views together and pushes them away from every other sentence in the batch. LLM2Vec trains
a fresh LoRA on top of the *merged* MNTP weights: ``adapters: [mntp]`` in the config.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

from lab.data.sentences import WIKI_SENTENCES
from lab.training.config import SimCSEConfig
from lab.training.contrastive import ContrastiveBatch, Feature, contrastive_step, encode_texts, pad_group
from lab.training.dropout import set_attention_dropout

logger = logging.getLogger(__name__)

STSB_TRAIN = "stsb-train"  # the sentences of STS-B's train split (never dev/test), scores unused


def load_sentences(source: str, max_documents: int = 0) -> list[str]:
    """Training sentences: STS-B train's distinct sentences, or texts from ``lab.data.corpus.load_documents``."""
    if source == WIKI_SENTENCES:
        from lab.data.sentences import wiki_sentences

        texts = wiki_sentences()
    elif source == STSB_TRAIN:
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
    """Pads tokenised sentences (``input_ids``, ``pool_mask``); the same padded sentences are query and positive."""

    pad_token_id: int

    def __call__(self, features: Sequence[dict]) -> ContrastiveBatch:
        group = pad_group(features, self.pad_token_id)
        return ContrastiveBatch(query=group, positive=group)  # two passes, two dropout masks


def dev_encoder(decoder, tokenizer, config: SimCSEConfig):
    """The training decoder seen as an ``LLM2Vec`` (same tokenisation, pooling and length) for the dev evaluation."""
    from lab.encoder import EncoderConfig, LLM2Vec

    return LLM2Vec(decoder, tokenizer, EncoderConfig(pooling=config.pooling, max_length=config.max_seq_length))


STSB_DEV_METRIC = "eval_stsb_dev_spearman"  # the checkpoint is chosen on dev, never on test


def stsb_dev_evaluator(tokenizer, config: SimCSEConfig):
    """``model -> {"stsb_dev_spearman": ...}``: the training decoder encoded exactly as at inference (eval mode)."""
    from lab.data.stsb import load_stsb
    from lab.evaluation.sts import evaluate_pairs

    pairs = load_stsb("dev", config.eval_stsb_pairs or None)

    def evaluate(model) -> dict[str, float]:
        result = evaluate_pairs(dev_encoder(model, tokenizer, config), pairs, batch_size=64)
        return {"stsb_dev_spearman": result.spearman, "stsb_dev_pairs": result.pairs}

    return evaluate


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
        evaluator=stsb_dev_evaluator(tokenizer, config) if config.eval_stsb_dev else None,
        best_metric=STSB_DEV_METRIC if config.eval_stsb_dev else None,
    )
