"""Projections of embeddings to 2-D or 3-D (UMAP, PCA, t-SNE) and the page's plotly figures, in one style."""

from __future__ import annotations

import html
import math
import textwrap

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from lab.explore.background import BackgroundJob

PROJECTIONS = ("UMAP", "PCA", "t-SNE")
DIMENSIONS = (2, 3)  # a flat map, or one to turn with the mouse
MIN_POINTS = 4  # UMAP and t-SNE need a few neighbours; fewer points say nothing anyway
EXACT_TSNE_MAX = 400  # below this many points exact t-SNE beats Barnes-Hut on a small CPU
COLUMNS = 3  # subplots per row
PALETTE = qualitative.Plotly + qualitative.D3  # 20 colours; labels beyond that repeat colours


def style(figure: go.Figure, title: str, height: int, top: int = 60, **layout) -> go.Figure:
    """The page's one look for a figure: white template, slim margins, the title at the left; ``layout`` adds more."""
    settings = dict(template="plotly_white", height=height, margin=dict(l=10, r=10, t=top, b=10))
    figure.update_layout(**{**settings, "title": dict(text=title, x=0.01), **layout})
    return figure


def warm_up_umap() -> float:
    """Fit UMAP once on a small random matrix so numba compiles (and caches) its kernels; returns seconds taken."""
    import time

    import umap

    start = time.perf_counter()
    data = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    umap.UMAP(n_neighbors=5, n_components=2, random_state=0, n_jobs=1).fit_transform(data)
    return time.perf_counter() - start


class UmapWarmUp(BackgroundJob):
    """UMAP compiles its numba kernels on first use (tens of seconds); do it once in a background thread."""

    thread_name = "umap-warm-up"

    def __init__(self) -> None:
        super().__init__()
        self.seconds: float | None = None
        self.error: str | None = None

    def work(self) -> None:
        """Compile; a broken UMAP install is recorded, not raised: it must not take the page down (PCA works)."""
        try:
            self.seconds = warm_up_umap()
        except Exception as error:
            self.error = f"{type(error).__name__}: {error}"


def project(embeddings: np.ndarray, method: str, seed: int = 0, dims: int = 2) -> np.ndarray:
    """Project unit-length embeddings (n, d) to (n, ``dims``) with UMAP (cosine), PCA or t-SNE, seeded."""
    n = len(embeddings)
    if method not in PROJECTIONS:
        raise ValueError(f"Unknown projection {method!r}; expected one of {', '.join(PROJECTIONS)}.")
    if dims not in DIMENSIONS:
        raise ValueError(f"A map has 2 or 3 dimensions; got {dims!r}.")
    if n < MIN_POINTS:
        raise ValueError(f"A {method} plot needs at least {MIN_POINTS} texts; got {n}.")
    data = np.asarray(embeddings, dtype=np.float32)
    if method == "PCA":
        from sklearn.decomposition import PCA

        return PCA(n_components=dims, random_state=seed).fit_transform(data)
    if method == "t-SNE":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (n - 1) / 3)  # t-SNE requires perplexity < n
        method_ = "exact" if n <= EXACT_TSNE_MAX else "barnes_hut"  # exact is O(n^2) but much faster for small n
        return TSNE(
            n_components=dims, perplexity=perplexity, init="pca", random_state=seed, max_iter=500, method=method_
        ).fit_transform(data)
    import umap

    reducer = umap.UMAP(
        n_components=dims,
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


def _markers(xy: np.ndarray, index: list[int], hover: list[str], **style) -> go.Scatter | go.Scatter3d:
    """The points ``index`` of a projection (n, 2) or (n, 3); each carries its corpus index in ``text``."""
    common = dict(
        mode="markers",
        customdata=[hover[i] for i in index],
        text=[str(i) for i in index],
        hovertemplate="%{customdata}<extra></extra>",
        **style,
    )
    if xy.shape[1] == 3:
        return go.Scatter3d(x=xy[index, 0], y=xy[index, 1], z=xy[index, 2], **common)
    return go.Scatter(x=xy[index, 0], y=xy[index, 1], **common)


def scatter_figure(
    points: dict[str, np.ndarray],
    texts: list[str],
    labels: list[str] | None,
    method: str,
    highlight: int | None = None,
) -> go.Figure:
    """One scatter subplot per variant (points (n, 2) or (n, 3) each); hover shows the text; colours follow labels.

    Each point carries its corpus index in ``text`` (the page's click handler reads it); ``highlight`` marks one
    text with a star (a diamond in 3-D) in every panel, so the same text can be followed across variants.
    """
    names = list(points)
    dims = next(iter(points.values())).shape[1] if points else 2
    cols = min(COLUMNS, max(1, len(names)))
    rows = math.ceil(len(names) / cols)
    figure = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=names,
        horizontal_spacing=0.04,
        vertical_spacing=0.12 if rows > 1 else 0.0,
        specs=[[{"type": "scene" if dims == 3 else "xy"}] * cols] * rows,
    )
    groups = list(dict.fromkeys(labels)) if labels else [""]
    colour = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}
    hover = [_hover(t, labels[i] if labels else "") for i, t in enumerate(texts)]
    size = 4 if dims == 3 else 7  # 3-D markers are drawn larger for the same number
    star = dict(size=9 if dims == 3 else 18, symbol="diamond" if dims == 3 else "star", color="#111111")
    for position, name in enumerate(names):
        where = dict(row=position // cols + 1, col=position % cols + 1)
        for group in groups:
            index = [i for i in range(len(texts)) if not labels or labels[i] == group]
            marker = dict(size=size, color=colour[group], opacity=0.8)
            trace = _markers(points[name], index, hover, name=group or "texts", legendgroup=group, marker=marker)
            figure.add_trace(trace.update(showlegend=position == 0 and bool(labels)), **where)
        if highlight is not None:
            marker = dict(**star, line=dict(width=1, color="white"))
            trace = _markers(points[name], [highlight], hover, name="highlighted", legendgroup="highlighted")
            figure.add_trace(trace.update(showlegend=False, marker=marker), **where)
    figure.update_xaxes(showticklabels=False, zeroline=False)
    figure.update_yaxes(showticklabels=False, zeroline=False)
    hidden = dict(showticklabels=False, title="")
    figure.update_scenes(xaxis=hidden, yaxis=hidden, zaxis=hidden)
    title = f"{method} of {len(texts)} texts" + (" (3-D: drag to turn)" if dims == 3 else "")
    margin = dict(l=10, r=10, t=60, b=30)
    legend = dict(title="label", itemsizing="constant")
    return style(figure, title, 400 * rows, margin=margin, legend=legend)


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
    return style(
        figure,
        "How much removing the causal mask changes each layer",
        360,
        top=50,
        xaxis_title="layer (0 = embeddings)",
        xaxis=dict(dtick=max(1, max((len(v) for v in curves.values()), default=1) // 10)),
        yaxis_title="mean cos(causal, bidirectional) over tokens",
        yaxis=dict(range=[min(0.0, *(float(np.min(v)) for v in curves.values())) if curves else 0.0, 1.02]),
        legend=dict(orientation="h", y=-0.25),
        showlegend=True,  # even for one curve: its name says which variants share the weights
    )
