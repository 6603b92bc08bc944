"""What every tab builder shares: the page's shared controls, the progress adapter, and how an error is shown."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from lab.explore.engine import Engine
from lab.variants import Variant

logger = logging.getLogger(__name__)

START_SIZE = 120  # texts in the corpus the page opens with: four SmolLM2 variants embed them in ~30 s on 2 cores
START_QUERY = "A man is playing a musical instrument."


class Bar:
    """Adapts ``gr.Progress`` to the ``(fraction, desc)`` callback of ``lab.explore.actions``."""

    def __init__(self, progress: gr.Progress) -> None:
        self.progress = progress

    def __call__(self, fraction: float, desc: str) -> None:
        self.progress(fraction, desc=desc)


def problem(error: Exception) -> str:
    """A readable status line for an error (and a toast); unexpected errors are logged with their traceback."""
    if isinstance(error, (ValueError, TypeError)):
        message = str(error)
    else:
        logger.exception("Unexpected error")
        message = f"Something went wrong ({type(error).__name__}: {error}). The details are in the server log."
    gr.Warning(message)
    return f"⚠️ {message}"


def notes_line(notes: dict[str, str]) -> str:
    """The notes of unavailable or skipped variants, one italic line each, to append to a status line."""
    return "".join(f"\n\n*{label}: {note}*" for label, note in notes.items())


def download_button(label: str, elem_id: str) -> gr.DownloadButton:
    """A download button that stays greyed out until its event has written a file."""
    return gr.DownloadButton(label, value=None, interactive=False, size="sm", elem_id=elem_id, scale=0, min_width=160)


def ready(path: Path | None) -> gr.DownloadButton:
    """The update that points a download button at a freshly written file (or greys it out again)."""
    return gr.DownloadButton(value=str(path) if path else None, interactive=path is not None)


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
