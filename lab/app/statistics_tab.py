"""Comparison statistics of the corpus, per variant and between variants."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from lab.app.common import Bar, Page, download_button, notes_line, problem, ready
from lab.explore import actions, downloads


def statistics_tab(page: Page) -> None:
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
    with gr.Row():
        export_variants = download_button("Per variant (CSV)", "stats-variants-csv")
        export_pairs = download_button("Between variants (CSV)", "stats-pairs-csv")

    tables = gr.State(None)  # this session's (rows, pairs): what the CSV buttons write

    def stats(corpus: str, labels: list[str], pooling: str, k: float, mine, progress: gr.Progress = gr.Progress()):
        try:
            rows, pairs, notes = actions.run_statistics(page.view(mine), corpus, labels, pooling, k, Bar(progress))
        except Exception as error:
            return problem(error), None, None, None
        line = f"Statistics of the corpus, k = {int(k)}." + notes_line(notes)
        return line, pd.DataFrame(rows), pd.DataFrame(pairs), (rows, pairs)

    def tables_csv(computed: tuple[list[dict], list[dict]] | None):
        """Both tables as CSV files (a button stays grey for a table that is empty)."""
        rows, pairs = computed or ([], [])
        names = ("statistics per variant", "statistics between variants")
        return tuple(ready(downloads.table_csv(t, name) if t else None) for t, name in zip((rows, pairs), names))

    inputs = [page.corpus, page.chosen, page.pooling, k, page.session]
    event = compute.click(stats, inputs, [status, per_variant, between, tables], api_name="statistics")
    event.then(tables_csv, [tables], [export_variants, export_pairs], api_name="statistics_csv")
