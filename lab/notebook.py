"""Notebook helpers: quiet cells and figures that every viewer shows.

Plotly figures live in a JavaScript output that GitHub's notebook viewer and nbconvert's HTML drop, and kaleido (the
static exporter) is a heavy binary dependency. ``show`` therefore sends each figure twice in one output: the plotly
JSON for JupyterLab and a small hand-drawn SVG (heatmaps, lines, markers, text, bars, reference lines) for everything
else. ``quiet`` hides progress bars, warnings and the Trainer's printed log dicts inside a cell.

``run_mode`` reads ``LAB_QUICK``, the one switch every notebook obeys: ``1`` (the default) a CPU tour, ``0`` the GPU
recipe of ``configs/gpu/*.yaml``, ``tiny`` that recipe's code path with the few steps of ``configs/gpu/tiny.yaml``
(the settings ``scripts/gpu_recipe.sh`` uses with ``QUICK=1``), so the chain 02 -> 03 -> 04 is tested on a CPU.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import warnings
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_PALETTE = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880"]
_DASH = {"dash": "6,4", "dot": "2,3", "dashdot": "6,3,2,3", "longdash": "10,4"}
_MARGIN = {"l": 70, "r": 20, "t": 60, "b": 60}


MODES = {"1": "quick", "0": "full", "tiny": "tiny"}  # LAB_QUICK value -> mode
TINY_SETTINGS = Path("configs") / "gpu" / "tiny.yaml"  # under the repository root


def run_mode() -> str:
    """``quick``, ``full`` or ``tiny``, from ``LAB_QUICK`` (1, 0 or tiny; default 1)."""
    value = os.environ.get("LAB_QUICK", "1").strip().lower()
    if value not in MODES:
        raise ValueError(
            f"LAB_QUICK={value!r}; expected 1 (a CPU tour), 0 (the GPU recipe of configs/gpu) or tiny (the GPU "
            "recipe's code path with the few steps of configs/gpu/tiny.yaml)."
        )
    return MODES[value]


def recipe_overrides(stage: str, root: str | os.PathLike) -> dict[str, Any]:
    """In tiny mode, ``stage``'s section of ``root/configs/gpu/tiny.yaml`` (mntp, simcse, sts, probe); else {}.

    The same file gives ``scripts/gpu_recipe.sh`` its ``QUICK=1`` options, so the notebooks' tiny chain and the
    script's run one set of settings.
    """
    if run_mode() != "tiny":
        return {}
    import yaml

    path = Path(root) / TINY_SETTINGS
    sections = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if stage not in sections:
        raise ValueError(f"{path} has no section {stage!r}; it has {', '.join(sections) or 'none'}.")
    return dict(sections[stage])


def runs_folder(root: str | os.PathLike) -> Path:
    """Where the full and tiny paths write ``mntp``, ``simcse`` and ``probing``: ``$LAB_RUNS``, else ``root/runs``."""
    return Path(os.environ.get("LAB_RUNS") or Path(root) / "runs")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Hide stdout, stderr (progress bars), warnings and library info logs inside the block; re-show them on error."""
    import transformers

    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    captured = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            warnings.simplefilter("ignore")
            yield
    except BaseException:
        logger.error("output hidden by quiet():\n%s", captured.getvalue()[-4000:])
        raise
    finally:
        transformers.logging.set_verbosity(verbosity)
        transformers.logging.enable_progress_bar()


def show(fig: Any) -> None:
    """Display a plotly figure as interactive JSON and as a static SVG in the same output."""
    from IPython.display import display

    bundle = {"application/vnd.plotly.v1+json": fig.to_plotly_json(), "image/svg+xml": to_svg(fig)}
    bundle["text/plain"] = f"<figure: {fig.layout.title.text or 'untitled'}>"
    display(bundle, raw=True)


def _axis_key(ref: str, letter: str) -> str:
    """'x2' -> 'xaxis2', 'x' -> 'xaxis' (the layout key of a trace's axis)."""
    return f"{letter}axis{ref[1:]}"


def _as_list(values: Any) -> list:
    return [] if values is None else list(values.tolist() if hasattr(values, "tolist") else values)


