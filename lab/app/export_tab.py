"""Export: the corpus's embeddings by one variant, as .npy and .csv (the tables and the map have their own buttons)."""

from __future__ import annotations

import gradio as gr

from lab.app.common import Page, download_button, problem, ready
from lab.explore import downloads


def export_tab(page: Page) -> None:
    """Pick a variant, prepare the files (from the embedding cache when the corpus was embedded), download them."""
    gr.Markdown(
        "The corpus above, embedded by one variant with the page's pooling: an `.npy` matrix (one unit-length row per "
        "text, in corpus order) and a `.csv` with `index, label, text, e0 ... e{d-1}` whose numbers read back exactly. "
        "Search results, statistics and the map have download buttons in their own tabs; a downloaded map is a "
        "standalone HTML file whose toolbar (camera icon) also saves a PNG.",
        elem_classes="lab-legend",
    )
    with gr.Row(equal_height=False):
        variant = gr.Dropdown(
            page.engine.available_labels(),
            value=next(iter(page.engine.available_labels()), None),
            label="Variant",
            scale=3,
            elem_id="export-variant",
        )
        prepare = gr.Button("Prepare the files", variant="primary", scale=1, elem_id="export-button")
    status = gr.Markdown(elem_id="export-status")
    with gr.Row():
        npy = download_button("Embeddings (.npy)", "export-npy")
        csv = download_button("Embeddings (.csv)", "export-csv")

    def embeddings(corpus: str, label: str, pooling: str, mine):
        try:
            npy_path, csv_path, line = downloads.export_embeddings(page.view(mine), corpus, label, pooling)
        except Exception as error:
            return problem(error), ready(None), ready(None)
        return line + " Download below.", ready(npy_path), ready(csv_path)

    def choices(mine, current: str | None):
        """The visitor's own models join the choices when the tab opens."""
        labels = page.view(mine).available_labels()
        return gr.Dropdown(choices=labels, value=current if current in labels else next(iter(labels), None))

    inputs = [page.corpus, variant, page.pooling, page.session]
    prepare.click(embeddings, inputs, [status, npy, csv], api_name="export_embeddings")
    page.corpus.change(lambda: ("", ready(None), ready(None)), None, [status, npy, csv], api_visibility="private")
    page.session.change(choices, [page.session, variant], [variant], api_visibility="private")
