"""Run the lab's offline suite: every variant on every task, embeddings cached, one table and one figure.

Each (variant, task) row holds the task's main score and all its metrics. Embeddings go through ``EmbeddingCache``,
so a variant's model is loaded only when some text is missing: a second run reads the cache and costs seconds.
"""

from __future__ import annotations

import csv
import json
import logging
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from lab.evaluation.cache import EmbeddingCache, file_digest
from lab.evaluation.lab_tasks import build_tasks
from lab.evaluation.tasks import Task
from lab.evaluation.variants import DEFAULT_VARIANTS, get_variants, load_variant
from lab.variants import Variant

logger = logging.getLogger(__name__)


@dataclass
class SuiteConfig:
    """What to run and where to keep the embeddings."""

    variants: list[str] = field(default_factory=lambda: list(DEFAULT_VARIANTS))
    tasks: list[str] | None = None  # None: every task of lab.evaluation.lab_tasks
    quick: bool = False  # a small subset of every task (tests, notebooks)
    batch_size: int = 32
    cache_dir: str | None = None  # default: <lab cache>/embeddings
    use_cache: bool = True
    dtype: str | None = None  # None: bf16 on a GPU, fp32 on a CPU
    device: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {self.batch_size!r}.")


RECIPE_FIELDS = ("model", "bidirectional", "pooling", "template", "max_length")  # with adapters and dtype: the key


def variant_key(variant: Variant, dtype: str | None, device: str | None) -> dict:
    """Everything besides text and instruction that decides the variant's embeddings (the cache key)."""
    from lab.adapters import resolve_adapter
    from lab.models import default_device, parse_dtype

    torch_device = default_device() if device is None else device
    adapters = [
        [name, file_digest(resolve_adapter(name, variant.model) / "adapter_model.safetensors")]
        for name in variant.adapters
    ]  # a missing adapter raises a ValueError that says where it was looked for
    recipe = {name: getattr(variant, name) for name in RECIPE_FIELDS}
    return {**recipe, "adapters": adapters, "dtype": str(parse_dtype(dtype, torch_device))}


class VariantEncoder:
    """The ``embed(texts, instruction)`` a task calls, for one variant: cache first, the model only on a miss."""

    def __init__(self, variant: Variant, config: SuiteConfig) -> None:
        from lab.models import cache_dir

        self.variant, self.config, self.model = variant, config, None
        root = config.cache_dir or cache_dir() / "embeddings"
        self.cache = EmbeddingCache(root, variant_key(variant, config.dtype, config.device))
        self.encoded = 0  # texts actually run through the model

    def compute(self, texts: list[str], instruction: str) -> np.ndarray:
        if self.model is None:
            self.model = load_variant(self.variant, self.config.dtype, self.config.device)
        inputs = [(instruction, t) for t in texts] if instruction else texts
        self.encoded += len(texts)
        return self.model.encode(inputs, batch_size=self.config.batch_size, show_progress_bar=True)

    def __call__(self, texts: Sequence[str], instruction: str) -> np.ndarray:
        instruction = instruction if self.variant.instructions else ""
        if self.config.use_cache:
            return self.cache.embed(texts, instruction, self.compute)
        return self.compute(list(texts), instruction)


def distinct_inputs(tasks: Sequence[Task], instructions: bool = True) -> int:
    """How many distinct (instruction, text) inputs a variant embeds for ``tasks`` (the cost of an uncached run)."""
    return len({(i if instructions else "", t) for task in tasks for i, texts in task.texts() for t in texts})


def run_suite(config: SuiteConfig, tasks: Sequence[Task] | None = None) -> tuple[list[dict], list[dict]]:
    """Score every variant on every task. Returns (rows, skipped variants with the reason)."""
    tasks = list(tasks) if tasks is not None else build_tasks(config.tasks, config.quick)
    rows, skipped = [], []
    for variant in get_variants(config.variants):
        try:
            encoder = VariantEncoder(variant, config)
        except ValueError as error:  # an adapter that is not trained or shipped
            logger.warning("Skipping %s: %s", variant.name, error)
            skipped.append({"variant": variant.name, "reason": str(error)})
            continue
        for task in tqdm(tasks, desc=variant.name, unit="task"):
            start = time.perf_counter()
            metrics = task.evaluate(encoder)
            rows.append(
                {
                    "variant": variant.name,
                    "label": variant.label,
                    "task": task.name,
                    "kind": task.kind,
                    "main_metric": task.main_metric,
                    "score": metrics[task.main_metric],
                    "metrics": metrics,
                    "size": task.size(),
                    "seconds": round(time.perf_counter() - start, 2),
                }
            )
            logger.info("%s %s: %s %.4f", variant.name, task.name, task.main_metric, rows[-1]["score"])
        rows_of_variant = [r for r in rows if r["variant"] == variant.name]
        for row in rows_of_variant:
            row["encoded_texts"] = encoder.encoded  # per variant: 0 when everything came from the cache
        encoder.model = None  # free the weights before the next variant loads
    return rows, skipped


# ---------------------------------------------------------------------------------------------- tables and figure


def wide_table(rows: Sequence[dict]) -> tuple[list[str], list[list]]:
    """(header, one row per variant): the main score x 100 of each task and their mean."""
    task_names = list(dict.fromkeys(r["task"] for r in rows))
    kinds = {r["task"]: r["kind"] for r in rows}
    header = ["variant"] + [f"{t} ({kinds[t]})" for t in task_names] + ["mean"]
    table = []
    for label in dict.fromkeys(r["label"] for r in rows):
        scores = {r["task"]: 100 * r["score"] for r in rows if r["label"] == label}
        values = [scores.get(t) for t in task_names]
        known = [v for v in values if v is not None]
        mean = sum(known) / len(known) if len(known) == len(task_names) else None
        table.append([label, *values, mean])
    return header, table


def markdown_table(rows: Sequence[dict]) -> str:
    """The wide table as markdown, two decimals."""
    header, table = wide_table(rows)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for row in table:
        cells = [row[0]] + ["" if v is None else f"{v:.2f}" for v in row[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def suite_figure(rows: Sequence[dict]):
    """A plotly bar chart: main score x 100 per task, one bar per variant."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for label in dict.fromkeys(r["label"] for r in rows):
        mine = [r for r in rows if r["label"] == label]
        figure.add_bar(
            name=label,
            x=[f"{r['task']}<br>{r['kind']}: {r['main_metric']}" for r in mine],
            y=[100 * r["score"] for r in mine],
        )
    figure.update_layout(
        barmode="group",
        title="Lab tasks built from STS-B and the Wikipedia sample (not MTEB scores)",
        yaxis_title="main score x 100",
        legend_title="variant",
        height=520,
    )
    return figure


def write_results(rows: Sequence[dict], skipped: Sequence[dict], config: SuiteConfig, folder: str | Path) -> Path:
    """suite.json (everything), suite.csv (one metric a line), suite.md (the table), suite.html (the figure)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = {"config": asdict(config), "host": platform.node(), "skipped": list(skipped), "rows": list(rows)}
    (folder / "suite.json").write_text(json.dumps(record, indent=2) + "\n")
    with open(folder / "suite.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["variant", "task", "kind", "metric", "value", "main"])
        for r in rows:
            for metric, value in r["metrics"].items():
                writer.writerow([r["variant"], r["task"], r["kind"], metric, value, metric == r["main_metric"]])
    (folder / "suite.md").write_text(markdown_table(rows))
    if rows:
        suite_figure(rows).write_html(folder / "suite.html", include_plotlyjs="cdn")
    return folder