class _Axis:
    """One axis: its pixel span, data range, categories and direction."""

    def __init__(self, layout: Any, key: str, span: tuple[float, float]) -> None:
        spec = layout[key] if key in layout else {}
        self.spec = spec
        domain = _as_list(spec.domain) if spec and spec.domain else [0.0, 1.0]
        self.lo = span[0] + domain[0] * (span[1] - span[0])
        self.hi = span[0] + domain[1] * (span[1] - span[0])
        self.log = bool(spec and spec.type == "log")
        self.reversed = bool(spec and spec.autorange == "reversed")
        self.categories: list[str] = []
        self.values: list[float] = []

    def number(self, value: Any) -> float:
        """A data value as a number: categories map to their index."""
        if isinstance(value, str):
            if value not in self.categories:
                self.categories.append(value)
            return float(self.categories.index(value))
        value = float(value)
        return math.log10(value) if self.log and value > 0 else value

    def add(self, values: list[float]) -> None:
        self.values += [v for v in values if math.isfinite(v)]

    def finish(self) -> None:
        low, high = (min(self.values), max(self.values)) if self.values else (0.0, 1.0)
        if self.spec and self.spec.range is not None:
            low, high = (self.number(v) for v in self.spec.range)
        pad = (high - low) * 0.04 or 0.5
        self.range = (low - pad, high + pad) if not self.categories or self.spec.range else (low - 0.5, high + 0.5)

    def pixel(self, value: float, vertical: bool) -> float:
        t = (value - self.range[0]) / (self.range[1] - self.range[0])
        if self.reversed:
            t = 1 - t
        return self.lo + t * (self.hi - self.lo)

    def ticks(self) -> list[tuple[float, str]]:
        if self.categories:
            step = max(1, math.ceil(len(self.categories) / 12))
            return [(float(i), c[:18]) for i, c in enumerate(self.categories)][::step]
        low, high = self.range
        raw = (high - low) / 5
        step = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
        step *= next(m for m in (1, 2, 5, 10) if raw <= m * step)
        first = math.ceil(low / step) * step
        values = [first + i * step for i in range(int((high - first) / step) + 1)]
        return [(v, f"{10**v:.3g}" if self.log else f"{v:.4g}") for v in values]


def _colorscale(trace: Any) -> list:
    import plotly.colors

    scale = trace.colorscale
    if scale is None or isinstance(scale, str):
        return plotly.colors.get_colorscale(scale or "Plasma")
    return [list(step) for step in scale]


def _heat_color(scale: list, t: float) -> str:
    import plotly.colors

    return plotly.colors.sample_colorscale(scale, [min(max(t, 0.0), 1.0)])[0]


