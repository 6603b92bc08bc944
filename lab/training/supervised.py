"""Supervised contrastive learning (LLM2Vec's supervised stage): (query, positive[, hard negative]) records.

Each query is pulled towards its positive and pushed from every other positive and every hard negative in the
(global) batch. As in the paper:

- an optional **instruction** rides on the query side as its own field; ``LLM2Vec.tokenize`` attends to its tokens but
  leaves them out of the pooling mask;
- **every batch comes from one source dataset** (the record's ``source``), so in-batch negatives are of the same kind
  as the positive: ``one_source_order`` lays records out so that each block of ``batch x processes`` consecutive
  records shares a source, and the Trainer reads them in that order (``train_sampling_strategy: sequential``);
- under ``torchrun`` positives and negatives are gathered across processes **with gradients** (``info_nce``);
- ``gradcache_chunk_size`` trains a large batch in small memory with the same gradients (``lab.training.gradcache``).

Data: any JSONL of ``{"query", "positive"[, "negative"][, "instruction"][, "source"]}``, or the built-in ``stsb-pairs``:
STS-B train pairs scoring >= 4 as positives, each with a hard negative: the most word-overlapping sentence from a
pair of the same genre scoring <= 1 (similar words, different meaning).
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from lab.training.config import STSB_PAIRS, SupervisedConfig
from lab.training.contrastive import ContrastiveBatch, Feature, contrastive_step, encode_texts, pad_group

logger = logging.getLogger(__name__)


@dataclass
class PairRecord:
    """One training example; ``instruction`` is prepended to the query (attended, not pooled)."""

    query: str
    positive: str
    negative: str | None = None
    instruction: str = ""
    source: str = "default"


# ---------------------------------------------------------------------------------------------- data


def read_jsonl(path: str | os.PathLike) -> list[PairRecord]:
    """Records from a JSONL file; a ``ValueError`` names the line of a malformed record."""
    records = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            records.append(
                PairRecord(
                    query=str(row["query"]),
                    positive=str(row["positive"]),
                    negative=str(row["negative"]) if row.get("negative") else None,
                    instruction=str(row.get("instruction") or ""),
                    source=str(row.get("source") or "default"),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(
                f"{path}:{number}: expected a JSON object with 'query' and 'positive' "
                f"(optional 'negative', 'instruction', 'source'); {error!r}"
            ) from None
    return records


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def stsb_pairs(min_positive: float = 4.0, max_negative: float = 1.0) -> list[PairRecord]:
    """STS-B train positives (score >= ``min_positive``), each with the most word-overlapping low-score sentence.

    Sources are STS-B's genres (captions, news, forum); a negative always comes from the same genre and never from
    the query's own pair.
    """
    from lab.data.stsb import load_stsb

    pairs = load_stsb("train")
    records = []
    for genre in sorted({p.genre for p in pairs}):
        low = [s for p in pairs if p.genre == genre and p.score <= max_negative for s in (p.sentence1, p.sentence2)]
        low_words = [_words(s) for s in low]
        for p in (p for p in pairs if p.genre == genre and p.score >= min_positive):
            q = _words(p.sentence1)
            overlap = [
                len(q & w) / max(len(q | w), 1) if s not in (p.sentence1, p.sentence2) else -1.0
                for s, w in zip(low, low_words)
            ]  # Jaccard word overlap
            negative = low[int(np.argmax(overlap))] if low else None
            records.append(PairRecord(p.sentence1, p.sentence2, negative, source=f"stsb-{genre}"))
    return records


def load_records(config: SupervisedConfig) -> list[PairRecord]:
    """The records named by ``config.dataset``, the default instruction filled in; checks negatives per source."""
    if config.dataset == STSB_PAIRS:
        records = stsb_pairs(config.min_positive_score, config.max_negative_score)
    elif config.dataset.endswith(".jsonl"):
        records = read_jsonl(config.dataset)
    else:
        raise ValueError(f"Unknown supervised dataset {config.dataset!r}; expected {STSB_PAIRS!r} or a .jsonl file.")
    if config.max_documents:
        records = records[: config.max_documents]
    for record in records:
        record.instruction = record.instruction or config.instruction
    for source in {r.source for r in records}:
        kinds = {r.negative is not None for r in records if r.source == source}
        if len(kinds) > 1:
            raise ValueError(f"Source {source!r} mixes records with and without 'negative'; a batch needs all or none.")
    return records


def one_source_order(sources: Sequence[str], block: int, min_length: int, seed: int) -> list[int]:
    """Record indices laid out in blocks of ``block`` that each come from one source, at least ``min_length`` long.

    Each pass shuffles every source's records, cuts them into full blocks (a source's remainder waits for the next
    pass), and shuffles the blocks of all sources together; passes repeat until ``min_length`` indices are laid out.
    """
    rng = np.random.default_rng(seed)
    by_source: dict[str, list[int]] = {}
    for index, source in enumerate(sources):
        by_source.setdefault(source, []).append(index)
    usable = {s: ix for s, ix in by_source.items() if len(ix) >= block}
    if not usable:
        raise ValueError(
            f"No source has {block} records for one batch (sizes: "
            f"{ {s: len(ix) for s, ix in by_source.items()} }); lower the batch size."
        )
    skipped = sorted(set(by_source) - set(usable))
    if skipped:
        logger.warning("Sources smaller than one batch (%d) are skipped: %s", block, ", ".join(skipped))
    order: list[int] = []
    while len(order) < min_length:
        blocks = []
        for indices in usable.values():
            shuffled = rng.permutation(indices)
            blocks += [shuffled[i : i + block].tolist() for i in range(0, len(shuffled) - block + 1, block)]
        for b in rng.permutation(len(blocks)):
            order += blocks[b]
    return order


@dataclass
class EncodedRecord:
    """A tokenised record; ``query`` carries its instruction (pool mask 0 on the instruction's tokens)."""

    query: Feature
    positive: Feature
    negative: Feature | None
    source: str


def encode_records(tokenizer, records: Sequence[PairRecord], pooling: str, max_length: int) -> list[EncodedRecord]:
    """Tokenise every text once, exactly as ``LLM2Vec.encode`` does at inference."""

    def encode(texts: list) -> list[Feature]:
        return encode_texts(tokenizer, texts, pooling, max_length)

    queries = encode([(r.instruction, r.query) for r in records])
    positives = encode([r.positive for r in records])
    with_negative = [i for i, r in enumerate(records) if r.negative is not None]
    negatives = dict(zip(with_negative, encode([records[i].negative for i in with_negative])))
    return [
        EncodedRecord(q, p, negatives.get(i), r.source) for i, (q, p, r) in enumerate(zip(queries, positives, records))
    ]


@dataclass
class PairCollator:
    """Pads ``{"input_ids": EncodedRecord}`` items into query / positive [/ negative] groups."""

    pad_token_id: int

    def __call__(self, features: Sequence[dict]) -> ContrastiveBatch:
        records = [f["input_ids"] for f in features]
        negatives = [r.negative for r in records]
        return ContrastiveBatch(
            query=pad_group([r.query for r in records], self.pad_token_id),
            positive=pad_group([r.positive for r in records], self.pad_token_id),
            negative=pad_group(negatives, self.pad_token_id) if all(n is not None for n in negatives) else None,
        )


# ---------------------------------------------------------------------------------------------- training


def world_size() -> int:
    """Processes in this run (``torchrun`` sets WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def train_supervised(config: SupervisedConfig) -> dict[str, float]:
    """Train a supervised contrastive LoRA adapter as ``config`` says; returns the final metrics."""
    from lab.training.lora import build_lora_model, load_causal_lm
    from lab.training.trainer import run_training

    causal_lm, tokenizer = load_causal_lm(config)
    decoder = build_lora_model(causal_lm, config)
    records = load_records(config)
    rng = np.random.default_rng(config.seed)
    held_out = set(rng.permutation(len(records))[: int(len(records) * config.eval_fraction)].tolist())
    encoded = encode_records(tokenizer, records, config.pooling, config.max_seq_length)
    train = [r for i, r in enumerate(encoded) if i not in held_out]
    evaluation = [r for i, r in enumerate(encoded) if i in held_out]
    if config.max_eval_sequences:
        evaluation = evaluation[: config.max_eval_sequences]
    block = config.per_device_train_batch_size * world_size()  # one global batch
    needed = block * config.gradient_accumulation_steps * config.max_steps
    order = one_source_order([r.source for r in train], block, needed, config.seed)
    logger.info(
        "Supervised: %d train / %d held-out records from %s; %d sources; global batch %d",
        len(train),
        len(evaluation),
        config.dataset,
        len({r.source for r in train}),
        block,
    )

    def loss_fn(model, batch):
        return contrastive_step(model, batch, config.pooling, config.scale, config.gradcache_chunk_size)

    return run_training(
        config,
        decoder=decoder,
        tokenizer=tokenizer,
        train_sequences=[train[i] for i in order],
        eval_sequences=evaluation,
        collator=PairCollator(int(tokenizer.pad_token_id)),
        loss_fn=loss_fn,
        encoder_settings={"pooling": config.pooling},
    )
