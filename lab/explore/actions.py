"""What each button of the page does, as plain functions of an ``Engine`` (no Gradio here, so tests call them directly).

Every function raises ``ValueError`` with a message meant for the user (``CorpusError``, a subclass, when the corpus is
what is wrong); the app shows it.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import plotly.graph_objects as go

from lab.explore import statistics
from lab.explore.attention import (
    attention_figure,
    attention_maps,
    change_figure,
    mask_figure,
    most_changed,
    token_changes,
)
from lab.explore.corpus import check_text, parse_corpus_text
from lab.explore.engine import Engine
from lab.explore.figures import MIN_POINTS, layerwise_figure, project
from lab.explore.search import Hit, hits
from lab.explore.variants import effective_pooling, unavailable_reason, weights_key
from lab.models import PACKAGED_MODELS, known_model_names
from lab.pooling import POOLING_MODES
from lab.variants import Variant

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]  # (fraction done, what is happening)
MAX_K = 50
MAP_SEED = 0  # one seed for every variant's map, so their differences are the embeddings'
CUSTOM_COLOUR = "#8c564b"  # models loaded from the page share one colour, apart from the table's


def _no_progress(fraction: float, desc: str) -> None:
    pass


@dataclass
class Selection:
    """The variants a request runs on, and a note for each chosen one that cannot run."""

    variants: list[Variant]
    notes: dict[str, str] = field(default_factory=dict)


def select(engine: Engine, labels: Sequence[str] | None) -> Selection:
    """Resolve the page's chosen labels; unavailable ones get a note, and at least one must be usable."""
    if not labels:
        raise ValueError("Pick at least one variant to compare.")
    if isinstance(labels, str):
        labels = [labels]
    chosen = [engine.variant(label) for label in dict.fromkeys(labels)]
    notes = {v.label: f"Unavailable: {reason}." for v in chosen if (reason := unavailable_reason(v))}
    usable = [v for v in chosen if v.label not in notes]
    if not usable:
        raise ValueError("None of the chosen variants can run: " + " ".join(f"{k}: {v}" for k, v in notes.items()))
    return Selection(usable, notes)


def embed_all(
    engine: Engine,
    variants: Sequence[Variant],
    texts: Sequence[str],
    pooling: str | None,
    instruction: str = "",
    progress: Progress = _no_progress,
    span: tuple[float, float] = (0.0, 1.0),
) -> dict[str, np.ndarray]:
    """Embeddings (n, d) of ``texts`` for every variant, reporting progress within ``span`` of the bar."""
    out = {}
    low, high = span
    for position, variant in enumerate(variants):

        def report(done: int, total: int, position: int = position, variant: Variant = variant) -> None:
            fraction = (position + done / max(total, 1)) / len(variants)
            progress(low + (high - low) * fraction, f"{variant.label}: embedding {done}/{total} new texts")

        if not engine.is_loaded(variant):
            progress(low + (high - low) * position / len(variants), f"Loading {variant.label} (first use only)")
        out[variant.label] = engine.embed(variant, texts, instruction=instruction, pooling=pooling, progress=report)
    return out


def run_search(
    engine: Engine,
    corpus_box: str,
    query: str,
    instruction: str,
    labels: Sequence[str],
    pooling: str | None,
    k: int,
    progress: Progress = _no_progress,
) -> tuple[dict[str, list[Hit]], dict[str, str], int]:
    """Top-``k`` corpus texts for the query, per variant -> (label -> hits, label -> note for unavailable ones,
    corpus size)."""
    query = check_text(query, "The query")
    instruction = (instruction or "").strip()
    if len(instruction) > 500:
        raise ValueError(f"The instruction has {len(instruction):,} characters; the limit is 500.")
    if not isinstance(k, (int, float)) or not 1 <= int(k) <= MAX_K:
        raise ValueError(f"k must be a whole number from 1 to {MAX_K}; got {k!r}.")
    corpus = parse_corpus_text(corpus_box)
    selection = select(engine, labels)
    corpus_vectors = embed_all(engine, selection.variants, corpus.texts, pooling, progress=progress, span=(0, 0.95))
    query_vectors = embed_all(engine, selection.variants, [query], pooling, instruction, progress, span=(0.95, 1))
    results = {
        label: hits(query_vectors[label][0], corpus_vectors[label], corpus.texts, corpus.labels, int(k))
        for label in corpus_vectors
    }
    return results, selection.notes, len(corpus)


def poolings_used(engine: Engine, labels: Sequence[str], pooling: str | None) -> dict[str, str]:
    """Label -> the pooling that actually ran for it (the page's choice, or the variant's own for MiniLM)."""
    return {label: effective_pooling(engine.variant(label), pooling) for label in labels}


@dataclass
class MapPoints:
    """A drawn map, kept per session so a highlight redraws it without projecting again."""

    corpus_box: str
    method: str
    points: dict[str, np.ndarray]  # label -> (n, 2) or (n, 3)
    texts: list[str]
    labels: list[str] | None


