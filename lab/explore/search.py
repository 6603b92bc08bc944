"""Top-k search per variant and the side-by-side HTML tables the page shows."""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np


@dataclass
class Hit:
    """One search result: the corpus index, its cosine to the query, the text and its label."""

    rank: int
    index: int
    score: float
    text: str
    label: str = ""
    percentile: float = 0.0  # share of the corpus scoring below this text: comparable across variants, unlike cosines


def top_k(query: np.ndarray, corpus: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosines of the ``k`` rows of ``corpus`` (n, d) closest to ``query`` (d,), best first.

    Ties keep corpus order, so results are deterministic.
    """
    if corpus.ndim != 2 or query.shape[-1] != corpus.shape[1]:
        raise ValueError(f"Shapes do not match: query {query.shape}, corpus {corpus.shape}.")
    norms = np.linalg.norm(corpus, axis=1) * np.linalg.norm(query)
    scores = corpus @ query / np.maximum(norms, 1e-12)  # (n,)
    k = max(0, min(int(k), len(scores)))
    order = np.argsort(-scores, kind="stable")[:k]
    return order, scores[order]


def hits(query: np.ndarray, corpus: np.ndarray, texts: list[str], labels: list[str] | None, k: int) -> list[Hit]:
    """``top_k`` as ``Hit`` rows."""
    order, scores = top_k(query, corpus, k)
    _, everything = top_k(query, corpus, len(corpus))  # every cosine, to rank-normalise the top ones
    below = np.searchsorted(np.sort(everything), scores, side="left") / max(len(everything), 1)
    return [
        Hit(rank + 1, int(i), float(s), texts[i], labels[i] if labels else "", float(b))
        for rank, (i, s, b) in enumerate(zip(order, scores, below))
    ]


def _bar(score: float) -> str:
    width = max(0.0, min(1.0, score)) * 100
    return f'<div class="lab-bar"><span style="width:{width:.0f}%"></span></div>'


def results_html(
    results: dict[str, list[Hit]], notes: dict[str, str] | None = None, poolings: dict[str, str] | None = None
) -> str:
    """One table per variant, side by side; a text found by only one variant is marked, so differences stand out.

    ``poolings`` (label -> the pooling that ran) goes under each card's title, so a card never names a pooling that
    the page's choice replaced.
    """
    if not results and not notes:
        return ""
    counts: dict[int, int] = {}
    for rows in results.values():
        for hit in rows:
            counts[hit.index] = counts.get(hit.index, 0) + 1
    cards = []
    for variant, rows in results.items():
        body = "".join(
            f'<tr class="{"lab-unique" if counts[h.index] == 1 and len(results) > 1 else ""}">'
            f'<td class="lab-rank">{h.rank}</td><td class="lab-score">{h.score:.3f}{_bar(h.score)}</td>'
            f'<td class="lab-score" title="share of the corpus scoring lower">{h.percentile:.0%}</td>'
            f'<td class="lab-text">{html.escape(h.text)}'
            + (f' <span class="lab-label">{html.escape(h.label)}</span>' if h.label else "")
            + "</td></tr>"
            for h in rows
        )
        pooled = (poolings or {}).get(variant)
        sub = (
            f'<p class="lab-legend lab-pooling">pooling: {html.escape(pooled.replace("_", " "))}</p>' if pooled else ""
        )
        cards.append(
            f'<div class="lab-card" data-variant="{html.escape(variant)}"><h4>{html.escape(variant)}</h4>{sub}'
            f"<table><thead><tr><th>#</th><th>cosine</th><th>rank</th><th>text</th></tr></thead><tbody>{body}</tbody></table></div>"
        )
    for variant, note in (notes or {}).items():
        cards.append(
            f'<div class="lab-card lab-off" data-variant="{html.escape(variant)}"><h4>{html.escape(variant)}'
            f"</h4><p>{html.escape(note)}</p></div>"
        )
    legend = (
        '<p class="lab-legend">Highlighted rows were found by only one variant. Raw cosines of different variants '
        "are not on one scale: a decoder's embeddings share a common direction (anisotropy), so all its cosines sit "
        "high; compare ranks across variants, not scores.</p>"
        if len(results) > 1
        else ""
    )
    return f'<div class="lab-results">{"".join(cards)}</div>{legend}'
