"""Files a visitor takes away: embeddings (.npy and .csv), result tables (CSV) and figures (standalone HTML).

Every writer returns the path it wrote, in a fresh folder under the system's temp directory (the one place Gradio
serves returned files from besides the working directory), named after what it holds, so two downloads never
overwrite each other. The CSV numbers are written with ``repr`` of each float32 widened to float, which reads back to
the same float32: a downloaded embedding is the embedding, not a rounded copy.

PNG is not written here: kaleido (plotly's image renderer) is not installed. The HTML file carries plotly's own
toolbar, whose camera button saves a PNG in the browser.
"""

from __future__ import annotations

import csv
import re
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from lab.explore.actions import embed_all, select
from lab.explore.corpus import parse_corpus_text
from lab.explore.engine import Engine
from lab.explore.variants import effective_pooling

EXPORT_ROOT = Path(tempfile.gettempdir()) / "llm2vec-lab-exports"


def file_stem(name: str) -> str:
    """A file-name-safe form of a label: ``Tiny Bi`` -> ``tiny-bi``, ``custom:x/y:bi`` -> ``custom-x-y-bi``."""
    return re.sub(r"[^a-z0-9._]+", "-", name.lower()).strip("-.") or "export"


def export_folder() -> Path:
    """A new, empty folder for one download."""
    EXPORT_ROOT.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=EXPORT_ROOT))


def embeddings_npy(vectors: np.ndarray, name: str, folder: Path | None = None) -> Path:
    """The (n, d) matrix as ``<name>.npy`` (``np.load`` reads it back bit for bit)."""
    path = (folder or export_folder()) / f"{file_stem(name)}.npy"
    np.save(path, np.asarray(vectors))
    return path


def embeddings_csv(
    vectors: np.ndarray, texts: Sequence[str], labels: Sequence[str] | None, name: str, folder: Path | None = None
) -> Path:
    """One row per text: ``index, label, text, e0 .. e{d-1}`` as ``<name>.csv`` (the numbers read back exactly)."""
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or len(vectors) != len(texts):
        raise ValueError(f"Expected one row of embeddings per text; got {vectors.shape} for {len(texts)} texts.")
    path = (folder or export_folder()) / f"{file_stem(name)}.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "label", "text", *(f"e{j}" for j in range(vectors.shape[1]))])
        for i, (text, row) in enumerate(zip(texts, vectors)):
            writer.writerow([i, labels[i] if labels else "", text, *(repr(float(v)) for v in row)])
    return path


def table_csv(rows: Sequence[dict], name: str, folder: Path | None = None) -> Path:
    """Rows of dicts as ``<name>.csv``, the columns in first-seen order (a missing cell is empty)."""
    if not rows:
        raise ValueError("There is no table to export yet: run it first.")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    path = (folder or export_folder()) / f"{file_stem(name)}.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def figure_html(figure: go.Figure, name: str, folder: Path | None = None) -> Path:
    """The figure as a standalone ``<name>.html``: plotly.js is embedded, so it opens without a network."""
    path = (folder or export_folder()) / f"{file_stem(name)}.html"
    figure.write_html(path, include_plotlyjs=True, full_html=True)
    return path


def hit_rows(results: dict[str, list[dict]]) -> list[dict]:
    """Search results (label -> hits as dicts, the page's raw JSON) as one table: a row per (variant, hit)."""
    return [{"variant": label, **hit} for label, hits in results.items() for hit in hits]


def export_embeddings(engine: Engine, corpus_box: str, label: str, pooling: str | None) -> tuple[Path, Path, str]:
    """The corpus embedded by one variant (from the cache when it is there) -> (.npy path, .csv path, a line)."""
    corpus = parse_corpus_text(corpus_box)
    variant = select(engine, [label]).variants[0]
    vectors = embed_all(engine, [variant], corpus.texts, pooling)[variant.label]  # (n, d)
    folder = export_folder()
    mode = effective_pooling(variant, pooling)
    stem = f"{variant.label} {mode}"
    line = f"{variant.label}: {len(corpus)} texts x {vectors.shape[1]} dimensions, {mode.replace('_', ' ')} pooling."
    return (
        embeddings_npy(vectors, stem, folder),
        embeddings_csv(vectors, corpus.texts, corpus.labels, stem, folder),
        line,
    )
