"""How much does removing the causal mask change a model's hidden states? (the paper's Figure 5 analysis)

The same weights are run twice, causally and bidirectionally (``attention_mode`` toggles the switch, no copy of the
model), and the hidden states are compared token by token with cosine similarity, layer by layer. An untrained model
drifts away from its causal self in deeper layers; MNTP training teaches it to use the future instead of being confused
by it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from lab.bidirectional import attention_mode
from lab.encoder import LLM2Vec


@torch.inference_mode()
def _hidden_states(model: LLM2Vec, texts: Sequence[str], causal: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """All layers' hidden states of a right-padded batch -> ((L+1, B, T, C) float32, attention mask (B, T))."""
    batch = model.collate(model.tokenize(list(texts)))
    was_training = model.model.training
    model.model.eval()
    try:
        with attention_mode(model.model, causal=causal):
            output = model.forward(batch, output_hidden_states=True)
    finally:
        model.model.train(was_training)
    states = torch.stack([h.float() for h in output.hidden_states])  # (L+1, B, T, C)
    return states, batch.attention_mask.to(states.device)


def _cosines(model: LLM2Vec, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per layer and token, cos(causal state, bidirectional state) -> ((L+1, B, T), mask (B, T))."""
    causal, mask = _hidden_states(model, texts, causal=True)
    bidirectional, _ = _hidden_states(model, texts, causal=False)
    cos = torch.nn.functional.cosine_similarity(causal, bidirectional, dim=-1)  # (L+1, B, T)
    return cos, mask


def tokenwise_similarity(model: LLM2Vec, text: str) -> np.ndarray:
    """cos(causal, bidirectional) for every layer and token of one text -> (L+1, T); row 0 is the embeddings."""
    cos, _ = _cosines(model, [text])
    return cos[:, 0].cpu().numpy()


def layerwise_similarity(model: LLM2Vec, texts: Sequence[str], batch_size: int = 8) -> np.ndarray:
    """Mean over all real tokens of cos(causal, bidirectional) per layer -> (L+1,); 1.0 means "no change"."""
    if isinstance(texts, str):
        texts = [texts]
    if not texts:
        raise ValueError("layerwise_similarity needs at least one text.")
    total, count = None, 0.0
    for start in range(0, len(texts), batch_size):
        cos, mask = _cosines(model, texts[start : start + batch_size])
        weights = mask.unsqueeze(0).to(cos.dtype)  # (1, B, T): padding does not count
        summed = (cos.nan_to_num() * weights).sum(dim=(1, 2))  # (L+1,)
        total = summed if total is None else total + summed
        count += float(mask.sum())
    return (total / count).cpu().numpy()
