"""2-D projections of embeddings (UMAP, PCA, t-SNE) and the page's plotly figures."""

from __future__ import annotations

import html
import math
import textwrap
import threading

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

PROJECTIONS = ("UMAP", "PCA", "t-SNE")
MIN_POINTS = 4  # UMAP and t-SNE need a few neighbours; fewer points say nothing anyway
EXACT_TSNE_MAX = 400  # below this many points exact t-SNE beats Barnes-Hut on a small CPU
COLUMNS = 3  # subplots per row
PALETTE = qualitative.Plotly + qualitative.D3  # 20 colours; labels beyond that repeat colours


def warm_up_umap() -> float:
    """Fit UMAP once on a small random matrix so numba compiles (and caches) its kernels; returns seconds taken."""
    import time

    import umap

    start = time.perf_counter()
    data = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    umap.UMAP(n_neighbors=5, n_components=2, random_state=0, n_jobs=1).fit_transform(data)
    return time.perf_counter() - start


class UmapWarmUp:
    """UMAP compiles its numba kernels on first use (tens of seconds); do it once in a background thread."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.seconds: float | None = None
        self.error: str | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> UmapWarmUp:
        """Start the warm-up thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="umap-warm-up", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.seconds = warm_up_umap()
        except Exception as error:  # a broken UMAP install must not take the page down; PCA still works
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.done.set()


def project(embeddings: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """Project unit-length embeddings (n, d) to 2-D (n, 2) with UMAP (cosine), PCA or t-SNE, seeded."""
    n = len(embeddings)
    if method not in PROJECTIONS:
        raise ValueError(f"Unknown projection {method!r}; expected one of {', '.join(PROJECTIONS)}.")
    if n < MIN_POINTS:
        raise ValueError(f"A {method} plot needs at least {MIN_POINTS} texts; got {n}.")
    data = np.asarray(embeddings, dtype=np.float32)
    if method == "PCA":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(data)
    if method == "t-SNE":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (n - 1) / 3)  # t-SNE requires perplexity < n
        method_ = "exact" if n <= EXACT_TSNE_MAX else "barnes_hut"  # exact is O(n^2) but much faster for small n
        return TSNE(
            n_components=2, perplexity=perplexity, init="pca", random_state=seed, max_iter=500, method=method_
        ).fit_transform(data)
    import umap

    reducer = umap.UMAP(
        n_neighbors=min(15, n - 1),
        metric="cosine",
        random_state=seed,
        n_jobs=1,
        init="spectral" if n > 10 else "random",
    )
    return reducer.fit_transform(data)


def _hover(text: str, label: str) -> str:
    wrapped = "<br>".join(textwrap.wrap(html.escape(text[:400]), 70))
    return f"<b>{html.escape(label)}</b><br>{wrapped}" if label else wrapped


def scatter_figure(
    points: dict[str, np.ndarray],
    texts: list[str],
    labels: list[str] | None,
    method: str,
    highlight: int | None = None,
) -> go.Figure:
    """One scatter subplot per variant (points (n, 2) each); hover shows the text; colours follow the labels.

    Each point carries its corpus index in ``text`` (the page's click handler reads it); ``highlight`` marks one
    text with a star in every panel, so the same text can be followed across variants.
    """
    names = list(points)
    cols = min(COLUMNS, max(1, len(names)))
    rows = math.ceil(len(names) / cols)
    figure = make_subplots(
        rows=rows, cols=cols, subplot_titles=names, horizontal_spacing=0.04, vertical_spacing=0.12 if rows > 1 else 0.0
    )
    groups = list(dict.fromkeys(labels)) if labels else [""]
    colour = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}
    hover = [_hover(t, labels[i] if labels else "") for i, t in enumerate(texts)]
    for position, name in enumerate(names):
        xy = points[name]
        for group in groups:
            index = [i for i in range(len(texts)) if not labels or labels[i] == group]
            figure.add_trace(
                go.Scatter(
                    x=xy[index, 0],
                    y=xy[index, 1],
                    mode="markers",
                    name=group or "texts",
                    legendgroup=group,
                    showlegend=position == 0 and bool(labels),
                    marker=dict(size=7, color=colour[group], opacity=0.8),
                    customdata=[hover[i] for i in index],
                    text=[str(i) for i in index],
                    hovertemplate="%{customdata}<extra></extra>",
                ),
                row=position // cols + 1,
                col=position % cols + 1,
            )
        if highlight is not None:
            figure.add_trace(
                go.Scatter(
                    x=[xy[highlight, 0]],
                    y=[xy[highlight, 1]],
                    mode="markers",
                    name="highlighted",
                    legendgroup="highlighted",
                    showlegend=False,
                    marker=dict(size=18, symbol="star", color="#111111", line=dict(width=1, color="white")),
                    customdata=[hover[highlight]],
                    text=[str(highlight)],
                    hovertemplate="%{customdata}<extra></extra>",
                ),
                row=position // cols + 1,
                col=position % cols + 1,
            )
    figure.update_xaxes(showticklabels=False, zeroline=False)
    figure.update_yaxes(showticklabels=False, zeroline=False)
    figure.update_layout(
        height=400 * rows,
        margin=dict(l=10, r=10, t=60, b=30),
        template="plotly_white",
        title=dict(text=f"{method} of {len(texts)} texts", x=0.01),
        legend=dict(title="label", itemsizing="constant"),
    )
    return figure


def layerwise_figure(curves: dict[str, np.ndarray]) -> go.Figure:
    """Per-layer cos(causal, bidirectional) hidden states, one line per set of weights."""
    figure = go.Figure()
    for i, (name, values) in enumerate(curves.items()):
        figure.add_trace(
            go.Scatter(
                x=list(range(len(values))),
                y=values,
                mode="lines+markers",
                name=name,
                line=dict(color=PALETTE[i % len(PALETTE)]),
            )
        )
    figure.update_layout(
        template="plotly_white",
        height=360,
        margin=dict(l=10, r=10, t=50, b=10),
        title=dict(text="How much removing the causal mask changes each layer", x=0.01),
        xaxis_title="layer (0 = embeddings)",
        xaxis=dict(dtick=max(1, max((len(v) for v in curves.values()), default=1) // 10)),
        yaxis_title="mean cos(causal, bidirectional) over tokens",
        yaxis=dict(range=[min(0.0, *(float(np.min(v)) for v in curves.values())) if curves else 0.0, 1.02]),
        legend=dict(orientation="h", y=-0.25),
        showlegend=True,  # even for one curve: its name says which variants share the weights
    )
    return figure
