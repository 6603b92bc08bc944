"""lab.notebook: the static SVG copy of a figure draws what the figure holds; quiet() hides and restores output; the
LAB_QUICK modes and the tiny settings that the notebooks and scripts/gpu_recipe.sh share."""

from __future__ import annotations

import contextlib
import io
import re
import xml.dom.minidom
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from lab.notebook import quiet, recipe_overrides, run_mode, runs_folder, to_svg

ROOT = Path(__file__).resolve().parents[1]


def _rects(svg: str) -> list[dict]:
    """Every heatmap cell (<rect> with a position) of an SVG as a dict of floats and its fill."""
    cells = re.findall(r'<rect x="([\d.-]+)" y="([\d.-]+)" width="([\d.]+)" height="([\d.]+)" fill="([^"]+)"', svg)
    return [dict(x=float(x), y=float(y), fill=f) for x, y, _, _, f in cells]


def test_heatmap_cells_and_reversed_rows():
    z = np.zeros((3, 3))
    z[0, 2] = 1.0  # one bright cell: row 0, column 2
    fig = go.Figure(go.Heatmap(z=z, colorscale=[[0, "rgb(0, 0, 0)"], [1, "rgb(255, 255, 255)"]]))
    fig.update_yaxes(autorange="reversed")
    svg = to_svg(fig)
    xml.dom.minidom.parseString(svg)  # well-formed
    cells = [c for c in _rects(svg) if c["x"] > 0]
    assert len(cells) == 9
    bright = [c for c in cells if c["fill"] != "rgb(0, 0, 0)"]
    assert len(bright) == 1
    assert bright[0]["x"] == max(c["x"] for c in cells)  # rightmost column
    assert bright[0]["y"] == min(c["y"] for c in cells)  # reversed axis: row 0 at the top
    fig.update_yaxes(autorange=True)
    bright = [c for c in _rects(to_svg(fig)) if c["x"] > 0 and c["fill"] != "rgb(0, 0, 0)"]
    assert bright[0]["y"] == max(c["y"] for c in cells)  # plain axis: row 0 at the bottom


def test_lines_subplots_and_reference_line():
    fig = make_subplots(rows=1, cols=2, subplot_titles=("left", "right"))
    fig.add_trace(go.Scatter(y=[3.0, 2.0, 1.0], mode="lines+markers", name="loss"), row=1, col=1)
    fig.add_trace(go.Scatter(y=[1.0, 2.0], mode="lines", name="other"), row=1, col=2)
    fig.add_hline(y=2.0, line_dash="dash", row=1, col=1)
    fig.update_layout(title="a title", width=700, height=300)
    svg = to_svg(fig)
    xml.dom.minidom.parseString(svg)
    lines = re.findall(r'<polyline points="([^"]+)"', svg)
    assert len(lines) == 2
    left = [tuple(map(float, p.split(","))) for p in lines[0].split()]
    right = [tuple(map(float, p.split(","))) for p in lines[1].split()]
    assert max(x for x, _ in left) < min(x for x, _ in right)  # each trace in its own subplot
    assert left[0][1] < left[-1][1]  # falling loss: the first point is higher on screen
    hline = re.search(r'<line x1="([\d.]+)" y1="([\d.]+)" x2="([\d.]+)" y2="([\d.]+)" stroke="#444" '
                      r'stroke-width="1.5" stroke-dasharray', svg)  # fmt: skip
    assert hline and hline.group(2) == hline.group(4) == f"{left[1][1]:.1f}"  # at y = 2, the middle point
    for text in ("a title", "left", "right", "loss"):
        assert f">{text}<" in svg


def test_quiet_hides_output_and_restores_it():
    import transformers

    before = transformers.logging.get_verbosity()
    outer = io.StringIO()
    with contextlib.redirect_stdout(outer):
        with quiet():
            print("hidden")
        print("shown")
    assert outer.getvalue() == "shown\n"
    assert transformers.logging.get_verbosity() == before
    with pytest.raises(ValueError), quiet():
        raise ValueError("errors still propagate")


def test_modes_and_tiny_settings(monkeypatch, tmp_path):
    monkeypatch.delenv("LAB_QUICK", raising=False)
    assert run_mode() == "quick" and recipe_overrides("mntp", ROOT) == {}  # the default: the CPU tour
    monkeypatch.setenv("LAB_QUICK", "0")
    assert run_mode() == "full" and recipe_overrides("mntp", ROOT) == {}  # the GPU recipe as its files say
    monkeypatch.setenv("LAB_QUICK", "tiny")
    assert recipe_overrides("mntp", ROOT)["max_steps"] == 2
    with pytest.raises(ValueError, match="no section 'nope'"):
        recipe_overrides("nope", ROOT)
    monkeypatch.setenv("LAB_QUICK", "yes")
    with pytest.raises(ValueError, match="LAB_QUICK='yes'; expected 1"):
        run_mode()
    monkeypatch.delenv("LAB_RUNS", raising=False)
    assert runs_folder(ROOT) == ROOT / "runs"
    monkeypatch.setenv("LAB_RUNS", str(tmp_path))
    assert runs_folder(ROOT) == tmp_path


def test_tiny_settings_are_valid_overrides_of_the_gpu_recipe(monkeypatch):
    """Every key of tiny.yaml's training sections is a field of its config, and the result validates."""
    from lab.training.config import MNTPConfig, SimCSEConfig, load_config

    monkeypatch.setenv("LAB_QUICK", "tiny")
    for cls, stage in ((MNTPConfig, "mntp"), (SimCSEConfig, "simcse")):
        overrides = recipe_overrides(stage, ROOT)
        config = load_config(cls, ROOT / "configs" / "gpu" / f"{stage}-smollm2.yaml", overrides)
        assert all(getattr(config, key) == value for key, value in overrides.items())
