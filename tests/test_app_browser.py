"""The page in a real headless Chromium (Debian's, driven by Playwright): search, results per variant, a UMAP map,
an error that keeps the typed corpus, and a screenshot saved as a test artifact (artifacts/app-browser.png)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.browser import CHROMIUM_ARGS as ARGS
from lab.browser import chromium_executable
from lab.explore.engine import Engine
from lab.explore.variants import tiny_variants
from tests.test_app import launch_tiny

CHROMIUM = chromium_executable()

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
TIMEOUT_MS = 180_000  # the first UMAP compiles numba kernels: up to a minute on a busy 2-core machine

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Chromium is missing: install it with `apt-get install -y chromium` "
        "(scripts/test.sh does this through scripts/setup.sh --browser)",
    ),
]


@pytest.fixture(scope="module")
def page_url():
    engine = Engine(tiny_variants(), device="cpu")
    blocks, url = launch_tiny(engine)
    yield url, engine
    blocks.close()


@pytest.fixture(scope="module")
def page(page_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(TIMEOUT_MS)
        tab.goto(page_url[0])
        tab.locator("#search-button").wait_for()
        yield tab
        browser.close()


def test_search_shows_every_chosen_variant(page, page_url):
    engine = page_url[1]
    page.locator("#query textarea").fill("Someone is playing a guitar.")
    page.locator("#search-button").click()
    cards = page.locator("#results .lab-card")
    available = engine.available_labels()
    cards.first.wait_for()
    page.wait_for_function(f"document.querySelectorAll('#results .lab-card').length >= {len(available)}")
    shown = [cards.nth(i).get_attribute("data-variant") for i in range(cards.count())]
    assert shown == available
    for i in range(len(available)):
        assert cards.nth(i).locator("tbody tr").count() == 5  # top 5 by default


def test_umap_map_renders_points_with_labels(page):
    page.get_by_role("tab", name="Map (UMAP / PCA / t-SNE)").click()
    page.locator("#map-button").click()
    page.locator("#map-plot .js-plotly-plot").wait_for()
    page.wait_for_function("document.querySelectorAll('#map-plot path.point').length > 0")
    points = page.locator("#map-plot path.point").count()
    corpus = page.locator("#corpus textarea").input_value().splitlines()
    available = 4  # Tiny Uni, Tiny Bi, Tiny Qwen2 Bi, MiniLM: one subplot each
    assert points == available * len(corpus)
    assert page.locator("#map-plot .legendtext").count() == 3  # STS-B genres
    assert "UMAP map of the corpus" in page.inner_text("body")
    ARTIFACTS.mkdir(exist_ok=True)
    page.get_by_role("tab", name="Similarity search").click()
    page.screenshot(path=str(ARTIFACTS / "app-browser.png"), full_page=True)
    assert (ARTIFACTS / "app-browser.png").stat().st_size > 50_000


def test_a_malformed_upload_warns_and_keeps_the_corpus(page, tmp_path):
    box = page.locator("#corpus textarea")
    box.fill("my own first text\nmy own second text")
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"text": "fine"}\n{oops\n')
    page.locator("input[type=file]").set_input_files(str(bad))
    page.get_by_text("line 2 is not valid JSON").first.wait_for()
    assert box.input_value() == "my own first text\nmy own second text"
    page.locator("#query textarea").fill("")
    page.locator("#search-button").click()
    page.get_by_text("The query is empty").first.wait_for()
    assert box.input_value() == "my own first text\nmy own second text"
