"""``python scripts/screenshots.py docs``: real screenshots of the page for the README, taken in headless Chromium.

Serves the page on the real variants (SmolLM2 ladder + MiniLM) on a free loopback port, runs a search on the default
STS-B corpus, draws the UMAP map, compares a pair, and saves ``app.png`` (search), ``app-map.png`` (map) and
``app-pair.png`` (pair) into the folder given. ``--tiny`` uses the random tiny models (to check the layout quickly).
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: app.py and lab

from lab.browser import CHROMIUM_ARGS, chromium_executable  # noqa: E402

logger = logging.getLogger(__name__)

QUERY = "A man is playing a musical instrument."
TIMEOUT_MS = 600_000  # four SmolLM2 variants embed the corpus on a CPU the first time


def free_port() -> int:
    """A free loopback port chosen by the OS."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screenshot_page(url: str, out_dir: Path, query: str = QUERY, width: int = 1400) -> list[Path]:
    """Search, draw the UMAP map and compare a pair on the page at ``url``; save the three views; return the paths."""
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "app.png", out_dir / "app-map.png", out_dir / "app-pair.png"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.locator("#query textarea").fill(query)
        page.locator("#search-button").click()
        page.locator("#results .lab-card").first.wait_for()
        page.screenshot(path=str(paths[0]), full_page=True)
        page.get_by_role("tab", name="Map (UMAP / PCA / t-SNE)").click()
        page.locator("#map-button").click()
        page.wait_for_function("document.querySelectorAll('#map-plot path.point').length > 0")
        page.wait_for_timeout(1000)  # let plotly finish its layout
        page.screenshot(path=str(paths[1]), full_page=True)
        page.get_by_role("tab", name="Pair").click()
        page.locator("#pair-button").click()
        page.wait_for_function("document.querySelectorAll('#pair-plot path.point').length > 0")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(paths[2]), full_page=True)
        browser.close()
    return paths


def main(argv: list[str] | None = None) -> int:
    """Serve the real page, screenshot it, stop."""
    import app  # the page lives at the top of the repository, above the library

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--query", default=QUERY)
    parser.add_argument("--tiny", action="store_true", help="random tiny models (layout checks only)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from lab.explore.variants import tiny_variants

    blocks = app.build_app(tiny_variants() if args.tiny else None)
    url = app.launch(blocks, port=free_port(), block=False)
    try:
        for path in screenshot_page(url, args.out_dir, args.query):
            logger.info("wrote %s", path)
    finally:
        blocks.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
