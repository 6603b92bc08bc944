"""The paper's future-token test (section 4): does a prefix's representation know how the sentence continues?

Each triple shares a prefix ("He walked over to the bank") followed by an anchor continuation, a similar one (same
sense of the prefix) and a dissimilar one (another sense). The three sentences are encoded and pooled over the PREFIX
tokens only. A model that reads the future puts the anchor's prefix closer to the similar than to the dissimilar
sentence's prefix; a causal model cannot, since its prefix states are the same whatever follows (separation 0).
The triples in ``lab/data/future_token_triples.jsonl`` were written for this repository.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lab.encoder import LLM2Vec

TRIPLES_PATH = Path(__file__).resolve().parent.parent / "data" / "future_token_triples.jsonl"


@dataclass(frozen=True)
class Triple:
    """A shared prefix and three continuations: anchor, similar (same sense), dissimilar (another sense)."""

    prefix: str
    anchor: str
    similar: str
    dissimilar: str

    def texts(self) -> list[str]:
        """The three full sentences: prefix, a space, continuation."""
        return [f"{self.prefix} {c}" for c in (self.anchor, self.similar, self.dissimilar)]


def load_triples(path: str | os.PathLike = TRIPLES_PATH) -> list[Triple]:
    """Read a JSONL file of ``{"prefix", "anchor", "similar", "dissimilar"}`` objects."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [Triple(**json.loads(line)) for line in lines if line.strip()]


def prefix_masks(model: LLM2Vec, triple: Triple) -> list[dict[str, np.ndarray]]:
    """Tokenised sentences with ``pool_mask`` on the prefix tokens (by character offsets); checks they agree."""
    encoded = model.tokenizer(
        triple.texts(), add_special_tokens=True, return_offsets_mapping=True, return_attention_mask=False
    )
    features = []
    for ids, offsets in zip(encoded["input_ids"], encoded["offset_mapping"]):
        ends = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)[:, 1]  # (T,) end character of each token
        mask = ends <= len(triple.prefix)
        features.append({"input_ids": np.asarray(ids, dtype=np.int64), "pool_mask": mask})
    prefixes = [f["input_ids"][f["pool_mask"]].tolist() for f in features]
    if not prefixes[0] or prefixes.count(prefixes[0]) != 3:
        raise ValueError(
            f"The prefix {triple.prefix!r} tokenises differently in its three sentences (or to nothing); "
            "start each continuation with a new word."
        )
    return features


@torch.inference_mode()
def prefix_states(model: LLM2Vec, triple: Triple) -> torch.Tensor:
    """Mean over the prefix tokens of every layer's states for the triple's 3 sentences -> (L+1, 3, C) float32."""
    batch = model.collate(prefix_masks(model, triple))
    hidden = torch.stack(model.forward(batch, output_hidden_states=True).hidden_states).float()  # (L+1, 3, T, C)
    mask = batch.pool_mask.to(hidden.device, torch.float32)[None, :, :, None]  # (1, 3, T, 1)
    return (hidden * mask).sum(dim=2) / mask.sum(dim=2)  # (L+1, 3, C)


@dataclass
class Separation:
    """Per layer (0 = embeddings): cos(anchor, similar) and cos(anchor, dissimilar) of every triple."""

    cos_similar: np.ndarray  # (N, L+1)
    cos_dissimilar: np.ndarray  # (N, L+1)

    @property
    def separation(self) -> np.ndarray:
        """Mean over triples of cos(anchor, similar) - cos(anchor, dissimilar), per layer -> (L+1,)."""
        return (self.cos_similar - self.cos_dissimilar).mean(axis=0)

    @property
    def win_rate(self) -> np.ndarray:
        """Fraction of triples where the similar continuation is strictly closer, per layer -> (L+1,)."""
        return (self.cos_similar > self.cos_dissimilar).mean(axis=0)

    def summary(self, layer: int = -1) -> dict:
        """Separation and win rate at one layer (default the last) plus the number of triples."""
        return {
            "layer": int(np.arange(self.cos_similar.shape[1])[layer]),
            "separation": float(self.separation[layer]),
            "win_rate": float(self.win_rate[layer]),
            "n_triples": int(self.cos_similar.shape[0]),
        }


def future_token_separation(model: LLM2Vec, triples: list[Triple] | None = None) -> Separation:
    """Run the test on every triple (default: the shipped set)."""
    triples = load_triples() if triples is None else triples
    similar, dissimilar = [], []
    for triple in triples:
        states = torch.nn.functional.normalize(prefix_states(model, triple), dim=-1)  # (L+1, 3, C)
        similar.append((states[:, 0] * states[:, 1]).sum(-1).cpu().numpy())  # (L+1,)
        dissimilar.append((states[:, 0] * states[:, 2]).sum(-1).cpu().numpy())
    return Separation(np.stack(similar), np.stack(dissimilar))
