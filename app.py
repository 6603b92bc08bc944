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
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from lab.adapters import SHIPPED_DIR  # noqa: E402
from lab.explore import actions, experiments  # noqa: E402
from lab.explore.corpus import MAX_CHARS, MAX_TEXTS, parse_corpus_text, read_upload  # noqa: E402
from lab.explore.engine import Engine  # noqa: E402
from lab.explore.examples import EXAMPLE_SETS, load_example  # noqa: E402
from lab.explore.figures import PROJECTIONS, UmapWarmUp, scatter_figure  # noqa: E402
from lab.explore.search import results_html  # noqa: E402
from lab.explore.startup import Preload  # noqa: E402
from lab.explore.variants import DEFAULT_POOLING, default_variants  # noqa: E402
from lab.pooling import POOLING_MODES  # noqa: E402
from lab.variants import Variant  # noqa: E402

logger = logging.getLogger("app")

START_SIZE = 120  # texts in the corpus the page opens with: four SmolLM2 variants embed them in ~30 s on 2 cores
START_QUERY = "A man is playing a musical instrument."
MAX_LAYER, MAX_HEAD = 31, 15  # slider ends: SmolLM2-135M has 30 layers and 9 heads; bigger models clamp
# A click on a map point types "#<index>" into the find box and presses Find (plotly's own click event; Gradio's
# Plot has none). Points carry their corpus index in ``text`` (lab.explore.figures.scatter_figure).
MAP_CLICK_JS = """
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
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_FILE_SIZE = "5mb"  # uploads beyond this are refused by Gradio before they reach the parser (its cap is the same)
CONCURRENCY = 4  # requests of one event served at once: each model has its own lock, so different variants overlap

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


@dataclass
class Page:
    """What every tab reads: the engine and the shared controls (variants, pooling, corpus)."""

    app: gr.Blocks
    engine: Engine
    chosen: gr.CheckboxGroup
    pooling: gr.Dropdown
    corpus: gr.Textbox
    table: gr.Markdown
    session: gr.State  # the variants this visitor loaded

    def view(self, mine: list[Variant]) -> Engine:
        """The engine as this visitor sees it: the page's variants and their own."""
        return self.engine.with_variants(mine or [])


def _variant_controls(engine: Engine, allow_local: bool) -> tuple[gr.CheckboxGroup, gr.Dropdown, gr.Markdown, gr.State]:
    """The variants to compare, the pooling, and the accordion that lists the variants and loads another model."""
    with gr.Row(equal_height=False):
        chosen = gr.CheckboxGroup(
            engine.labels,
            value=engine.available_labels(),
            label="Variants to compare",
            scale=4,
            info="unavailable ones (e.g. adapters not trained yet) say why when chosen",
        )
        pooling = gr.Dropdown(
            [DEFAULT_POOLING, *POOLING_MODES],
            value=DEFAULT_POOLING,
            scale=1,
            label="Pooling",
            info="for the decoder variants (MiniLM keeps its trained mean); the cards say which one ran",
        )
    with gr.Accordion("Variants: what each one is, and loading another model", open=False):
        table = gr.Markdown()
        with gr.Row():
            name = gr.Textbox(
                label="Model name or local folder",
                scale=3,
                placeholder="e.g. tiny-qwen2, /path/to/a/saved/model, or a hub id (needs the network)",
            )
            bidirectional = gr.Checkbox(value=True, label="bidirectional", scale=1)
            model_pooling = gr.Dropdown(list(POOLING_MODES), value="mean", label="pooling", scale=1)
            add = gr.Button("Load model", scale=1)
        status = gr.Markdown()

    session = gr.State([])  # the variants this visitor loaded: theirs alone (a list of lab.variants.Variant)
    unload = gr.Button("Unload the models I loaded", visible=False, size="sm", elem_id="unload-button")

    def add_model(name: str, bidirectional: bool, pooling: str, selected: list[str], mine: list[Variant]):
        try:
            variant = actions.custom_variant(name, bidirectional, pooling, allow_local)
            mine = [v for v in mine if v.label != variant.label]
            if len(mine) >= engine.max_extra_models:
                raise ValueError(f"You have {len(mine)} models loaded, the most a visitor may; unload them first.")
            view = engine.with_variants([*mine, variant])
            view.model(variant)  # load now, so a bad name fails here, readably
        except Exception as error:
            return _problem(error), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        keep = list(dict.fromkeys([*(selected or []), variant.label]))
        return (
            f"Loaded **{variant.label}**; it is one of your variants (other visitors do not see it).",
            gr.CheckboxGroup(choices=view.labels, value=keep),
            actions.variants_markdown(view),
            [*mine, variant],
            gr.Button(visible=True),
        )

    def unload_mine(selected: list[str], mine: list[Variant]):
        dropped = [v.label for v in mine if engine.unload(v)]
        keep = [label for label in selected or [] if label in engine.labels]
        line = f"Unloaded {', '.join(dropped)}." if dropped else "Your models were already unloaded."
        choices = gr.CheckboxGroup(choices=engine.labels, value=keep)
        return line, choices, actions.variants_markdown(engine), [], gr.Button(visible=False)

    outputs = [status, chosen, table, session, unload]
    add.click(add_model, [name, bidirectional, model_pooling, chosen, session], outputs, api_name="add_model")
    unload.click(unload_mine, [chosen, session], outputs, api_name="unload_models")
    name.change(lambda: "", None, status, api_visibility="private")  # a stale error goes when the input changes
    return chosen, pooling, table, session