def project_all(
    engine: Engine,
    corpus_box: str,
    labels: Sequence[str],
    pooling: str | None,
    method: str,
    progress: Progress = _no_progress,
    dims: int = 2,
) -> tuple[MapPoints, dict[str, str]]:
    """The corpus projected to ``dims`` (2 or 3) per variant, every variant with the same seed -> (points, notes)."""
    corpus = parse_corpus_text(corpus_box, min_texts=MIN_POINTS)
    selection = select(engine, labels)
    vectors = embed_all(engine, selection.variants, corpus.texts, pooling, progress=progress, span=(0, 0.7))
    points = {}
    for position, (label, matrix) in enumerate(vectors.items()):
        progress(0.7 + 0.3 * position / len(vectors), f"{method} of {label}")
        points[label] = project(matrix, method, seed=MAP_SEED, dims=dims)
    return MapPoints(corpus_box, method, points, corpus.texts, corpus.labels), selection.notes


def find_text(texts: Sequence[str], wanted: str) -> int:
    """The corpus index of ``#12`` (an index, as a map click sends it) or of the first text containing ``wanted``."""
    wanted = (wanted or "").strip()
    if not wanted:
        raise ValueError("Type part of a text (or click a point on the map) to find it.")
    if wanted.startswith("#") and wanted[1:].isdigit():
        index = int(wanted[1:])
        if index >= len(texts):
            raise ValueError(f"There is no text #{index}; the corpus has {len(texts)} (numbered from 0).")
        return index
    lowered = wanted.lower()
    found = next((i for i, text in enumerate(texts) if lowered in text.lower()), None)
    if found is None:
        raise ValueError(f"No text of the corpus contains {wanted!r}.")
    return found


def run_neighbours(
    engine: Engine, corpus_box: str, labels: Sequence[str], pooling: str | None, wanted: str, k: int = 5
) -> tuple[int, dict[str, list[Hit]], dict[str, str]]:
    """A corpus text's ``k`` nearest other texts in every variant -> (its index, label -> hits, notes)."""
    corpus = parse_corpus_text(corpus_box)
    index = find_text(corpus.texts, wanted)
    selection = select(engine, labels)
    vectors = embed_all(engine, selection.variants, corpus.texts, pooling)
    results = {}
    for label, matrix in vectors.items():
        found = hits(matrix[index], matrix, corpus.texts, corpus.labels, k + 1)
        results[label] = [replace(h, rank=r) for r, h in enumerate((h for h in found if h.index != index), 1)][:k]
    return index, results, selection.notes


def run_pair(
    engine: Engine,
    first: str,
    second: str,
    labels: Sequence[str],
    pooling: str | None,
    progress: Progress = _no_progress,
) -> tuple[dict[str, float], go.Figure | None, dict[str, str]]:
    """Cosine of two texts per variant and the per-layer causal-vs-bidirectional curve per set of decoder weights."""
    first, second = check_text(first, "Sentence A"), check_text(second, "Sentence B")
    selection = select(engine, labels)
    vectors = embed_all(engine, selection.variants, [first, second], pooling, progress=progress, span=(0, 0.5))
    cosines = {label: float(np.dot(m[0], m[1])) for label, m in vectors.items()}
    notes = dict(selection.notes)
    groups: dict[tuple, list[Variant]] = {}
    for variant in selection.variants:
        if not variant.encoder_only:
            groups.setdefault(weights_key(variant), []).append(variant)
    curves = {}
    for position, group in enumerate(groups.values()):
        name = " = ".join(v.label for v in group) if len(group) > 1 else group[0].label
        progress(0.5 + 0.5 * position / len(groups), f"Per-layer analysis: {name}")
        try:
            curves[name] = engine.layerwise(group[0], [first, second])
        except Exception as error:  # one custom model that cannot switch attention must not hide the others
            logger.exception("Per-layer analysis failed for %s", name)
            notes[name] = f"No per-layer curve: {type(error).__name__}: {error}"
    return cosines, (layerwise_figure(curves) if curves else None), notes


def run_statistics(
    engine: Engine,
    corpus_box: str,
    labels: Sequence[str],
    pooling: str | None,
    k: int,
    progress: Progress = _no_progress,
) -> tuple[list[dict], list[dict], dict[str, str]]:
    """Comparison statistics of the corpus -> (a row per variant, a row per pair of variants, notes)."""
    corpus = parse_corpus_text(corpus_box, min_texts=MIN_POINTS)
    if not isinstance(k, (int, float)) or not 1 <= int(k) < len(corpus):
        raise ValueError(f"k must be a whole number from 1 to {len(corpus) - 1} for {len(corpus)} texts; got {k!r}.")
    selection = select(engine, labels)
    vectors = embed_all(engine, selection.variants, corpus.texts, pooling, progress=progress)
    return (
        statistics.per_variant(vectors, corpus.labels, int(k)),
        statistics.between_variants(vectors, int(k)),
        dict(selection.notes),
    )


