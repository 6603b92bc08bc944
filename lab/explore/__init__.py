"""Pure helpers behind the Gradio app (``app.py``): variants, loading and caching, corpora, search and figures."""

from lab.explore.corpus import MAX_CHARS, MAX_TEXTS, Corpus, CorpusError, parse_corpus_text, read_upload
from lab.explore.engine import Engine
from lab.explore.examples import EXAMPLE_SETS, load_example
from lab.explore.figures import PROJECTIONS, UmapWarmUp, layerwise_figure, project, scatter_figure
from lab.explore.search import Hit, hits, results_html, top_k
from lab.explore.variants import DEFAULT_POOLING, default_variants, tiny_variants, unavailable_reason

__all__ = [
    "DEFAULT_POOLING",
    "EXAMPLE_SETS",
    "MAX_CHARS",
    "MAX_TEXTS",
    "PROJECTIONS",
    "Corpus",
    "CorpusError",
    "Engine",
    "Hit",
    "UmapWarmUp",
    "default_variants",
    "hits",
    "layerwise_figure",
    "load_example",
    "parse_corpus_text",
    "project",
    "read_upload",
    "results_html",
    "scatter_figure",
    "tiny_variants",
    "top_k",
    "unavailable_reason",
]
