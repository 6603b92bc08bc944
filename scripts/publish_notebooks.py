"""Execute every notebook in quick mode and publish an executed HTML copy of each under docs/notebooks/.

GitHub's viewer and nbconvert's HTML drop plotly's JavaScript output, so every figure is published as the static SVG
that ``lab.notebook.show`` sends beside it (an image embedded in the page, no JavaScript). The outputs of cells tagged
``conll-text`` are replaced by a note: they show CoNLL-2003 text, which must not be redistributed. Each run also
writes ``docs/notebooks/timings.json``: the wall time of every notebook on this machine, a measurement to quote.

    .venv/bin/python scripts/publish_notebooks.py            # every notebooks/*.ipynb
    .venv/bin/python scripts/publish_notebooks.py 05 06      # only the notebooks whose names start so
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
PLOTLY = "application/vnd.plotly.v1+json"
PRIVATE_TAG = "conll-text"  # a cell whose outputs show CoNLL-2003 text (not ours to publish)
NOT_PUBLISHED = "[output not published: it shows CoNLL-2003 text, which may not be redistributed; run the notebook]\n"


def execute(path: Path, timeout: int) -> tuple[nbformat.NotebookNode, float]:
    """Run a notebook top to bottom from its own folder in quick mode; returns it executed and the seconds it took."""
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return notebook, time.perf_counter() - start


def for_publication(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Keep each figure's static SVG only (the plotly JSON no HTML viewer draws), and blank the CoNLL-text cells."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if PRIVATE_TAG in cell.metadata.get("tags", []):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=NOT_PUBLISHED)]
            continue
        for output in cell.outputs:
            data = output.get("data", {})
            if PLOTLY in data and "image/svg+xml" in data:
                del data[PLOTLY]
    return notebook


def publish(names: list[str], out: Path, timeout: int) -> int:
    """Execute, clean and export the chosen notebooks; returns the number that failed."""
    os.environ.update(LAB_QUICK="1", HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")  # the kernels inherit it
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    chosen = [p for p in paths if not names or any(p.stem.startswith(n) for n in names)]
    if not chosen:
        print(f"no notebook matches {names}; expected a prefix of {', '.join(p.stem for p in paths)}")
        return 1
    out.mkdir(parents=True, exist_ok=True)
    timings_path = out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    failed = 0
    for path in chosen:
        print(f"{path.stem}: executing ...", flush=True)
        try:
            notebook, seconds = execute(path, timeout)
        except Exception as error:  # a failing notebook is reported; the others are still published
            print(f"{path.stem}: FAILED ({type(error).__name__}: {str(error)[-2000:]})")
            failed += 1
            continue
        html, _ = HTMLExporter().from_notebook_node(for_publication(notebook))
        (out / f"{path.stem}.html").write_text(html, encoding="utf-8")
        timings[path.stem] = {
            "seconds": round(seconds, 1),
            "mode": "LAB_QUICK=1",
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        }
        print(f"{path.stem}: {seconds:.0f} s -> {out / f'{path.stem}.html'}", flush=True)
    timings_path.write_text(json.dumps(dict(sorted(timings.items())), indent=1) + "\n")
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebook name prefixes (default: every notebook)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "notebooks", help="where the HTML copies go")
    parser.add_argument("--timeout", type=int, default=900, help="seconds a cell may run")
    args = parser.parse_args(argv)
    return 1 if publish(args.names, args.out, args.timeout) else 0


if __name__ == "__main__":
    sys.exit(main())
