"""scripts/publish_notebooks.py: a figure is published as its static SVG, and CoNLL-2003 text never (no kernel run)."""

from __future__ import annotations

import base64
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from scripts.publish_notebooks import NOT_PUBLISHED, PLOTLY, PRIVATE_TAG, for_publication

ROOT = Path(__file__).resolve().parents[1]


def test_html_shows_the_static_figure_and_blanks_tagged_cells():
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect id="drawn-cell"/></svg>'
    figure = nbformat.v4.new_output(
        "display_data", data={PLOTLY: {"data": [], "layout": {}}, "image/svg+xml": svg, "text/plain": "<figure: t>"}
    )
    private = nbformat.v4.new_output("stream", name="stdout", text="SOCCER - JAPAN GET LUCKY WIN")
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("show(fig)", outputs=[figure]),
            nbformat.v4.new_code_cell("table", outputs=[private], metadata={"tags": [PRIVATE_TAG]}),
        ]
    )
    html, _ = HTMLExporter().from_notebook_node(for_publication(notebook))
    assert "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode() in html  # the SVG, as an image
    assert PLOTLY not in notebook.cells[0].outputs[0]["data"]
    assert "JAPAN GET LUCKY" not in html and NOT_PUBLISHED.split(":")[0] in html


def test_every_cell_that_shows_a_conll_sentence_is_tagged():
    notebook = nbformat.read(ROOT / "notebooks" / "04_word_probes.ipynb", as_version=4)
    showing = [c for c in notebook.cells if c.cell_type == "code" and "example.words" in c.source]
    assert showing and all(PRIVATE_TAG in c.metadata.get("tags", []) for c in showing)
