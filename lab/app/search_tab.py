"""Similarity search: the top k corpus texts per variant; with a preload, results on arrival."""

from __future__ import annotations

import gradio as gr

from lab.app.common import START_QUERY, Bar, Page, download_button, notes_line, problem, ready
from lab.explore import actions, downloads
from lab.explore.search import results_html
from lab.explore.startup import Preload


def search_tab(page: Page, preload: Preload | None) -> None:
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
    with gr.Row():
        export = download_button("Results (CSV)", "search-csv")
    with gr.Accordion("Raw results (JSON)", open=False):
        raw = gr.JSON()

    def search(corpus, query, instruction, labels, pooling, k, mine, progress: gr.Progress = gr.Progress()):
        try:
            view = page.view(mine)
            found, notes, size = actions.run_search(view, corpus, query, instruction, labels, pooling, k, Bar(progress))
        except Exception as error:
            return problem(error), "", {}
        poolings = actions.poolings_used(view, list(found), pooling)
        table = {label: [vars(hit) for hit in rows] for label, rows in found.items()}
        line = f"Top {min(int(k), size)} of {size} texts per variant, best first."
        return line + notes_line(notes), results_html(found, notes, poolings), table

    def first_results(corpus, query, instruction, labels, pooling, k, mine):
        """Wait for the preload (saying what is loading), then search: the first page shows results."""
        while preload is not None and not preload.done.wait(timeout=1.0):
            yield preload.describe(), gr.skip(), gr.skip(), gr.Button(preload.button_text())
        yield *search(corpus, query, instruction, labels, pooling, k, mine), gr.Button("Search")

    def results_csv(raw: dict | None):
        """The results on screen as a CSV: a row per (variant, hit), with raw cosine and rank in the corpus."""
        rows = downloads.hit_rows(raw or {})
        return ready(downloads.table_csv(rows, "search results") if rows else None)

    inputs = [page.corpus, query, instruction, page.chosen, page.pooling, k, page.session]
    events = [
        button.click(search, inputs, [status, results, raw], api_name="search"),
        query.submit(search, inputs, [status, results, raw], api_visibility="private"),
    ]
    query.input(lambda: "", None, status, api_visibility="private")
    if preload is not None:
        events.append(page.app.load(first_results, inputs, [status, results, raw, button], api_name="first_results"))
    for position, event in enumerate(events):  # one public name for the export: the others are the same function
        visibility = dict(api_name="results_csv") if position == 0 else dict(api_visibility="private")
        event.then(results_csv, [raw], [export], **visibility)