def _corpus_panel() -> gr.Textbox:
    """The corpus text box, the example sets and the upload."""
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
            status = gr.Markdown()
            undo = gr.Button("Undo: restore the corpus I had", visible=False, size="sm", elem_id="undo-corpus")
    previous = gr.State(None)  # the corpus an upload or an example replaced, per session

    def replaced(text: str, line: str, current: str) -> tuple:
        """The new corpus; the old one is kept for Undo unless there was nothing to lose."""
        keep = bool((current or "").strip()) and current != text
        return text, line + (" *Undo* restores the corpus you had." if keep else ""), current, gr.Button(visible=keep)

    def example(name: str, size: float, current: str):
        try:
            loaded = load_example(name, int(size))
        except Exception as error:
            return gr.skip(), _problem(error), gr.skip(), gr.skip()
        return replaced(loaded.to_text(), f"Loaded {len(loaded)} texts of {name}.", current)

    def upload(path: str | None, current: str):
        if not path:
            return gr.skip(), "", gr.skip(), gr.skip()
        try:
            loaded = read_upload(path)
        except Exception as error:
            return gr.skip(), _problem(error), gr.skip(), gr.skip()
        labelled = f", labelled ({len(set(loaded.labels))} labels)" if loaded.labels else ""
        line = f"Loaded {len(loaded)} texts from {os.path.basename(path)}{labelled}."
        return replaced(loaded.to_text(), line, current)

    def restore(old: str | None):
        if old is None:
            return gr.skip(), "Nothing to restore.", None, gr.Button(visible=False)
        return old, "Restored the corpus you had.", None, gr.Button(visible=False)

    outputs = [corpus, status, previous, undo]
    load.click(example, [example_name, example_size, corpus], outputs, api_name="load_example")
    file.upload(upload, [file, corpus], outputs, api_name="upload")
    undo.click(restore, [previous], outputs, api_name="undo_corpus")
    corpus.input(lambda: "", None, status, api_visibility="private")  # typing clears a stale upload error
    return corpus


