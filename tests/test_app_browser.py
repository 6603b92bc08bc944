"""The page in a real headless Chromium (Debian's, driven by Playwright): results on arrival (no click), a UMAP map
whose points open their neighbours when clicked, the attention tab, per-session models, an error that keeps the
typed corpus, downloads that parse, the layout at 800 and 1440 px, and a screenshot saved as a test artifact
(artifacts/app-browser.png)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from lab.browser import CHROMIUM_ARGS as ARGS
from lab.browser import chromium_executable
from lab.explore.corpus import parse_corpus_text
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


def test_export_downloads_embeddings_that_parse(page, page_url):
    engine = page_url[1]
    texts = parse_corpus_text(page.locator("#corpus textarea").input_value()).texts
    page.get_by_role("tab", name="Export").click()
    label = engine.available_labels()[0]  # the variant the tab offers first
    page.locator("#export-button").click()
    page.get_by_text(f"{label}: {len(texts)} texts x").first.wait_for()
    expected = engine.embed(engine.variant(label), texts)  # the page's own cache: the same vectors, bit for bit
    with page.expect_download() as download:
        page.locator("#export-csv").click()
    assert download.value.suggested_filename.endswith(".csv")
    with open(download.value.path(), encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert header[:3] == ["index", "label", "text"] and len(header) == 3 + expected.shape[1]
    assert [r[2] for r in rows] == texts
    assert np.array_equal(np.array([r[3:] for r in rows], dtype=np.float64).astype(np.float32), expected)
    with page.expect_download() as download:
        page.locator("#export-npy").click()
    assert np.array_equal(np.load(download.value.path()), expected)


def overlaps(boxes: list[dict]) -> list[tuple[int, int]]:
    """Pairs of bounding boxes (Playwright's x, y, width, height) that share any area."""
    return [
        (i, j)
        for i, a in enumerate(boxes)
        for j, b in enumerate(boxes[i + 1 :], start=i + 1)
        if a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    ]


def test_the_overlap_check_itself():
    side = {"x": 0, "y": 0, "width": 10, "height": 10}
    assert overlaps([side, {**side, "x": 10}, {**side, "x": 5, "y": 5}]) == [(0, 2), (1, 2)]


@pytest.mark.parametrize("width", [800, 1440])
def test_layout_fits_the_window_and_cards_do_not_overlap(browser, page_url, width):
    engine = page_url[1]
    tab = browser.new_page(viewport={"width": width, "height": 900})
    tab.set_default_timeout(TIMEOUT_MS)
    tab.goto(page_url[0])
    cards = len(engine.available_labels())
    tab.wait_for_function(f"document.querySelectorAll('#results .lab-card').length >= {cards}", timeout=START_BUDGET_MS)
    tab.get_by_text("Variants: what each one is").click()  # the widest table on the page, open
    tab.locator("#variants-table table").wait_for()
    overflow = tab.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow} px wider than a {width} px window"
    for selector in ("#results .lab-card", "#results .lab-card h4"):
        boxes = [box for box in (e.bounding_box() for e in tab.locator(selector).all()) if box]
        assert len(boxes) == cards and overlaps(boxes) == [], (selector, boxes)
    assert all(b["x"] + b["width"] <= width for b in boxes)  # every card label inside the window
    tab.close()
