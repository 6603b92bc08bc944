"""Probe results as files: the summary table (best layer and last layer per task and variant), the per-layer figure
(HTML, and PNG through kaleido or a headless Chromium), and the JSON / CSV tables."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Sequence

from lab.variants import VARIANTS

logger = logging.getLogger(__name__)


def summary_table(rows: list[dict]) -> list[dict]:
    """Per task and variant: the best layer (by valid accuracy) and the last layer, with their test scores."""
    out = []
    probed = [r for r in rows if r["layer"] is not None]
    for task in dict.fromkeys(r["task"] for r in rows):
        for variant in dict.fromkeys(r["variant"] for r in probed):
            mine = [r for r in probed if r["task"] == task and r["variant"] == variant]
            if not mine:
                continue
            best = max(mine, key=lambda r: r["valid_accuracy"])
            last = max(mine, key=lambda r: r["layer"])
            out.append(
                {
                    "task": task,
                    "variant": variant,
                    "best_layer": best["layer"],
                    "best_accuracy": best["accuracy"],
                    "best_f1": best.get("f1"),
                    "last_layer": last["layer"],
                    "last_accuracy": last["accuracy"],
                    "last_f1": last.get("f1"),
                }
            )
        for r in rows:
            if r["task"] == task and r["layer"] is None:
                out.append(
                    {
                        "task": task,
                        "variant": r["variant"],
                        "best_layer": None,
                        "best_accuracy": r["accuracy"],
                        "best_f1": r.get("f1"),
                        "last_layer": None,
                        "last_accuracy": r["accuracy"],
                        "last_f1": r.get("f1"),
                    }
                )
    return out


def layer_figure(rows: list[dict]):
    """A plotly figure: test accuracy per layer, one line per variant, one panel per task, baselines dashed."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    figure = make_subplots(rows=1, cols=len(tasks), subplot_titles=[t.upper() for t in tasks], shared_yaxes=False)
    colours = {name: v.colour for name, v in VARIANTS.items()}
    for col, task in enumerate(tasks, start=1):
        mine = [r for r in rows if r["task"] == task]
        for variant in dict.fromkeys(r["variant"] for r in mine if r["layer"] is not None):
            points = sorted(
                (r for r in mine if r["variant"] == variant and r["layer"] is not None), key=lambda r: r["layer"]
            )
            figure.add_trace(
                go.Scatter(
                    x=[r["layer"] for r in points],
                    y=[r["accuracy"] for r in points],
                    mode="lines+markers",
                    name=variant,
                    legendgroup=variant,
                    showlegend=col == 1,
                    line={"color": colours.get(variant)},
                    error_y={"type": "data", "array": [r.get("accuracy_std", 0.0) for r in points], "visible": True},
                ),
                row=1,
                col=col,
            )
        for r in mine:
            if r["layer"] is None:
                figure.add_hline(
                    y=r["accuracy"],
                    line_dash="dash" if r["variant"] == "majority" else "dot",
                    line_color="grey",
                    annotation_text=r["variant"],
                    annotation_position="top left" if r["variant"] == "majority" else "bottom right",
                    row=1,
                    col=col,
                )
    figure.update_xaxes(title_text="layer (0 = embeddings)")
    figure.update_yaxes(title_text="test word accuracy", col=1)
    figure.update_layout(title="Linear probes per layer on CoNLL-2003", height=420, width=380 * len(tasks))
    return figure


def write_results(
    rows: list[dict], output_dir: str | os.PathLike, settings: dict, skipped: Sequence[str] = ()
) -> dict[str, Path]:
    """Write ``probe_results.json`` (rows, summary, settings), ``probe_results.csv``, ``probe_summary.csv`` and the
    figure (HTML; PNG when kaleido is installed). Returns the paths written."""
    import pandas as pd

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summary_table(rows)
    paths = {
        "json": out / "probe_results.json",
        "csv": out / "probe_results.csv",
        "summary": out / "probe_summary.csv",
    }
    paths["json"].write_text(
        json.dumps({"settings": settings, "skipped": list(skipped), "summary": summary, "rows": rows}, indent=1) + "\n"
    )
    pd.DataFrame(rows).to_csv(paths["csv"], index=False, float_format="%.4f")
    pd.DataFrame(summary).to_csv(paths["summary"], index=False, float_format="%.4f")
    return {**paths, **write_figure(layer_figure(rows), out, "probe_layers")}


def write_figure(figure, out: Path, stem: str) -> dict[str, Path]:
    """``{stem}.html`` and, when kaleido or a local Chromium can render it, ``{stem}.png``; returns the paths."""
    paths = {"html": out / f"{stem}.html"}
    figure.write_html(paths["html"], include_plotlyjs="cdn")  # small file; the viewer fetches plotly.js
    try:
        paths["png"] = save_png(figure, out / f"{stem}.png")
    except Exception as error:  # PNG needs kaleido or a local Chromium; the HTML is the figure of record
        logger.warning("PNG figure not written (%s).", error)
    return paths


def save_png(figure, path: Path) -> Path:
    """Render a plotly figure to PNG with kaleido when installed, else by screenshotting it in headless Chromium."""
    try:
        figure.write_image(path)
        return path
    except (ImportError, ValueError, RuntimeError):
        pass
    import tempfile

    from playwright.sync_api import sync_playwright

    from lab.browser import CHROMIUM_ARGS, chromium_executable

    chromium = chromium_executable()
    if chromium is None:
        raise RuntimeError("no kaleido and no Chromium (apt-get install -y chromium)")

    with tempfile.TemporaryDirectory() as tmp:
        page_path = Path(tmp) / "figure.html"
        figure.write_html(page_path, include_plotlyjs=True)  # inline plotly.js: no network needed
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": int(figure.layout.width), "height": int(figure.layout.height)})
            page.goto(page_path.as_uri())
            page.wait_for_selector(".main-svg")
            page.screenshot(path=str(path))
            browser.close()
    return path