def to_svg(fig: Any) -> str:
    """A static SVG of a plotly figure's heatmap, scatter and bar traces, horizontal/vertical lines and titles."""
    layout = fig.layout
    width, height = layout.width or 800, layout.height or 420
    span_x = (_MARGIN["l"], width - _MARGIN["r"] - 130)  # room for a legend on the right
    span_y = (_MARGIN["t"], height - _MARGIN["b"])
    axes: dict[str, _Axis] = {}

    def axis(key: str) -> _Axis:
        if key not in axes:  # y spans from the bottom pixel (domain 0) to the top one (domain 1)
            axes[key] = _Axis(layout, key, span_x if key.startswith("x") else (span_y[1], span_y[0]))
        return axes[key]

    prepared = []
    for trace in fig.data:
        ax, ay = axis(_axis_key(trace.xaxis or "x", "x")), axis(_axis_key(trace.yaxis or "y", "y"))
        if trace.type == "heatmap":
            z = [_as_list(row) for row in _as_list(trace.z)]
            xs = [ax.number(v) for v in (_as_list(trace.x) or range(len(z[0]) if z else 0))]
            ys = [ay.number(v) for v in (_as_list(trace.y) or range(len(z)))]
            ax.add([min(xs), max(xs)] if xs else [])
            ay.add([min(ys), max(ys)] if ys else [])
            if not ax.categories:
                ax.values += [min(xs) - 0.5, max(xs) + 0.5]
            if not ay.categories:
                ay.values += [min(ys) - 0.5, max(ys) + 0.5]
            prepared.append((trace, ax, ay, xs, ys, z))
        elif trace.type in ("scatter", "bar"):
            ys_raw = _as_list(trace.y)
            xs = [ax.number(v) for v in (_as_list(trace.x) or range(len(ys_raw)))]
            ys = [ay.number(v) if v is not None else math.nan for v in ys_raw]
            ax.add(xs)
            ay.add(ys + ([0.0] if trace.type == "bar" and not ay.log else []))
            prepared.append((trace, ax, ay, xs, ys, None))
        else:
            logger.info("to_svg skips a %s trace", trace.type)
    for shape in layout.shapes or ():
        for ref, key in ((shape.yref or "y", "y0"), (shape.xref or "x", "x0")):
            if ref[0] in "xy" and "domain" not in ref and ref != "paper":
                axis(_axis_key(ref.split()[0], ref[0])).add([float(shape[key]), float(shape[key.replace("0", "1")])])
    for item in axes.values():
        item.finish()

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">']
    out.append(f'<rect width="{width}" height="{height}" fill="white"/>')
    legend = []
    for index, (trace, ax, ay, xs, ys, z) in enumerate(prepared):
        color = _PALETTE[index % len(_PALETTE)]
        if z is not None:
            scale, flat = _colorscale(trace), [v for row in z for v in row if v is not None and math.isfinite(v)]
            zmin = trace.zmin if trace.zmin is not None else min(flat, default=0.0)
            zmax = trace.zmax if trace.zmax is not None else max(flat, default=1.0)
            for i, row in enumerate(z):
                for j, value in enumerate(row):
                    if value is None or not math.isfinite(value):
                        continue
                    x0, x1 = sorted((ax.pixel(xs[j] - 0.5, False), ax.pixel(xs[j] + 0.5, False)))
                    y0, y1 = sorted((ay.pixel(ys[i] - 0.5, True), ay.pixel(ys[i] + 0.5, True)))
                    fill = _heat_color(scale, (value - zmin) / ((zmax - zmin) or 1.0))
                    out.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0 + 0.3:.1f}" '
                               f'height="{y1 - y0 + 0.3:.1f}" fill="{fill}"/>')  # fmt: skip
            continue
        points = [(ax.pixel(x, False), ay.pixel(y, True)) for x, y in zip(xs, ys) if math.isfinite(y)]
        if trace.type == "bar":
            base = ay.pixel(max(0.0, ay.range[0]), True)
            bar_color = trace.marker.color if isinstance(trace.marker.color, str) else color
            step = abs(ax.pixel(1, False) - ax.pixel(0, False)) * 0.7
            for px_, py_ in points:
                top, bottom = sorted((py_, base))
                out.append(f'<rect x="{px_ - step / 2:.1f}" y="{top:.1f}" width="{step:.1f}" '
                           f'height="{bottom - top:.1f}" fill="{bar_color}"/>')  # fmt: skip
            continue
        mode = trace.mode or "lines+markers"
        line_color = trace.line.color or color
        if "lines" in mode and len(points) > 1:
            dash = _DASH.get(trace.line.dash or "", "")
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            out.append(f'<polyline points="{path}" fill="none" stroke="{line_color}" stroke-width="2"'
                       + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")  # fmt: skip
        if "markers" in mode:
            marker_color = trace.marker.color if isinstance(trace.marker.color, str) else line_color
            size = trace.marker.size if isinstance(trace.marker.size, (int, float)) else 6
            symbol = trace.marker.symbol or "circle"
            for x, y in points:
                if "x" in str(symbol):
                    r = size / 2
                    out.append(f'<path d="M{x - r:.1f},{y - r:.1f}L{x + r:.1f},{y + r:.1f}M{x - r:.1f},{y + r:.1f}'
                               f'L{x + r:.1f},{y - r:.1f}" stroke="{marker_color}" stroke-width="2.5"/>')  # fmt: skip
                else:
                    out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size / 2:.1f}" fill="{marker_color}"/>')
        if "text" in mode:
            texts = _as_list(trace.text)
            for (x, y), text in zip(points, texts):
                out.append(f'<text x="{x:.1f}" y="{y + 4:.1f}" font-size="11" text-anchor="middle">'
                           f"{escape(str(text))}</text>")  # fmt: skip
        if trace.name and trace.showlegend is not False:
            legend.append((trace.name, marker_color if "markers" in mode else line_color))
    for shape in layout.shapes or ():
        out.append(_shape_svg(shape, axes, span_x, span_y))
    for key, item in axes.items():
        out += _axis_svg(key, item, axes)
    if layout.title and layout.title.text:
        out.append(f'<text x="{width / 2:.0f}" y="24" font-size="15" text-anchor="middle">'
                   f"{escape(str(layout.title.text))}</text>")  # fmt: skip
    for note in layout.annotations or ():
        if note.xref == "paper" and note.yref == "paper" and note.text:
            x = span_x[0] + note.x * (span_x[1] - span_x[0])
            y = span_y[1] - note.y * (span_y[1] - span_y[0]) - 6
            out.append(f'<text x="{x:.0f}" y="{y:.0f}" font-size="13" text-anchor="middle">{escape(note.text)}</text>')
    for row, (name, swatch) in enumerate(legend):
        y = _MARGIN["t"] + 16 * row
        out.append(f'<rect x="{span_x[1] + 12}" y="{y - 8}" width="12" height="10" fill="{swatch}"/>')
        out.append(f'<text x="{span_x[1] + 28}" y="{y + 1}" font-size="11">{escape(str(name)[:22])}</text>')
    out.append("</svg>")
    return "\n".join(part for part in out if part)