def _search_tab(page: Page, preload: Preload | None) -> None:
    """Top-k search per variant; with ``preload``, the first results appear without a click."""
    with gr.Row(equal_height=False):
        query = gr.Textbox(label="Query", value=START_QUERY, scale=3, elem_id="query")
        instruction = gr.Textbox(
            label="Instruction for the query (optional)",
            scale=2,
            placeholder="e.g. Retrieve sentences that describe the same scene",
        )
        k = gr.Slider(1, actions.MAX_K, value=5, step=1, label="top k", scale=1)
    waiting = preload is not None and not preload.done.is_set()
    button = gr.Button(preload.button_text() if waiting else "Search", variant="primary", elem_id="search-button")
    status = gr.Markdown(preload.describe() if waiting else "", elem_id="search-status")
    results = gr.HTML(elem_id="results")
    with gr.Accordion("Raw results (JSON)", open=False):
        raw = gr.JSON()

    def search(corpus, query, instruction, labels, pooling, k, mine, progress: gr.Progress = gr.Progress()):
        try:
            view = page.view(mine)
            found, notes, size = actions.run_search(
                view, corpus, query, instruction, labels, pooling, k, _Bar(progress)
            )
        except Exception as error:
            return _problem(error), "", {}
        poolings = actions.poolings_used(view, list(found), pooling)
        table = {label: [vars(hit) for hit in rows] for label, rows in found.items()}
        line = f"Top {min(int(k), size)} of {size} texts per variant, best first."
        return line + _notes_line(notes), results_html(found, notes, poolings), table

    def first_results(corpus, query, instruction, labels, pooling, k, mine):
        """Wait for the preload (saying what is loading), then search: the first page shows results."""
        while preload is not None and not preload.done.wait(timeout=1.0):
            yield preload.describe(), gr.skip(), gr.skip(), gr.Button(preload.button_text())
        yield *search(corpus, query, instruction, labels, pooling, k, mine), gr.Button("Search")

    inputs = [page.corpus, query, instruction, page.chosen, page.pooling, k, page.session]
    button.click(search, inputs, [status, results, raw], api_name="search")
    query.submit(search, inputs, [status, results, raw], api_visibility="private")
    query.input(lambda: "", None, status, api_visibility="private")
    if preload is not None:
        page.app.load(first_results, inputs, [status, results, raw, button], api_name="first_results")


def _map_tab(page: Page, warm: UmapWarmUp) -> gr.Markdown:
    """The corpus projected to 2-D per variant (same seed); find or click a text to see its neighbours everywhere."""
    with gr.Row():
        method = gr.Radio(list(PROJECTIONS), value="UMAP", label="Projection", scale=3)
        draw = gr.Button("Draw the map", variant="primary", scale=1, elem_id="map-button")
    status = gr.Markdown()
    figure = gr.Plot(elem_id="map-plot")
    with gr.Row(equal_height=False):
        wanted = gr.Textbox(
            label="Find a text (or click a point): its neighbours in every variant, starred in every panel",
            placeholder="part of a text, or #12 for text 12",
            scale=4,
            elem_id="map-find",
        )
        find = gr.Button("Find", scale=1, elem_id="map-find-button")
    neighbours = gr.HTML(elem_id="map-neighbours")
    drawn = gr.State(None)  # this session's MapPoints: a highlight redraws without projecting again

    def plot(corpus: str, labels: list[str], pooling: str, method: str, mine, progress: gr.Progress = gr.Progress()):
        try:
            if method == "UMAP" and not warm.done.is_set():
                progress(0.0, desc="UMAP is compiling its kernels (first use only, up to a minute)...")
                warm.start().done.wait(timeout=300)
            points, notes = actions.project_all(page.view(mine), corpus, labels, pooling, method, _Bar(progress))
        except Exception as error:
            return _problem(error), None, None
        line = f"{method} map of the corpus: hover a point to read its text, click it to see its neighbours."
        return line + _notes_line(notes), scatter_figure(points.points, points.texts, points.labels, method), points

    def neighbours_of(corpus: str, labels: list[str], pooling: str, wanted: str, points, mine):
        try:
            index, found, notes = actions.run_neighbours(page.view(mine), corpus, labels, pooling, wanted)
        except Exception as error:
            return _problem(error), gr.skip(), ""
        redraw = gr.skip()
        if points is not None and points.corpus_box == corpus:
            redraw = scatter_figure(points.points, points.texts, points.labels, points.method, highlight=index)
        text = parse_corpus_text(corpus).texts[index]
        line = f"Nearest neighbours of text #{index} ({text[:80]!r}) in every variant." + _notes_line(notes)
        return line, redraw, results_html(found, notes)

    inputs = [page.corpus, page.chosen, page.pooling, method, page.session]
    draw.click(plot, inputs, [status, figure, drawn], api_name="plot")
    find_inputs = [page.corpus, page.chosen, page.pooling, wanted, drawn, page.session]
    find.click(neighbours_of, find_inputs, [status, figure, neighbours], api_name="neighbours")
    wanted.submit(neighbours_of, find_inputs, [status, figure, neighbours], api_visibility="private")
    return status


