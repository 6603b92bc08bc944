"""LLM2Vec Lab's web page: compare causal, bidirectional and LLM2Vec embeddings of SmolLM2 with a MiniLM baseline.

    python app.py                 # http://127.0.0.1:7860
    python app.py --port 8000 --host 0.0.0.0
    python app.py --tiny          # random tiny models: the page in seconds, for UI work

The work lives in ``lab.explore`` (pure functions, tested directly); this file only lays out the page and turns
errors into readable messages.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Sequence

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402

from lab.explore import actions  # noqa: E402
from lab.explore.corpus import MAX_CHARS, MAX_TEXTS, read_upload  # noqa: E402
from lab.explore.engine import Engine  # noqa: E402
from lab.explore.examples import EXAMPLE_SETS, load_example  # noqa: E402
from lab.explore.figures import PROJECTIONS, UmapWarmUp  # noqa: E402
from lab.explore.search import results_html  # noqa: E402
from lab.explore.variants import DEFAULT_POOLING, default_variants  # noqa: E402
from lab.pooling import POOLING_MODES  # noqa: E402
from lab.variants import Variant  # noqa: E402

logger = logging.getLogger("app")

START_SIZE = 120  # texts in the corpus the page opens with: four SmolLM2 variants embed them in ~30 s on 2 cores

CSS = """
.lab-results {display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start;}
.lab-card {flex: 1 1 240px; min-width: 240px; border: 1px solid var(--border-color-primary); border-radius: 10px;
           padding: 8px 10px; background: var(--background-fill-secondary);}
.lab-card h4 {margin: 2px 0 6px 0; font-size: 0.95em;}
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


class _Bar:
    """Adapts ``gr.Progress`` to the ``(fraction, desc)`` callback of ``lab.explore.actions``."""

    def __init__(self, progress: gr.Progress) -> None:
        self.progress = progress

    def __call__(self, fraction: float, desc: str) -> None:
        self.progress(fraction, desc=desc)


def _problem(error: Exception) -> str:
    """A readable status line for an error (and a toast); unexpected errors are logged with their traceback."""
    if isinstance(error, (ValueError, TypeError)):
        message = str(error)
    else:
        logger.exception("Unexpected error")
        message = f"Something went wrong ({type(error).__name__}: {error}). The details are in the server log."
    gr.Warning(message)
    return f"⚠️ {message}"


def _notes_line(notes: dict[str, str]) -> str:
    return "".join(f"\n\n*{label}: {note}*" for label, note in notes.items())


