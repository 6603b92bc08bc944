"""The page in a real headless Chromium (Debian's, driven by Playwright): results on arrival (no click), a UMAP map
whose points open their neighbours when clicked, the attention tab, per-session models, an error that keeps the
typed corpus, and a screenshot saved as a test artifact (artifacts/app-browser.png)."""

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
START_BUDGET_MS = 120_000  # tiny models: the first results are on the page well within this, with no click

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
def browser():
    """One Playwright driver and Chromium for the module (the sync API cannot run two drivers at once)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser, page_url):
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    tab.set_default_timeout(TIMEOUT_MS)
    tab.goto(page_url[0])
    tab.locator("#search-button").wait_for()
    return tab


def test_results_arrive_without_a_click(page, page_url):
    engine = page_url[1]
    available = engine.available_labels()
    page.wait_for_function(
        f"document.querySelectorAll('#results .lab-card').length >= {len(available)}", timeout=START_BUDGET_MS
    )
    cards = page.locator("#results .lab-card")
    shown = [cards.nth(i).get_attribute("data-variant") for i in range(cards.count())]
    assert shown == available
    for i in range(len(available)):
        assert cards.nth(i).locator("tbody tr").count() == 5  # top 5 by default
    assert page.locator("#search-button").inner_text() == "Search"


def test_search_after_typing(page):
    page.locator("#query textarea").fill("Someone is playing a guitar.")
    page.locator("#search-button").click()
    page.get_by_text("Top 5 of 120 texts").first.wait_for()


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
    page.locator("#map-plot path.point").nth(3).click(force=True)  # a click lists that text's neighbours
    page.wait_for_function(f"document.querySelectorAll('#map-neighbours .lab-card').length >= {available}")
    assert "Nearest neighbours of text #" in page.inner_text("body")
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


def test_attention_tab_renders_for_a_real_sentence(page):
    page.get_by_role("tab", name="Attention").click()
    page.locator("#attention-text textarea").fill("The cat sat on the mat.")
    page.locator("#attention-button").click()
    page.wait_for_function("document.querySelectorAll('#attention-plot .js-plotly-plot').length > 0")
    page.wait_for_function("document.querySelectorAll('#mask-plot .js-plotly-plot').length > 0")
    assert "Tiny Uni (layer 0)" in page.inner_text("#attention-plot")


def test_two_sessions_do_not_see_each_others_models(browser, page_url):
    contexts = [browser.new_context(), browser.new_context()]  # two visitors: separate cookies and sessions
    first, second = (context.new_page() for context in contexts)
    for tab in (first, second):
        tab.set_default_timeout(TIMEOUT_MS)
        tab.goto(page_url[0])
        tab.locator("#search-button").wait_for()
    first.get_by_text("Variants: what each one is").click()
    first.get_by_label("Model name or local folder").fill("tiny-qwen3")
    first.get_by_role("button", name="Load model").click()
    first.get_by_text("tiny-qwen3 (bi, mean)").first.wait_for()
    second.reload()
    second.locator("#search-button").wait_for()
    assert "tiny-qwen3" not in second.inner_text("body")
    for context in contexts:
        context.close()
