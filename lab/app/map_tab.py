"""Linked maps: the corpus projected per variant with one seed; find or click a text to follow it everywhere."""

from __future__ import annotations

import gradio as gr

from lab.app.common import Bar, Page, download_button, notes_line, problem, ready
from lab.explore import actions, downloads
from lab.explore.corpus import parse_corpus_text
from lab.explore.figures import PROJECTIONS, UmapWarmUp, scatter_figure
from lab.explore.search import results_html

DIMENSIONS = {"2-D": 2, "3-D": 3}


def map_tab(page: Page, warm: UmapWarmUp) -> gr.Markdown:
    """The corpus projected per variant (2-D or 3-D, same seed); find or click a text to see its neighbours."""
    with gr.Row():
        method = gr.Radio(list(PROJECTIONS), value="UMAP", label="Projection", scale=3)
        dims = gr.Radio(list(DIMENSIONS), value="2-D", label="Dimensions", scale=1, elem_id="map-dims")
        draw = gr.Button("Draw the map", variant="primary", scale=1, elem_id="map-button")
    status = gr.Markdown()
    figure = gr.Plot(elem_id="map-plot")
    with gr.Row():
        export = download_button("Map (HTML)", "map-html")
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

    def plot(corpus, labels, pooling, method: str, dims: str, mine, progress: gr.Progress = gr.Progress()):
        try:
            if dims not in DIMENSIONS:
                raise ValueError(f"Dimensions must be one of {', '.join(DIMENSIONS)}; got {dims!r}.")
            if method == "UMAP" and not warm.done.is_set():
                progress(0.0, desc="UMAP is compiling its kernels (first use only, up to a minute)...")
                warm.start().done.wait(timeout=300)
            view = page.view(mine)
            points, notes = actions.project_all(view, corpus, labels, pooling, method, Bar(progress), DIMENSIONS[dims])
        except Exception as error:
            return problem(error), None, None
        line = f"{method} map of the corpus: hover a point to read its text, click it to see its neighbours."
        return line + notes_line(notes), scatter_figure(points.points, points.texts, points.labels, method), points

    def neighbours_of(corpus: str, labels: list[str], pooling: str, wanted: str, points, mine):
        try:
            index, found, notes = actions.run_neighbours(page.view(mine), corpus, labels, pooling, wanted)
        except Exception as error:
            return problem(error), gr.skip(), ""
        redraw = gr.skip()
        if points is not None and points.corpus_box == corpus:
            redraw = scatter_figure(points.points, points.texts, points.labels, points.method, highlight=index)
        text = parse_corpus_text(corpus).texts[index]
        line = f"Nearest neighbours of text #{index} ({text[:80]!r}) in every variant." + notes_line(notes)
        return line, redraw, results_html(found, notes)

    def map_html(points):
        """The map as drawn (this session's points) as a standalone HTML file."""
        if points is None:
            return ready(None)
        drawn_figure = scatter_figure(points.points, points.texts, points.labels, points.method)
        return ready(downloads.figure_html(drawn_figure, f"{points.method} map"))

    inputs = [page.corpus, page.chosen, page.pooling, method, dims, page.session]
    draw.click(plot, inputs, [status, figure, drawn], api_name="plot").then(
        map_html, [drawn], [export], api_name="map_html"
    )
    find_inputs = [page.corpus, page.chosen, page.pooling, wanted, drawn, page.session]
    find.click(neighbours_of, find_inputs, [status, figure, neighbours], api_name="neighbours")
    wanted.submit(neighbours_of, find_inputs, [status, figure, neighbours], api_visibility="private")
    return status
