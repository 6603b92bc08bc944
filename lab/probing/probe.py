"""A linear probe (dropout + one linear layer) on frozen word features, with the paper's training recipe.

Trained on train with Adam, selected on valid (the step with the best valid accuracy), reported on test. All words are
one tensor; a step draws a minibatch of row indices, so there is no per-word Python loop. Features are standardised
with train statistics first: a per-dimension affine map that a linear probe could learn anyway, but that spares Adam
the huge activation outliers of LLM hidden states within 1,500 steps.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)


@dataclass
class ProbeConfig:
    """How a probe is trained; defaults are the paper's (LLM2Vec, appendix on word-level tasks)."""

    lr: float = field(default=5e-4, metadata={"help": "Adam learning rate (paper: 5e-4)"})
    batch_size: int = field(default=8, metadata={"help": "words per step (paper: 8)"})
    steps: int = field(default=1500, metadata={"help": "training steps (paper: 1500)"})
    dropout: float = field(default=0.1, metadata={"help": "dropout on the features before the linear layer"})
    eval_every: int = field(default=250, metadata={"help": "steps between valid evaluations (model selection)"})
    standardize: bool = field(default=True, metadata={"help": "z-score features with train mean/std"})
    prior_init: bool = field(
        default=True,
        metadata={
            "help": "start from zero weights and bias = log train label frequencies, i.e. from the majority baseline"
        },
    )
    seeds: tuple[int, ...] = field(default=(0, 1, 2), metadata={"help": "one probe per seed; results are averaged"})

    def __post_init__(self) -> None:
        for name in ("batch_size", "steps", "eval_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer; got {getattr(self, name)!r}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout!r}.")
        self.seeds = tuple(int(s) for s in self.seeds)
        if not self.seeds:
            raise ValueError("seeds is empty; give at least one seed.")


class LinearProbe(nn.Module):
    """Dropout, then a linear map from features to label logits."""

    def __init__(self, dim: int, n_classes: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(x))  # (N, C) -> (N, K)


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one CPU thread, then restore the count: steps of 8 words are too small to split, and on a busy
    2-core CPU two threads made a 600-step probe 26x slower (17.6 s vs 0.67 s)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class ProbeResult:
    """A trained probe, the valid accuracy it was selected with and the step it came from."""

    probe: LinearProbe
    valid_accuracy: float
    best_step: int


def standardizer(train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std (floored) of train features, per dimension. (N, C) -> (C,), (C,)."""
    return train.mean(dim=0), train.std(dim=0).clamp_min(1e-6)


@torch.no_grad()
def predict(probe: LinearProbe, x: torch.Tensor, chunk: int = 65536) -> np.ndarray:
    """Label index per row of ``x`` (N, C), in eval mode (no dropout)."""
    was_training = probe.training
    probe.eval()
    out = (
        torch.cat([probe(x[i : i + chunk]).argmax(dim=-1) for i in range(0, len(x), chunk)])
        if len(x)
        else (torch.empty(0, dtype=torch.long))
    )
    probe.train(was_training)
    return out.cpu().numpy()


@single_thread()
def train_probe(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_valid: torch.Tensor,
    y_valid: torch.Tensor,
    n_classes: int,
    config: ProbeConfig,
    seed: int,
) -> ProbeResult:
    """Train one probe on (N, C) float features and (N,) label indices; keep the best-on-valid weights."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout masks and the linear layer's initialisation
    probe = LinearProbe(x_train.shape[1], n_classes, config.dropout)
    if config.prior_init:  # step 0 predicts the majority label; 1,500 small Adam steps would not get there from noise
        with torch.no_grad():
            frequency = torch.bincount(y_train, minlength=n_classes).float() / len(y_train)  # (K,)
            probe.linear.weight.zero_()
            probe.linear.bias.copy_(frequency.clamp_min(1e-6).log())
    optimiser = torch.optim.Adam(probe.parameters(), lr=config.lr)
    loss_fn = nn.CrossEntropyLoss()
    y_valid_np = y_valid.numpy()
    best = ProbeResult(probe, float((predict(probe, x_valid) == y_valid_np).mean()), 0)  # step 0 is a candidate
    best_state = {k: v.clone() for k, v in probe.state_dict().items()}
    probe.train()
    for step in range(1, config.steps + 1):
        index = torch.randint(0, len(x_train), (config.batch_size,), generator=generator)  # (b,)
        loss = loss_fn(probe(x_train[index]), y_train[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % config.eval_every == 0 or step == config.steps:
            accuracy = float((predict(probe, x_valid) == y_valid_np).mean())
            if accuracy > best.valid_accuracy:  # ties keep the earlier, simpler probe
                best = ProbeResult(probe, accuracy, step)
                best_state = {k: v.clone() for k, v in probe.state_dict().items()}
    probe.load_state_dict(best_state)
    probe.eval()
    return best


def majority_label(y_train: np.ndarray) -> int:
    """The most frequent train label index."""
    return int(np.bincount(y_train).argmax())


def random_features(n: int, dim: int, seed: int) -> np.ndarray:
    """i.i.d. Gaussian features, one fresh vector per word occurrence: they carry no information about the label."""
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def accuracy(pred: np.ndarray, gold: np.ndarray) -> float:
    """Fraction of words whose predicted label index equals the gold one."""
    return float((np.asarray(pred) == np.asarray(gold)).mean())


def entity_f1(pred_tags: list[str], gold_tags: list[str], lengths: list[int]) -> float:
    """Entity-level (chunk-level) F1 as seqeval computes it (conlleval style), over sentences of ``lengths`` words."""
    from seqeval.metrics import f1_score

    bounds = np.concatenate([[0], np.cumsum(lengths)])

    def split(tags: list[str]) -> list[list[str]]:
        return [list(tags[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]

    return float(f1_score(split(gold_tags), split(pred_tags)))