def run_attention(
    engine: Engine, text: str, labels: Sequence[str], layer: int, head: int
) -> tuple[go.Figure, go.Figure, go.Figure, str, dict[str, str]]:
    """The attention view of one sentence -> (masks, attention per variant, token changes, summary, notes).

    Each decoder variant runs under its own mask (Uni causal, the others bidirectional); ``head`` < 0 averages the
    heads. Variants that share weights share one token-change map.
    """
    text = check_text(text, "The sentence")
    if not isinstance(layer, (int, float)) or not isinstance(head, (int, float)) or layer < 0:
        raise ValueError(f"The layer must be a whole number from 0 and the head one from -1; got {layer!r}, {head!r}.")
    selection = select(engine, labels)
    notes = dict(selection.notes)
    decoders = []
    for variant in selection.variants:
        if variant.encoder_only:
            notes[variant.label] = "a trained encoder: it has no causal mask to remove, so it is not shown here."
        else:
            decoders.append(variant)
    if not decoders:
        raise ValueError("The attention view needs a decoder variant (Uni, Bi, ...); MiniLM has no causal mask.")
    maps = {
        v.label: engine.run(v, lambda model, v=v: attention_maps(model, text, causal=not v.bidirectional))
        for v in decoders
    }
    groups: dict[tuple, list[Variant]] = {}
    for variant in decoders:
        groups.setdefault(weights_key(variant), []).append(variant)
    changes, lines = {}, []
    for group in groups.values():
        name = " = ".join(v.label for v in group)
        grid = engine.run(group[0], lambda model: token_changes(model, text))  # (L+1, T)
        tokens = maps[group[0].label].tokens
        changes[name] = (tokens, grid)
        top = ", ".join(f"`{t.strip() or '␣'}` ({c:.3f})" for t, c in most_changed(tokens, grid))
        lines.append(f"- **{name}**: {top}")
    summary = "Tokens whose last-layer representation moves most when the mask goes (1 - cosine):\n" + "\n".join(lines)
    first = maps[decoders[0].label].tokens
    figure = attention_figure(maps, int(layer), None if head < 0 else int(head))
    return mask_figure(first), figure, change_figure(changes), summary, notes


def looks_local(name: str) -> bool:
    """Whether a typed model name points at this machine's files (a folder, or a path-like name)."""
    return name.startswith(("/", "~", ".")) or Path(name).expanduser().exists()


def custom_variant(name: str, bidirectional: bool, pooling: str, allow_local: bool = True) -> Variant:
    """A variant for any model name or local folder typed in the page; ``ValueError`` for an unusable name.

    With ``allow_local=False`` (a page shared beyond this machine) local folders are refused: a visitor must not
    make the server read its files.
    """
    name = (name or "").strip()
    if not name:
        raise ValueError("Type a model name or a local folder first, e.g. " + ", ".join(known_model_names()[:3]) + ".")
    if not allow_local and looks_local(name):
        raise ValueError(
            f"Loading local folders ({name!r}) is off on a shared page; the server's owner can start it with "
            "--allow-local-models. Known names work: " + ", ".join(known_model_names()[:3]) + "."
        )
    if pooling not in POOLING_MODES:
        raise ValueError(f"Unknown pooling {pooling!r}; expected one of {', '.join(POOLING_MODES)}.")
    if not (name in PACKAGED_MODELS or name.startswith("tiny-") or Path(name).expanduser().is_dir()):
        from lab.models import resolve_model_path

        resolve_model_path(name)  # raises the readable "Unknown model ..." error when offline
    mode = "bi" if bidirectional else "causal"
    return Variant(
        f"custom:{name}:{mode}:{pooling}",
        f"{name} ({mode}, {pooling})",
        bidirectional,
        (),
        pooling,
        0,
        CUSTOM_COLOUR,
        "loaded from the page",
        model=name,
    )


def cosines_html(cosines: dict[str, float], notes: dict[str, str]) -> str:
    """A small table: variant, cosine of the two texts, a bar."""
    rows = "".join(
        f'<tr><td>{html.escape(label)}</td><td class="lab-score">{value:.3f}'
        f'<div class="lab-bar"><span style="width:{max(0.0, min(1.0, value)) * 100:.0f}%"></span></div></td></tr>'
        for label, value in cosines.items()
    )
    extra = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in notes.items())
    head = "<thead><tr><th>variant</th><th>cosine</th></tr></thead>"
    return f'<table class="lab-pair">{head}<tbody>{rows}{extra}</tbody></table>'


def variants_markdown(engine: Engine) -> str:
    """The variants table as Markdown: label, model, attention, pooling, adapters, what it is, status."""
    lines = [
        "| variant | model | attention | pooling | adapters | what it is | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, reason in engine.availability().items():
        v = engine.variant(label)
        status = f"unavailable: {reason}" if reason else ("loaded" if engine.is_loaded(v) else "loads on first use")
        attention = "bidirectional" if v.bidirectional else "causal"
        cells = [f"**{label}**", str(v.model), attention, v.pooling, " + ".join(v.adapters) or "-", v.note, status]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)
