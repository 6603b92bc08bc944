"""The page (Gradio): one small builder per tab over the pure helpers of ``lab.explore``; ``app.py`` serves it.

This package is the only place in ``lab`` that imports Gradio (tests/test_layers.py checks), so the library below it
works without the app's extra dependencies.
"""

from lab.app.page import CSS, HEAD, build_app

__all__ = ["CSS", "HEAD", "build_app"]
