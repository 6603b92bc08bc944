"""The lab's core idea made visible: the two masks, each variant's attention weights, the tokens that move."""

from __future__ import annotations

import gradio as gr

from lab.app.common import START_QUERY, Page, download_button, notes_line, problem, ready
from lab.explore import actions, downloads

MAX_LAYER, MAX_HEAD = 31, 15  # slider ends: SmolLM2-135M has 30 layers and 9 heads; bigger models clamp


def attention_tab(page: Page) -> None:
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
    with gr.Row():
        export = download_button("Attention weights (HTML)", "attention-html")
    shown = gr.State(None)  # this session's attention figure, for the download

    def attention(text: str, labels: list[str], layer: float, head: float, mine):
        try:
            drawn = actions.run_attention(page.view(mine), text, labels, int(layer), int(head))
        except Exception as error:
            return problem(error), None, None, "", None, None
        mask_plot, weight_plot, change_plot, lines, notes = drawn
        line = "Attention of the chosen decoder variants." + notes_line(notes)
        return line, mask_plot, weight_plot, lines, change_plot, weight_plot

    def attention_html(figure):
        return ready(downloads.figure_html(figure, "attention weights") if figure is not None else None)

    inputs = [sentence, page.chosen, layer, head, page.session]
    outputs = [status, masks, weights, summary, changes, shown]
    show.click(attention, inputs, outputs, api_name="attention").then(
        attention_html, [shown], [export], api_name="attention_html"
    )
