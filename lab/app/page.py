"""The page assembled: the intro, the shared controls, one builder per tab, and the page-wide style and script."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import gradio as gr

from lab.adapters import SHIPPED_DIR
from lab.app.attention_tab import attention_tab
from lab.app.common import START_QUERY, START_SIZE, Page
from lab.app.controls import corpus_panel, variant_controls
from lab.app.experiments_tab import experiments_tab
from lab.app.export_tab import export_tab
from lab.app.map_tab import map_tab
from lab.app.pair_tab import pair_tab
from lab.app.search_tab import search_tab
from lab.app.statistics_tab import statistics_tab
from lab.explore import actions, experiments
from lab.explore.engine import Engine
from lab.explore.examples import EXAMPLE_SETS, load_example
from lab.explore.figures import UmapWarmUp
from lab.explore.startup import Preload
from lab.explore.variants import default_variants
from lab.variants import Variant

CONCURRENCY = 4  # requests of one event served at once: each model has its own lock, so different variants overlap

# A click on a map point types "#<index>" into the find box and presses Find (plotly's own click event; Gradio's
# Plot has none). Points carry their corpus index in ``text`` (lab.explore.figures.scatter_figure).
HEAD = """
<script>
setInterval(() => {
  document.querySelectorAll('#map-plot .js-plotly-plot').forEach((plot) => {
    if (plot.dataset.labClick || !plot.on) return;
    plot.dataset.labClick = '1';
    plot.on('plotly_click', (event) => {
      const index = event.points && event.points[0] && event.points[0].text;
      const box = document.querySelector('#map-find textarea, #map-find input');
      if (index === undefined || !box) return;
      box.value = '#' + index;
      box.dispatchEvent(new Event('input', {bubbles: true}));
      setTimeout(() => document.querySelector('#map-find-button').click(), 100);
    });
  });
}, 500);
</script>
"""
CSS = """
.lab-results {display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start;}
.lab-card {flex: 1 1 240px; min-width: min(240px, 100%); max-width: 100%; box-sizing: border-box;
           border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 8px 10px;
           background: var(--background-fill-secondary); overflow-wrap: anywhere;}
.lab-card h4 {margin: 2px 0 6px 0; font-size: 0.95em; overflow-wrap: anywhere;}
.lab-text {overflow-wrap: anywhere; word-break: break-word;}
.lab-card th {overflow-wrap: normal; white-space: nowrap;}  /* short column names stay whole */
#variants-table {overflow-x: auto;}
#variants-table td, #variants-table th {overflow-wrap: anywhere;}  /* long notes wrap, the page never scrolls */
.lab-card table, .lab-pair {width: 100%; border-collapse: collapse; font-size: 0.86em; border: none !important;
           border-left: none !important; border-right: none !important;}
.lab-card tr, .lab-pair tr, .lab-card thead, .lab-pair thead {border: none !important;}
.lab-pair td:last-child, .lab-pair th:last-child {width: 7em;}
.lab-card td, .lab-card th, .lab-pair td, .lab-pair th {padding: 4px 5px !important; vertical-align: top;
           border: none !important; border-bottom: 1px solid var(--border-color-primary) !important;
           text-align: left; background: transparent;}
.lab-card th, .lab-pair th {font-weight: 600; color: var(--body-text-color-subdued);}
.lab-rank {color: var(--body-text-color-subdued); width: 1.5em;}
.lab-score {width: 4.2em; font-variant-numeric: tabular-nums;}
.lab-bar {height: 4px; background: var(--border-color-primary); border-radius: 2px; margin-top: 2px;}
.lab-bar span {display: block; height: 4px; background: var(--color-accent); border-radius: 2px;}
.lab-label {font-size: 0.8em; padding: 0 5px; border-radius: 6px; background: var(--border-color-primary);}
.lab-unique {background: rgba(255, 196, 0, 0.16);}
.lab-off p {color: var(--body-text-color-subdued); font-size: 0.88em;}
.lab-legend {font-size: 0.8em; color: var(--body-text-color-subdued);}
"""

INTRO = """# LLM2Vec Lab: what happens to embeddings when a decoder stops being causal?
A decoder-only LLM (SmolLM2-135M) becomes a text encoder in three steps ([LLM2Vec](https://arxiv.org/abs/2404.05961)):
remove the causal mask (**Bi**), teach it to use the future with masked next-token prediction (**MNTP**), then train it
to embed sentences with unsupervised contrastive learning (**SimCSE**). Compare each step with the causal model
(**Uni**) and a trained sentence encoder (**MiniLM**) on your own texts."""


def build_app(
    variants: Sequence[Variant] | None = None,
    engine: Engine | None = None,
    warm_up_umap: bool = True,
    preload: bool = True,
    results_dir: str | Path = experiments.RESULTS_DIR,
    adapters_dir: str | Path = SHIPPED_DIR,
    allow_local: bool = True,
) -> gr.Blocks:
    """The page, not launched: one builder per part. Tests pass a small ``variants`` table (or a ready ``engine``).

    Args:
        variants: the encoders to offer (default: ``default_variants()``, the SmolLM2 ladder and MiniLM).
        engine: an ``Engine`` to share (overrides ``variants``).
        warm_up_umap: compile UMAP's kernels in a background thread now, so the first map is quick.
        preload: embed the first corpus and query for every available variant in the background now, and show
            their results when the page opens.
        results_dir, adapters_dir: where the Experiments tab reads recorded results and the adapters' metrics.
        allow_local: whether the page may read local folders (a run folder to watch).
    """
    engine = engine or Engine(default_variants() if variants is None else variants)
    warm = UmapWarmUp()
    if warm_up_umap:
        warm.start()
    loader = None
    if preload:
        start = load_example(next(iter(EXAMPLE_SETS)), START_SIZE).texts
        loader = Preload(engine, engine.available_labels(), start, [START_QUERY]).start()

    with gr.Blocks(title="LLM2Vec Lab") as app:
        gr.Markdown(INTRO)
        chosen, pooling, table, session = variant_controls(engine, allow_local)
        page = Page(app, engine, chosen, pooling, corpus_panel(), table, session)
        with gr.Tabs():
            with gr.Tab("Similarity search"):
                search_tab(page, loader)
            with gr.Tab("Map (UMAP / PCA / t-SNE)", elem_id="map-tab"):
                map_status = map_tab(page, warm)
            with gr.Tab("Pair", elem_id="pair-tab"):
                pair_tab(page)
            with gr.Tab("Statistics", elem_id="stats-tab"):
                statistics_tab(page)
            with gr.Tab("Attention", elem_id="attention-tab"):
                attention_tab(page)
            experiments_tab(Path(results_dir), Path(adapters_dir), allow_local)
            with gr.Tab("Export", elem_id="export-tab"):
                export_tab(page)

        def overview() -> tuple[str, str]:
            if warm.error:
                umap_state = f"unavailable ({warm.error}); use PCA or t-SNE"
            elif warm.done.is_set():
                umap_state = "ready"
            else:
                umap_state = "compiling in the background (first start only); PCA and t-SNE work now"
            return actions.variants_markdown(engine), f"UMAP: {umap_state}."

        app.load(overview, None, [table, map_status], api_name="overview")
    app.queue(max_size=64, default_concurrency_limit=CONCURRENCY)
    return app