def _pair_tab(page: Page) -> None:
    """Two sentences: their cosine per variant and the per-layer causal-vs-bidirectional curve."""
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
    status = gr.Markdown()
    with gr.Row(equal_height=False):
        cosines = gr.HTML()
        layers = gr.Plot(label="per-layer causal vs bidirectional", elem_id="pair-plot")

    def pair(first: str, second: str, labels: list[str], pooling: str, mine, progress: gr.Progress = gr.Progress()):
        try:
            values, figure, notes = actions.run_pair(page.view(mine), first, second, labels, pooling, _Bar(progress))
        except Exception as error:
            return _problem(error), "", None
        return "Cosine of the two sentences per variant.", actions.cosines_html(values, notes), figure

    inputs = [first, second, page.chosen, page.pooling, page.session]
    compare.click(pair, inputs, [status, cosines, layers], api_name="pair")


def _statistics_tab(page: Page) -> None:
    """Per variant and between variants: label agreement of neighbours, neighbour overlap, rank correlation."""
    with gr.Row():
        k = gr.Slider(1, 50, value=10, step=1, label="k (neighbours per text)", scale=3)
        compute = gr.Button("Compute", variant="primary", scale=1, elem_id="stats-button")
    gr.Markdown(
        "**Anisotropy** is the mean cosine between two different texts: a decoder's embeddings share a common "
        "direction, so all its cosines sit high and raw cosines of two variants are not on one scale; compare "
        "neighbours and ranks instead. With labels (label<TAB>text), **label precision@k** is the share of each "
        "text's k neighbours that share its label and **kNN accuracy** the share whose neighbours' majority label is "
        "their own. Between variants, **overlap@k** is the share of neighbours two variants agree on and the "
        "**Spearman** column the rank correlation of their cosines to every other text.",
        elem_classes="lab-legend",
    )
    status = gr.Markdown()
    per_variant = gr.Dataframe(label="per variant", interactive=False, elem_id="stats-variants")
    between = gr.Dataframe(label="between variants", interactive=False, elem_id="stats-pairs")

    def stats(corpus: str, labels: list[str], pooling: str, k: float, mine, progress: gr.Progress = gr.Progress()):
        try:
            rows, pairs, notes = actions.run_statistics(page.view(mine), corpus, labels, pooling, k, _Bar(progress))
        except Exception as error:
            return _problem(error), None, None
        return f"Statistics of the corpus, k = {int(k)}." + _notes_line(notes), pd.DataFrame(rows), pd.DataFrame(pairs)

    inputs = [page.corpus, page.chosen, page.pooling, k, page.session]
    compute.click(stats, inputs, [status, per_variant, between], api_name="statistics")


