"""The lab's core idea made visible: the causal and the bidirectional mask on a sentence's real tokens, the attention
weights each variant computes under its own mask, and which tokens' representations move most when the mask goes.

Attention weights need the eager attention kernel (SDPA never materialises them); it is switched on for the one
forward pass of this view and switched back after, so the model's encode path is untouched.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from lab.analysis import tokenwise_similarity
from lab.bidirectional import attention_mode
from lab.encoder import LLM2Vec
from lab.explore.figures import style

MAX_TOKENS = 48  # a heatmap of more tokens than this cannot be read on a page


@dataclass
class AttentionMaps:
    """One text's tokens and the attention weights (L, H, T, T) of one model under one mask."""

    tokens: list[str]
    weights: np.ndarray  # (L, H, T, T): row i is how query token i spreads its attention over the keys
    causal: bool


def tokens_of(model: LLM2Vec, text: str) -> list[str]:
    """The text's tokens as the model sees them (special tokens included), each decoded to readable text."""
    ids = model.collate(model.tokenize([text])).input_ids[0].tolist()
    return [model.tokenizer.decode([i]) or repr(i) for i in ids]


@contextmanager
def eager_attention(model: torch.nn.Module) -> Iterator[None]:
    """Run ``model`` with the eager attention kernel inside the block (it returns the weights), then restore."""
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(previous)


@torch.inference_mode()
def attention_maps(model: LLM2Vec, text: str, causal: bool) -> AttentionMaps:
    """Every layer's and head's attention weights for ``text`` under the causal or the bidirectional mask."""
    batch = model.collate(model.tokenize([text])).to(model.device)
    if batch.input_ids.shape[1] > MAX_TOKENS:
        raise ValueError(
            f"The sentence has {batch.input_ids.shape[1]} tokens; the attention view shows at most {MAX_TOKENS}."
        )
    was_training = model.model.training
    model.model.eval()
    try:
        with eager_attention(model.model), attention_mode(model.model, causal=causal):
            output = model.model(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                output_attentions=True,
                use_cache=False,
            )
    finally:
        model.model.train(was_training)
    weights = torch.stack([a[0].float() for a in output.attentions]).cpu().numpy()  # (L, H, T, T)
    return AttentionMaps(tokens_of(model, text), weights, causal)


def token_changes(model: LLM2Vec, text: str) -> np.ndarray:
    """1 - cos(causal, bidirectional) hidden state per layer and token -> (L+1, T): how far each token moves."""
    return 1.0 - tokenwise_similarity(model, text)


def most_changed(tokens: list[str], changes: np.ndarray, n: int = 5) -> list[tuple[str, float]]:
    """The ``n`` tokens whose last-layer representation moves most when the mask goes, largest first."""
    last = changes[-1]  # (T,)
    order = np.argsort(-last, kind="stable")[:n]
    return [(tokens[i], float(last[i])) for i in order]


def _axis_labels(tokens: list[str]) -> list[str]:
    return [f"{i}:{t.strip() or '␣'}" for i, t in enumerate(tokens)]  # unique, so plotly keeps repeated tokens


def mask_figure(tokens: list[str]) -> go.Figure:
    """The two masks on the sentence's tokens: which key (column) each query (row) may attend to."""
    n = len(tokens)
    causal = np.tril(np.ones((n, n)))  # (T, T): token i sees tokens 0..i
    labels = _axis_labels(tokens)
    figure = make_subplots(rows=1, cols=2, subplot_titles=["causal (Uni)", "bidirectional (Bi, LLM2Vec)"])
    for column, mask in enumerate((causal, np.ones((n, n))), start=1):
        figure.add_trace(
            go.Heatmap(z=mask, x=labels, y=labels, colorscale=[[0, "#f4f4f4"], [1, "#2b6cb0"]], showscale=False),
            row=1,
            col=column,
        )
    figure.update_yaxes(autorange="reversed")
    return style(figure, "Which tokens each token may attend to (rows: queries, columns: keys)", 420)


def attention_figure(maps: dict[str, AttentionMaps], layer: int, head: int | None) -> go.Figure:
    """One heatmap per variant: layer ``layer``'s weights of head ``head`` (``None``: the mean over heads).

    A model with fewer layers shows its last one (its subplot title says which).
    """
    names = list(maps)
    if layer < 0 or (head is not None and head < 0):
        raise ValueError(f"Layer and head count from 0; got layer {layer}, head {head}.")
    used = {name: min(layer, found.weights.shape[0] - 1) for name, found in maps.items()}  # models differ in depth
    titles = [f"{name} (layer {used[name]})" for name in names]
    figure = make_subplots(rows=1, cols=max(1, len(names)), subplot_titles=titles, horizontal_spacing=0.06)
    for column, name in enumerate(names, start=1):
        found = maps[name]
        if head is not None and head >= found.weights.shape[1]:
            raise ValueError(f"Head {head} does not exist; {name} has heads 0 to {found.weights.shape[1] - 1}.")
        weights = found.weights[used[name]]  # (H, T, T)
        grid = weights.mean(axis=0) if head is None else weights[head]  # (T, T)
        labels = _axis_labels(found.tokens)
        figure.add_trace(
            go.Heatmap(z=grid, x=labels, y=labels, colorscale="Blues", zmin=0, showscale=column == len(names)),
            row=1,
            col=column,
        )
    figure.update_yaxes(autorange="reversed")
    which = "mean over heads" if head is None else f"head {head}"
    return style(figure, f"Attention weights, {which}: each variant under its own mask", 440)


def change_figure(changes: dict[str, tuple[list[str], np.ndarray]]) -> go.Figure:
    """Per set of weights (name -> tokens, (L+1, T) changes), 1 - cos(causal, bidirectional) per layer and token."""
    names = list(changes)
    figure = make_subplots(rows=len(names) or 1, cols=1, subplot_titles=names, vertical_spacing=0.12)
    for row, name in enumerate(names, start=1):
        tokens, grid = changes[name]
        figure.add_trace(
            go.Heatmap(z=grid, x=_axis_labels(tokens), colorscale="Reds", zmin=0, showscale=row == 1), row=row, col=1
        )
        figure.update_yaxes(title_text="layer", row=row, col=1)
    title = "How far each token's representation moves when the causal mask goes (1 - cosine)"
    return style(figure, title, 260 * max(1, len(names)) + 60)