def build_app(
    variants: Sequence[Variant] | None = None, engine: Engine | None = None, warm_up_umap: bool = True
) -> gr.Blocks:
    """The page, not launched. Tests pass a small ``variants`` table (or a ready ``engine``).

    Args:
        variants: the encoders to offer (default: ``default_variants()``, the SmolLM2 ladder and MiniLM).
        engine: an ``Engine`` to share (overrides ``variants``).
        warm_up_umap: compile UMAP's kernels in a background thread now, so the first map is quick.
    """
    engine = engine or Engine(default_variants() if variants is None else variants)
    warm = UmapWarmUp()
    if warm_up_umap:
        warm.start()
    available = engine.available_labels()

    def search(
        corpus: str,
        query: str,
        instruction: str,
        labels: list[str],
        pooling: str,
        k: float,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple[str, str, dict]:
        try:
            bar = _Bar(progress)
            results, notes, size = actions.run_search(engine, corpus, query, instruction, labels, pooling, k, bar)
        except Exception as error:
            return _problem(error), "", {}
        raw = {label: [vars(hit) for hit in rows] for label, rows in results.items()}
        status = f"Top {min(int(k), size)} of {size} texts per variant, best first."
        return status + _notes_line(notes), results_html(results, notes), raw

    def plot(corpus: str, labels: list[str], pooling: str, method: str, progress: gr.Progress = gr.Progress()):
        try:
            if method == "UMAP" and not warm.done.is_set():
                progress(0.0, desc="UMAP is compiling its kernels (first use only, up to a minute)...")
                warm.start().done.wait(timeout=300)
            figure, notes = actions.run_projection(engine, corpus, labels, pooling, method, _Bar(progress))
        except Exception as error:
            return _problem(error), None
        return f"{method} map of the corpus: hover a point to read its text." + _notes_line(notes), figure

    def pair(first: str, second: str, labels: list[str], pooling: str, progress: gr.Progress = gr.Progress()):
        try:
            cosines, figure, notes = actions.run_pair(engine, first, second, labels, pooling, _Bar(progress))
        except Exception as error:
            return _problem(error), "", None
        return "Cosine of the two sentences per variant.", actions.cosines_html(cosines, notes), figure

    def example(name: str, size: float):
        try:
            corpus = load_example(name, int(size))
        except Exception as error:
            return gr.skip(), _problem(error)
        return corpus.to_text(), f"Loaded {len(corpus)} texts of {name}."

    def upload(path: str | None):
        if not path:
            return gr.skip(), ""
        try:
            corpus = read_upload(path)
        except Exception as error:
            return gr.skip(), _problem(error)
        labelled = f", labelled ({len(set(corpus.labels))} labels)" if corpus.labels else ""
        return corpus.to_text(), f"Loaded {len(corpus)} texts from {os.path.basename(path)}{labelled}."

    def add_model(name: str, bidirectional: bool, pooling: str, chosen: list[str]):
        try:
            variant = engine.add_variant(actions.custom_variant(name, bidirectional, pooling))
        except Exception as error:
            return _problem(error), gr.skip(), gr.skip()
        choices = engine.labels
        selected = list(dict.fromkeys([*(chosen or []), variant.label]))
        return (
            f"Loaded **{variant.label}**; it is now one of the variants.",
            gr.CheckboxGroup(choices=choices, value=selected),
            actions.variants_markdown(engine),
        )

    def overview() -> tuple[str, str]:
        if warm.error:
            umap_state = f"unavailable ({warm.error}); use PCA or t-SNE"
        elif warm.done.is_set():
            umap_state = "ready"
        else:
            umap_state = "compiling in the background (first start only); PCA and t-SNE work now"
        return actions.variants_markdown(engine), f"UMAP: {umap_state}."

    with gr.Blocks(title="LLM2Vec Lab") as app:
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            chosen = gr.CheckboxGroup(
                engine.labels,
                value=available,
                label="Variants to compare",
                scale=4,
                info="unavailable ones (e.g. adapters not trained yet) say why when chosen",
            )
            pooling = gr.Dropdown(
                [DEFAULT_POOLING, *POOLING_MODES],
                value=DEFAULT_POOLING,
                scale=1,
                label="Pooling",
                info="for the SmolLM2 variants (MiniLM keeps mean)",
            )
        with gr.Accordion("Variants: what each one is, and loading another model", open=False):
            table = gr.Markdown()
            with gr.Row():
                model_name = gr.Textbox(
                    label="Model name or local folder",
                    scale=3,
                    placeholder="e.g. tiny-qwen2, /path/to/a/saved/model, or a hub id (needs the network)",
                )
                model_bi = gr.Checkbox(value=True, label="bidirectional", scale=1)
                model_pool = gr.Dropdown(list(POOLING_MODES), value="mean", label="pooling", scale=1)
                add = gr.Button("Load model", scale=1)
            model_status = gr.Markdown()
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                corpus = gr.Textbox(
                    label=f"Corpus: one text a line, optionally label<TAB>text (up to {MAX_TEXTS:,} texts of "
                    f"{MAX_CHARS:,} characters)",
                    lines=9,
                    max_lines=14,
                    elem_id="corpus",
                    value=load_example(next(iter(EXAMPLE_SETS)), START_SIZE).to_text(),
                )
            with gr.Column(scale=2):
                example_name = gr.Dropdown(list(EXAMPLE_SETS), value=next(iter(EXAMPLE_SETS)), label="Example set")
                example_size = gr.Slider(20, MAX_TEXTS, value=START_SIZE, step=10, label="How many texts")
                load = gr.Button("Load example into the corpus")
                file = gr.File(
                    label="...or upload .txt / .csv / .jsonl (columns text, label)",
                    file_types=[".txt", ".csv", ".jsonl"],
                    height=110,
                )
                corpus_status = gr.Markdown()
        with gr.Tabs():
            with gr.Tab("Similarity search"):
                with gr.Row(equal_height=False):
                    query = gr.Textbox(
                        label="Query", value="A man is playing a musical instrument.", scale=3, elem_id="query"
                    )
                    instruction = gr.Textbox(
                        label="Instruction for the query (optional)",
                        scale=2,
                        placeholder="e.g. Retrieve sentences that describe the same scene",
                    )
                    k = gr.Slider(1, actions.MAX_K, value=5, step=1, label="top k", scale=1)
                search_button = gr.Button("Search", variant="primary", elem_id="search-button")
                search_status = gr.Markdown()
                results = gr.HTML(elem_id="results")
                with gr.Accordion("Raw results (JSON)", open=False):
                    raw = gr.JSON()
            with gr.Tab("Map (UMAP / PCA / t-SNE)", elem_id="map-tab"):
                with gr.Row():
                    method = gr.Radio(list(PROJECTIONS), value="UMAP", label="Projection", scale=3)
                    draw = gr.Button("Draw the map", variant="primary", scale=1, elem_id="map-button")
                map_status = gr.Markdown()
                figure = gr.Plot(elem_id="map-plot")
            with gr.Tab("Pair", elem_id="pair-tab"):
                with gr.Row():
                    first = gr.Textbox(label="Sentence A", value="The cat sat on the mat.")
                    second = gr.Textbox(label="Sentence B", value="A kitten is resting on a rug.")
                compare = gr.Button("Compare", variant="primary", elem_id="pair-button")
                gr.Markdown(
                    "Left: the cosine of the two sentences per variant. Right: each decoder's weights run the same "
                    "two sentences causally and bidirectionally; per layer, the mean cosine between the two hidden "
                    "states of each token. 1.0 means removing the causal mask changes nothing there; MNTP training "
                    "should keep the model closer to its causal self than the untrained Bi.",
                    elem_classes="lab-legend",
                )
                pair_status = gr.Markdown()
                with gr.Row(equal_height=False):
                    cosines = gr.HTML()
                    layers = gr.Plot(label="per-layer causal vs bidirectional", elem_id="pair-plot")

        search_button.click(
            search, [corpus, query, instruction, chosen, pooling, k], [search_status, results, raw], api_name="search"
        )
        query.submit(
            search,
            [corpus, query, instruction, chosen, pooling, k],
            [search_status, results, raw],
            api_visibility="private",
        )
        draw.click(plot, [corpus, chosen, pooling, method], [map_status, figure], api_name="plot")
        compare.click(pair, [first, second, chosen, pooling], [pair_status, cosines, layers], api_name="pair")
        load.click(example, [example_name, example_size], [corpus, corpus_status], api_name="load_example")
        file.upload(upload, [file], [corpus, corpus_status], api_name="upload")
        add.click(
            add_model, [model_name, model_bi, model_pool, chosen], [model_status, chosen, table], api_name="add_model"
        )
        app.load(overview, None, [table, map_status], api_name="overview")
    app.queue(max_size=64)
    return app


def launch(app: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, share: bool = False, block: bool = True) -> str:
    """Serve the page; with ``block=False`` return at once (tests). Returns the local URL."""
    app.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=not block,
        css=CSS,
        theme=gr.themes.Soft(),
        show_error=False,
        quiet=not block,
    )
    return app.local_url


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve the page until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    parser.add_argument("--tiny", action="store_true", help="random tiny models instead of SmolLM2 (UI work)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from lab.explore.variants import tiny_variants

    launch(build_app(tiny_variants() if args.tiny else None), args.host, args.port, args.share)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
