"""Two sentences: their cosine per variant and the per-layer causal-vs-bidirectional curve."""

from __future__ import annotations

import gradio as gr

from lab.app.common import Bar, Page, problem
from lab.explore import actions


def pair_tab(page: Page) -> None:
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
            values, figure, notes = actions.run_pair(page.view(mine), first, second, labels, pooling, Bar(progress))
        except Exception as error:
            return problem(error), "", None
        return "Cosine of the two sentences per variant.", actions.cosines_html(values, notes), figure

    inputs = [first, second, page.chosen, page.pooling, page.session]
    compare.click(pair, inputs, [status, cosines, layers], api_name="pair")