def _attention_tab(page: Page) -> None:
    """One sentence: the two masks on its tokens, each variant's attention weights, and which tokens move most."""
    with gr.Row(equal_height=False):
        sentence = gr.Textbox(label="Sentence", value=START_QUERY, scale=3, elem_id="attention-text")
        layer = gr.Slider(0, MAX_LAYER, value=0, step=1, label="layer (a shallower model shows its last)", scale=1)
        head = gr.Slider(-1, MAX_HEAD, value=-1, step=1, label="head (-1: mean over heads)", scale=1)
    show = gr.Button("Show attention", variant="primary", elem_id="attention-button")
    gr.Markdown(
        "Uni reads each token with only the tokens before it (the causal mask); Bi and LLM2Vec read the whole "
        "sentence. Each chosen decoder runs the sentence under its own mask (eager attention, so the weights are "
        "real); the bottom map shows how far each token's hidden state moves when the same weights drop the mask.",
        elem_classes="lab-legend",
    )
    status = gr.Markdown()
    masks = gr.Plot(elem_id="mask-plot")
    weights = gr.Plot(elem_id="attention-plot")
    summary = gr.Markdown()
    changes = gr.Plot(elem_id="change-plot")

    def attention(text: str, labels: list[str], layer: float, head: float, mine):
        try:
            drawn = actions.run_attention(page.view(mine), text, labels, int(layer), int(head))
        except Exception as error:
            return _problem(error), None, None, "", None
        mask_plot, weight_plot, change_plot, lines, notes = drawn
        return (
            "Attention of the chosen decoder variants." + _notes_line(notes),
            mask_plot,
            weight_plot,
            lines,
            change_plot,
        )

    inputs = [sentence, page.chosen, layer, head, page.session]
    show.click(attention, inputs, [status, masks, weights, summary, changes], api_name="attention")


def _experiments_tab(results_dir: Path, adapters_dir: Path, allow_local: bool) -> gr.Tab:
    """The lab's recorded results and the shipped adapters' training curves, re-read from the files on demand."""
    with gr.Tab("Experiments", elem_id="experiments-tab") as tab:
        gr.Markdown(
            f"Read from `{results_dir}` and the shipped adapters in `{adapters_dir}` each time this tab opens or "
            "*Re-read* is pressed: a new training run or evaluation shows up without restarting the page.",
            elem_classes="lab-legend",
        )
        reread = gr.Button("Re-read the results", elem_id="experiments-button")
        status = gr.Markdown(elem_id="experiments-status")
        training = gr.Plot(label="training curves of the shipped adapters", elem_id="training-plot")
        with gr.Row(equal_height=False):
            sts_plot = gr.Plot(label="STS-B", elem_id="sts-plot")
            sts_table = gr.Dataframe(label="STS-B runs (results/sts)", interactive=False, wrap=True)
        probe_choice = gr.Dropdown(label="Word-probe run (results/probing)", choices=[], elem_id="probe-choice")
        probe_plot = gr.Plot(elem_id="probe-plot")
        with gr.Accordion("Benchmarks (results/bench)", open=False):
            bench = gr.Dataframe(interactive=False, wrap=True)
        with gr.Row(equal_height=False):
            run_box = gr.Textbox(
                label="A run folder to watch (a training output_dir; its metrics.jsonl is re-read every 5 s)",
                placeholder="e.g. runs/mntp",
                scale=4,
                interactive=allow_local,
                info=None if allow_local else "off on a shared page (start with --allow-local-models)",
            )
            watch = gr.Button("Watch", scale=1, interactive=allow_local)
        run_status = gr.Markdown()
        run_plot = gr.Plot(elem_id="run-plot")
        timer = gr.Timer(5.0, active=False)

    def read_experiments():
        runs = experiments.adapter_runs(root=adapters_dir)
        rows = experiments.sts_rows(results_dir)
        probes = experiments.probe_files(results_dir)
        choices = [str(p.parent.relative_to(results_dir)) for p in probes]
        found = (
            f"{len(runs)} adapter runs ({', '.join(runs) or 'none'}), {len(rows)} STS-B runs, "
            f"{len(probes)} word-probe runs, {len(experiments.bench_rows(results_dir))} benchmark numbers."
        )
        return (
            "Found " + found,
            experiments.curves_figure(runs, "Shipped adapters: training and evaluation") if runs else None,
            experiments.sts_figure(rows) if rows else None,
            pd.DataFrame(rows),
            gr.Dropdown(choices=choices, value=choices[0] if choices else None),
            pd.DataFrame(experiments.bench_rows(results_dir)),
        )

    def probe(choice: str | None):
        if not choice:
            return None
        return experiments.probe_figure(results_dir / choice / "probe_results.csv")

    def watch_run(folder: str):
        if not allow_local:
            return "⚠️ Reading local folders is off on a shared page.", None, gr.Timer(active=False)
        try:
            records, path = experiments.run_folder(folder)
        except Exception as error:
            return _problem(error), None, gr.Timer(active=False)
        last = records[-1]["step"] if records else "-"
        line = f"{len(records)} records in `{path}`, last step {last}; re-read every 5 s while it trains."
        return line, experiments.curves_figure({path.parent.name: records}, str(path.parent)), gr.Timer(active=True)

    outputs = [status, training, sts_plot, sts_table, probe_choice, bench]
    tab.select(read_experiments, None, outputs, api_visibility="private")
    reread.click(read_experiments, None, outputs, api_name="experiments")
    probe_choice.change(probe, [probe_choice], [probe_plot], api_name="probe_plot")
    watch.click(watch_run, [run_box], [run_status, run_plot, timer], api_name="watch_run")
    run_box.submit(watch_run, [run_box], [run_status, run_plot, timer], api_visibility="private")
    timer.tick(watch_run, [run_box], [run_status, run_plot, timer], api_visibility="private")
    return tab


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
        chosen, pooling, table, session = _variant_controls(engine, allow_local)
        page = Page(app, engine, chosen, pooling, _corpus_panel(), table, session)
        with gr.Tabs():
            with gr.Tab("Similarity search"):
                _search_tab(page, loader)
            with gr.Tab("Map (UMAP / PCA / t-SNE)", elem_id="map-tab"):
                map_status = _map_tab(page, warm)
            with gr.Tab("Pair", elem_id="pair-tab"):
                _pair_tab(page)
            with gr.Tab("Statistics", elem_id="stats-tab"):
                _statistics_tab(page)
            with gr.Tab("Attention", elem_id="attention-tab"):
                _attention_tab(page)
            _experiments_tab(Path(results_dir), Path(adapters_dir), allow_local)

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


