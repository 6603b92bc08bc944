"""MNTP, masked next token prediction (LLM2Vec step 2): the collator, the loss, and the training entry point.

MNTP is masked language modelling adapted to a decoder. Some tokens are masked (BERT-style 80/10/10, or all replaced
by the mask token); the model, now attending in both directions, must recover them. A decoder was pre-trained to
predict token i from its output at position i-1, so MNTP keeps that head and that alignment: **the label of masked
token i is read from the output at position i-1** (``THE SHIFT`` below). Only masked positions count in the loss.

Because of the shift, position 0 has no previous output and can never be a target; special tokens (BOS, EOS, padding)
are never masked either.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lab.batch import Batch, forward, pad
from lab.training.config import MNTPConfig

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100  # label of positions that carry no loss (PyTorch's cross_entropy default ignore_index)
BERT_MASK_SHARE = 0.8  # of the selected tokens: 80% -> mask token, 10% -> a random token, 10% kept as they are
BERT_RANDOM_SHARE = 0.1


# ---------------------------------------------------------------------------------------------- mask token


def resolve_mask_token(tokenizer, choice: str) -> int:
    """The id of the mask token: ``_`` (the tokenizer's id for "_"), ``eos``, or ``<mask>`` (added if missing).

    Adding ``<mask>`` grows the tokenizer; the caller must then resize the model's embeddings and train that row.
    """
    if choice == "eos":
        if tokenizer.eos_token_id is None:
            raise ValueError("mask_token 'eos' needs a tokenizer with an EOS token; this one has none.")
        return int(tokenizer.eos_token_id)
    if choice == "_":
        ids = tokenizer.convert_tokens_to_ids(["_"])
        if ids[0] is None or ids[0] == tokenizer.unk_token_id:
            ids = tokenizer("_", add_special_tokens=False)["input_ids"]
        if len(ids) != 1 or ids[0] is None or ids[0] == tokenizer.unk_token_id:
            raise ValueError(
                f"The tokenizer has no single token for '_' (got {ids}); use mask_token 'eos' or '<mask>'."
            )
        return int(ids[0])
    if choice == "<mask>":
        if tokenizer.mask_token is None:
            tokenizer.add_special_tokens({"mask_token": "<mask>"})
        return int(tokenizer.mask_token_id)
    raise ValueError(f"Unknown mask_token {choice!r}; expected '_', 'eos' or '<mask>'.")


# ---------------------------------------------------------------------------------------------- collator


@dataclass
class MNTPCollator:
    """Pads sequences with the encoder's ``pad`` and masks tokens for MNTP: a ``Batch`` whose ``labels`` are set.

    ``labels`` hold the original id at masked positions and ``IGNORE_INDEX`` everywhere else, aligned with the
    inputs (no shift here: the shift happens in the loss).

    Randomness: an explicit ``generator`` if given; else, when features carry their dataset ``index``, one generator
    per sequence seeded from (``seed``, ``epoch``, index), so a sequence's mask depends neither on RNG state (a resumed
    run masks exactly as an uninterrupted one: the Trainer collates the first resumed batch *before* restoring its RNG
    state) nor on the sequences it is batched with (N processes, each with 1/N of a batch, mask as one process with
    all of it); ``epoch`` (set by the trainer each epoch) gives each pass over the data new masks. Else the global
    torch RNG.
    """

    mask_token_id: int
    pad_token_id: int
    vocab_size: int
    special_ids: Sequence[int]
    mask_probability: float = 0.2
    masking: str = "bert"
    generator: torch.Generator | None = None
    seed: int = 0
    epoch: int = 0  # advanced by the trainer at each epoch: new masks for each pass over the data

    def __post_init__(self) -> None:
        if self.masking not in ("bert", "replace_all"):
            raise ValueError(f"Unknown masking {self.masking!r}; expected 'bert' or 'replace_all'.")
        if not 0.0 < self.mask_probability <= 1.0:
            raise ValueError(f"mask_probability must be in (0, 1]; got {self.mask_probability!r}.")
        self._special = torch.tensor(sorted(set(int(i) for i in self.special_ids)), dtype=torch.long)

    def maskable(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) bool: real, non-special tokens that have a previous position (position 0 is never a target)."""
        allowed = attention_mask.bool() & ~torch.isin(ids, self._special)  # (B, T)
        allowed[:, 0] = False  # THE SHIFT needs the output at i-1: the first token has none
        return allowed

    def sequence_generators(self, features: Sequence[dict]) -> list[torch.Generator] | None:
        """One RNG per sequence seeded from (seed, epoch, dataset index), or None without indices (or with an
        explicit ``generator``)."""
        if self.generator is not None or not features or not all("index" in f for f in features):
            return None
        seeds = [
            np.random.SeedSequence([self.seed, self.epoch, int(f["index"])]).generate_state(1)[0] for f in features
        ]
        return [torch.Generator().manual_seed(int(s)) for s in seeds]

    def draws(
        self, shape: tuple[int, int], lengths: Sequence[int], generators: Sequence[torch.Generator] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(select, fate, random ids), each (B, T): uniforms that pick targets, uniforms that pick mask / random /
        keep, and random token ids; per sequence from its own generator (over its real tokens) when given."""
        if generators is None:
            return (
                torch.rand(shape, generator=self.generator),  # (B, T)
                torch.rand(shape, generator=self.generator),  # (B, T)
                torch.randint(self.vocab_size, shape, generator=self.generator),  # (B, T)
            )
        select, fate = torch.ones(shape), torch.ones(shape)  # padding: 1.0 is never selected
        random_ids = torch.zeros(shape, dtype=torch.long)
        for row, (n, g) in enumerate(zip(lengths, generators, strict=True)):
            select[row, :n] = torch.rand(n, generator=g)
            fate[row, :n] = torch.rand(n, generator=g)
            random_ids[row, :n] = torch.randint(self.vocab_size, (n,), generator=g)
        return select, fate, random_ids

    def mask(
        self,
        ids: torch.Tensor,
        attention_mask: torch.Tensor,
        generators: Sequence[torch.Generator] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Select targets with ``mask_probability`` and corrupt them -> (masked input_ids, labels), both (B, T)."""
        draw, fate, random_ids = self.draws(tuple(ids.shape), attention_mask.sum(dim=1).tolist(), generators)
        selected = (draw < self.mask_probability) & self.maskable(ids, attention_mask)  # (B, T)
        labels = torch.where(selected, ids, torch.full_like(ids, IGNORE_INDEX))  # (B, T)
        inputs = ids.clone()
        if self.masking == "replace_all":
            inputs[selected] = self.mask_token_id
            return inputs, labels
        to_mask = selected & (fate < BERT_MASK_SHARE)
        to_random = selected & (fate >= BERT_MASK_SHARE) & (fate < BERT_MASK_SHARE + BERT_RANDOM_SHARE)
        inputs[to_mask] = self.mask_token_id
        inputs[to_random] = random_ids[to_random]
        return inputs, labels  # the remaining 10% of targets keep their own token

    def __call__(self, features: Sequence[dict]) -> Batch:
        batch = pad(features, self.pad_token_id, padding_side="right")  # the encoder's own padding and positions
        inputs, labels = self.mask(batch.input_ids, batch.attention_mask, self.sequence_generators(features))
        return replace(batch, input_ids=inputs, labels=labels)


def build_collator(
    tokenizer, config: MNTPConfig, mask_token_id: int, vocab_size: int, generator: torch.Generator | None = None
) -> MNTPCollator:
    """An ``MNTPCollator`` whose never-masked set is the tokenizer's special tokens (BOS, EOS, PAD, ...)."""
    special = set(tokenizer.all_special_ids) | {mask_token_id}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return MNTPCollator(
        mask_token_id=mask_token_id,
        pad_token_id=int(pad),
        vocab_size=vocab_size,
        special_ids=sorted(special),
        mask_probability=config.mask_probability,
        masking=config.masking,
        generator=generator,
        seed=config.seed,
    )


# ---------------------------------------------------------------------------------------------- loss


def shift_for_mntp(outputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pair the output at position i-1 with the label of token i: (B, T, ...) , (B, T) -> (B, T-1, ...), (B, T-1)."""
    # THE SHIFT: the label of (masked) token i is predicted from the output at position i-1, exactly as the decoder
    # was pre-trained to predict its next token; only now position i-1 also sees the tokens after i.
    return outputs[:, :-1], labels[:, 1:]


def mntp_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean cross-entropy over masked tokens from full logits (B, T, V) -> (loss, n_correct, n_masked).

    Positions whose label is ``IGNORE_INDEX`` carry no loss. With no masked token the loss is 0 (with a gradient).
    """
    logits, labels = shift_for_mntp(logits, labels)  # (B, T-1, V), (B, T-1)
    return masked_token_loss(logits[labels != IGNORE_INDEX], labels[labels != IGNORE_INDEX])


def masked_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cross-entropy of (N, V) logits against (N,) targets -> (mean loss, n_correct, N); fp32 for stability."""
    if targets.numel() == 0:
        zero = logits.sum() * 0.0
        return zero, torch.zeros((), dtype=torch.long), torch.zeros((), dtype=torch.long)
    logits = logits.float()  # (N, V)
    loss = F.cross_entropy(logits, targets)
    correct = (logits.argmax(dim=-1) == targets).sum()
    return loss, correct.detach(), torch.tensor(targets.numel())


def mntp_forward(
    decoder: nn.Module, lm_head: nn.Module, batch: Batch
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bidirectional decoder -> the LM head applied only where a masked token is predicted -> (loss, correct, n).

    Equal to ``mntp_loss`` on full logits, but the (vocabulary-sized) head runs on ~20% of positions only.
    """
    hidden = forward(decoder, batch).last_hidden_state  # (B, T, C)
    hidden, labels = shift_for_mntp(hidden, batch.labels)  # (B, T-1, C), (B, T-1)
    targeted = labels != IGNORE_INDEX  # (B, T-1)
    logits = lm_head(hidden[targeted])  # (N, V)
    return masked_token_loss(logits, labels[targeted])


# ---------------------------------------------------------------------------------------------- training


def train_mntp(config: MNTPConfig) -> dict[str, float]:
    """Train a LoRA adapter with MNTP as ``config`` says; returns the final metrics (also in ``metrics.json``)."""
    from lab.training.data import load_sequences
    from lab.training.lora import build_lora_model, load_causal_lm
    from lab.training.trainer import run_training

    causal_lm, tokenizer = load_causal_lm(config)
    mask_id = resolve_mask_token(tokenizer, config.mask_token)
    new_token = mask_id >= causal_lm.get_input_embeddings().num_embeddings
    if new_token:
        causal_lm.resize_token_embeddings(len(tokenizer))
        logger.info(
            "Added %s (id %d); its embedding row is trained and saved with the adapter.", tokenizer.mask_token, mask_id
        )
    trainable_tokens = [mask_id] if config.mask_token == "<mask>" else []
    decoder = build_lora_model(causal_lm, config, trainable_token_ids=trainable_tokens)
    train_seqs, eval_seqs = load_sequences(config, tokenizer)
    vocab = causal_lm.get_output_embeddings().weight.shape[0]
    collator = build_collator(tokenizer, config, mask_id, vocab_size=min(vocab, len(tokenizer)))  # index-seeded
    return run_training(
        config,
        decoder=decoder,
        tokenizer=tokenizer,
        train_sequences=train_seqs,
        eval_sequences=eval_seqs,
        collator=collator,
        loss_fn=lambda model, batch: mntp_forward(model, causal_lm.lm_head, batch),
        extra_modules={"lm_head": causal_lm.lm_head},
        token_weighted=True,  # the loss is a mean over masked tokens, whose count varies by batch
    )


@torch.no_grad()
def evaluate_mntp(config: MNTPConfig, adapter: str | None = None) -> dict[str, float]:
    """Held-out masked-token loss and accuracy of the base model (or base + ``adapter``) on ``config``'s split.

    Uses the same held-out sequences and the same (index-seeded) masks as the evaluation inside ``train_mntp``, so
    ``evaluate_mntp(config)`` is the untrained baseline of a run and ``evaluate_mntp(config, out_dir)`` re-measures it.
    """
    from torch.utils.data import DataLoader

    from lab.adapters import apply_adapters
    from lab.training.data import SequenceDataset, load_sequences
    from lab.training.lora import load_causal_lm

    causal_lm, tokenizer = load_causal_lm(config)
    if adapter is not None:
        causal_lm.model = apply_adapters(causal_lm.model, [adapter], base_name=config.model)
    causal_lm.eval()
    mask_id = resolve_mask_token(tokenizer, config.mask_token)
    _, eval_sequences = load_sequences(config, tokenizer)
    if not eval_sequences:
        raise ValueError("The config holds out no documents (eval_fraction 0); nothing to evaluate.")
    vocab = causal_lm.get_output_embeddings().weight.shape[0]
    collator = build_collator(tokenizer, config, mask_id, vocab_size=min(vocab, len(tokenizer)))
    loader = DataLoader(
        SequenceDataset(eval_sequences), batch_size=config.per_device_eval_batch_size, collate_fn=collator
    )
    total, correct, counted = 0.0, 0, 0
    for batch in loader:
        loss, n_correct, n = mntp_forward(causal_lm.model, causal_lm.lm_head, batch)
        total += float(loss) * int(n)
        correct += int(n_correct)
        counted += int(n)
    return {"loss": total / max(counted, 1), "accuracy": correct / max(counted, 1), "counted_tokens": counted}