def _shape_svg(shape: Any, axes: dict[str, _Axis], span_x: tuple, span_y: tuple) -> str:
    """A line shape (``add_hline`` / ``add_vline`` or an explicit one) in pixels."""
    if shape.type != "line":
        return ""

    def coordinate(ref: str, value: float, vertical: bool) -> float:
        letter = "y" if vertical else "x"
        key = _axis_key(ref.split()[0], letter) if ref[0] == letter else ""
        if ref == "paper" or "domain" in ref or key not in axes:
            lo, hi = (axes[key].lo, axes[key].hi) if key in axes else ((span_y[1], span_y[0]) if vertical else span_x)
            return lo + float(value) * (hi - lo)
        return axes[key].pixel(float(value), vertical)

    x0, x1 = (coordinate(shape.xref or "x", shape[k], False) for k in ("x0", "x1"))
    y0, y1 = (coordinate(shape.yref or "y", shape[k], True) for k in ("y0", "y1"))
    color = shape.line.color or "#444"
    dash = _DASH.get(shape.line.dash or "", "")
    return (f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="{color}" stroke-width="1.5"'
            + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")  # fmt: skip


def _axis_svg(key: str, item: _Axis, axes: dict[str, _Axis]) -> list[str]:
    """The axis line, its ticks and its title, at the edge of its subplot."""
    vertical = key.startswith("y")
    partner_key = ("x" if vertical else "y") + key[1:]
    partner = axes.get(partner_key) or next((a for k, a in axes.items() if k[0] != key[0]), None)
    edge = partner.lo if partner else item.lo  # the left edge for a y axis, the bottom for an x axis
    title = item.spec.title.text if item.spec and item.spec.title else None
    (x1, y1), (x2, y2) = ((edge, item.lo), (edge, item.hi)) if vertical else ((item.lo, edge), (item.hi, edge))
    out = [f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#444"/>']
    for value, label in item.ticks():
        at = item.pixel(value, vertical)
        x, y, anchor = (edge - 5, at + 4, "end") if vertical else (at, edge + 15, "middle")  # left of / below the axis
        out.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="10" text-anchor="{anchor}">{escape(label)}</text>')
    if title:
        middle = (item.lo + item.hi) / 2
        x, y = (edge - 52, middle) if vertical else (middle, edge + 36)
        turn = f' transform="rotate(-90 {x:.0f} {y:.0f})"' if vertical else ""  # a y title reads bottom to top
        out.append(f'<text x="{x:.0f}" y="{y:.0f}" font-size="12" text-anchor="middle"{turn}>{escape(title)}</text>')
    return out


CLAIMS_MIME = "application/vnd.llm2vec-lab.claims+json"


def record(**claims: float | int | bool) -> dict:
    """Show the numbers a notebook's prose relies on, in an output the notebook test reads and asserts on."""
    from IPython.display import display

    display({CLAIMS_MIME: claims, "text/plain": f"checked by tests/test_notebooks.py: {claims}"}, raw=True)
    return claims
