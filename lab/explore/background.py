"""Work the page starts once and does not wait for (UMAP's compilation, the first results), in a daemon thread."""

from __future__ import annotations

import threading


class BackgroundJob:
    """Runs ``work`` once in a daemon thread on ``start``; ``done`` is set when it ends, however it ends."""

    thread_name = "background"

    def __init__(self) -> None:
        self.done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundJob:
        """Start the thread (once; a second call does nothing) and return ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.work()
        finally:
            self.done.set()

    def work(self) -> None:
        """What the thread does; subclasses say."""
        raise NotImplementedError
