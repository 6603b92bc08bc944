"""Results on arrival: embed the page's first corpus and query for every default variant in a background thread.

The page opens with a corpus and a query already typed; ``Preload`` embeds both for each variant at start (through
the engine, so the vectors land in its disk cache and a restart loads no model at all), and says what it is doing,
so the first page can show results without a click and, until then, say what is loading.
"""

from __future__ import annotations

import logging
from typing import Sequence

from lab.explore.background import BackgroundJob
from lab.explore.engine import Engine

logger = logging.getLogger(__name__)

# what a first start costs, measured (shared/NOTES.md): five variants load and embed 120 texts in about a minute on a
# quiet 2-core CPU, several minutes under load; a restart finds the embeddings on disk and loads nothing
USUAL = "about a minute on a quiet 2-core CPU the first time, seconds after a restart (the embeddings are on disk)"


class Preload(BackgroundJob):
    """Embeds ``texts`` and ``queries`` for the variants ``labels`` of ``engine``, one variant after another."""

    thread_name = "preload"

    def __init__(self, engine: Engine, labels: Sequence[str], texts: Sequence[str], queries: Sequence[str]) -> None:
        super().__init__()
        self.engine, self.labels = engine, list(labels)
        self.texts, self.queries = list(texts), list(queries)
        self.errors: dict[str, str] = {}  # label -> why it failed (the page's search then says it again)
        self.position = 0  # variants finished
        self.current = ""  # what is happening now

    def work(self) -> None:
        """Embed what the cache lacks, variant by variant; a failure is recorded and the next variant goes on."""
        for position, label in enumerate(self.labels):
            self.position = position
            variant = self.engine.variant(label)
            if self.engine.missing(variant, self.texts) or self.engine.missing(variant, self.queries):
                self.current = f"loading {label}" if not self.engine.is_loaded(variant) else f"embedding {label}"

                def report(done: int, total: int, label: str = label) -> None:
                    self.current = f"{label}: embedding {done}/{total} texts"

                try:
                    self.engine.embed(variant, self.texts, progress=report)
                    self.engine.embed(variant, self.queries)
                except Exception as error:  # one broken variant must not hold the others back
                    logger.exception("Preloading %s failed", label)
                    self.errors[label] = f"{type(error).__name__}: {error}"
        self.position = len(self.labels)

    def describe(self) -> str:
        """One line for the page: what is loading now, how far along, and how long it usually takes."""
        if self.done.is_set():
            failed = f" ({', '.join(self.errors)} failed; see the search's message)" if self.errors else ""
            return f"The first results are ready{failed}."
        step = f"variant {self.position + 1} of {len(self.labels)}"
        return f"Preparing the first results: {self.current or 'starting'} ({step}); this takes {USUAL}."

    def button_text(self) -> str:
        """The search button's label while preloading: short, with the progress."""
        if self.done.is_set():
            return "Search"
        return f"Loading the models ({self.position}/{len(self.labels)} ready)... Search"