def launch(
    app: gr.Blocks,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    block: bool = True,
    auth: tuple[str, str] | None = None,
) -> str:
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
        auth=auth,
        max_file_size=MAX_FILE_SIZE,
        head=MAP_CLICK_JS,
    )
    return app.local_url


def is_shared(host: str, share: bool) -> bool:
    """Whether other machines can reach the page: a public link, or any interface but loopback."""
    return share or host not in LOOPBACK


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``user:password`` -> (user, password); ``ValueError`` when either part is missing."""
    if value is None:
        return None
    user, _, password = value.partition(":")
    if not user or not password:
        raise ValueError(f"--auth takes user:password; got {value!r}.")
    return user, password


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve the page until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    parser.add_argument("--tiny", action="store_true", help="random tiny models instead of SmolLM2 (UI work)")
    parser.add_argument(
        "--allow-local-models",
        action="store_true",
        help="let visitors of a shared page load local model folders and watch run folders (always on for loopback)",
    )
    parser.add_argument("--auth", default=None, help="user:password, asked for by the page (Gradio's login)")
    args = parser.parse_args(argv)
    try:
        auth = parse_auth(args.auth)
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from lab.explore.variants import tiny_variants

    shared = is_shared(args.host, args.share)
    if shared and auth is None:
        logger.warning(
            "The page is reachable beyond this machine and has no --auth: anyone who can reach it can use it."
        )
    allow_local = args.allow_local_models or not shared
    blocks = build_app(tiny_variants() if args.tiny else None, allow_local=allow_local)
    launch(blocks, args.host, args.port, args.share, auth=auth)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
