"""The controls above the tabs: which variants to compare (and loading a visitor's own model), and the corpus."""

from __future__ import annotations

import os

import gradio as gr

from lab.app.common import START_SIZE, problem
from lab.explore import actions
from lab.explore.corpus import MAX_CHARS, MAX_TEXTS, read_upload
from lab.explore.engine import Engine
from lab.explore.examples import EXAMPLE_SETS, load_example
from lab.explore.variants import DEFAULT_POOLING
from lab.pooling import POOLING_MODES
from lab.variants import Variant


def variant_controls(engine: Engine, allow_local: bool) -> tuple[gr.CheckboxGroup, gr.Dropdown, gr.Markdown, gr.State]:
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
        table = gr.Markdown(elem_id="variants-table")
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
            return problem(error), gr.skip(), gr.skip(), gr.skip(), gr.skip()
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


def corpus_panel() -> gr.Textbox:
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
            return gr.skip(), problem(error), gr.skip(), gr.skip()
        return replaced(loaded.to_text(), f"Loaded {len(loaded)} texts of {name}.", current)

    def upload(path: str | None, current: str):
        if not path:
            return gr.skip(), "", gr.skip(), gr.skip()
        try:
            loaded = read_upload(path)
        except Exception as error:
            return gr.skip(), problem(error), gr.skip(), gr.skip()
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
