"""``python -m lab eval``: score encoders (``sts``: STS-B Spearman; ``suite``: all variants on the lab's tasks)."""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Callable

from lab.commands.encode import add_model_arguments, load_model
from lab.data.stsb import SPLITS


def _split_list(value: str) -> list[str]:
    splits = [s.strip() for s in value.split(",") if s.strip()]
    bad = [s for s in splits if s not in SPLITS]
    if bad or not splits:
        raise argparse.ArgumentTypeError(
            f"Unknown split(s) {bad or value!r}; expected a comma list of {', '.join(SPLITS)}."
        )
    return splits


def add_sts_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", type=_split_list, default=["dev", "test"], help="comma list: train,dev,test")
    parser.add_argument("--limit", type=int, default=None, help="first N pairs of each split (quick checks only)")


def run_sts(args: argparse.Namespace, model) -> dict:
    from lab.evaluation.sts import evaluate_stsb

    results = evaluate_stsb(model, args.split, limit=args.limit, batch_size=args.batch_size, show_progress_bar=True)
    return {split: r.to_dict() for split, r in results.items()}


def add_mteb_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mteb-tasks", type=_names, required=True, help="comma list of MTEB task names")
    parser.add_argument("--no-instructions", action="store_true", help="give every text bare (e.g. for MiniLM)")
    parser.add_argument("--mteb-output", default=None, help="mteb's result folder (default: mteb's own cache)")


def run_mteb(args: argparse.Namespace, model) -> dict:
    """The real MTEB through ``MTEBEncoder``: task data comes from the Hugging Face hub (needs a network)."""
    import mteb
    from mteb.cache import ResultCache

    from lab.evaluation.mteb_adapter import MTEBEncoder

    encoder = MTEBEncoder(model, instructions=not args.no_instructions, batch_size=args.batch_size)
    cache = ResultCache(args.mteb_output) if args.mteb_output else ResultCache()
    result = mteb.evaluate(encoder, tasks=mteb.get_tasks(tasks=args.mteb_tasks), cache=cache)
    return {r.task_name: r.get_score() for r in result.task_results}


# name -> (help, add its arguments, run it on a loaded model and return the JSON-able results)
EVALUATIONS: dict[str, tuple[str, Callable, Callable]] = {
    "sts": ("STS-B: Spearman of cosine similarity vs gold scores", add_sts_arguments, run_sts),
    "mteb": ("the real MTEB (needs the hub): main score per task", add_mteb_arguments, run_mteb),
}


def run(args: argparse.Namespace) -> int:
    _, _, evaluate = EVALUATIONS[args.task]
    start = time.perf_counter()
    model = load_model(args)
    results = evaluate(args, model)
    record = {
        "task": args.task,
        "model": args.model,
        "adapters": list(args.adapters),
        "bidirectional": model.config.bidirectional,
        "pooling": model.config.pooling,
        "max_length": model.config.max_length,
        "dtype": str(next(model.model.parameters()).dtype),
        "device": str(model.device),
        "host": platform.node(),
        "limit": getattr(args, "limit", None),
        "seconds": round(time.perf_counter() - start, 1),
        "results": results,
    }
    text = json.dumps(record, indent=2) + "\n"
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
    print(text, end="")
    return 0


def _names(value: str) -> list[str]:
    return [n.strip() for n in value.split(",") if n.strip()]


def run_suite_command(args: argparse.Namespace) -> int:
    """Size the tasks (``--sizes``) or run every variant on them and write the table, CSV, JSON and figure."""
    from lab.evaluation.lab_tasks import build_tasks
    from lab.evaluation.suite import SuiteConfig, distinct_inputs, markdown_table, run_suite, write_results
    from lab.evaluation.variants import get_variants

    config = SuiteConfig(
        variants=args.variants,
        tasks=args.tasks,
        quick=args.quick,
        batch_size=args.batch_size,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        dtype=args.dtype,
        device=args.device,
    )
    tasks = build_tasks(config.tasks, config.quick)
    if args.sizes:
        for task in tasks:
            print(f"{task.name:<26} {task.kind:<19} {task.size()}  {task.description}")
        for variant in get_variants(config.variants):
            print(f"{variant.name}: {distinct_inputs(tasks, variant.instructions)} distinct inputs to embed")
        return 0
    rows, skipped = run_suite(config, tasks)
    folder = write_results(rows, skipped, config, args.output_dir)
    print(markdown_table(rows), end="")
    for skip in skipped:
        print(f"skipped {skip['variant']}: {skip['reason']}")
    print(f"wrote {folder}/suite.{{json,csv,md,html}}")
    return 0


def add_suite_arguments(parser: argparse.ArgumentParser) -> None:
    from lab.evaluation.lab_tasks import TASKS
    from lab.evaluation.variants import DEFAULT_VARIANTS, SUITE_VARIANTS

    parser.add_argument(
        "--variants", type=_names, default=list(DEFAULT_VARIANTS), help=f"comma list of {', '.join(SUITE_VARIANTS)}"
    )
    parser.add_argument("--tasks", type=_names, default=None, help=f"comma list (default all): {', '.join(TASKS)}")
    parser.add_argument("--quick", action="store_true", help="a small subset of every task (tests, notebooks)")
    parser.add_argument("--sizes", action="store_true", help="print each task's size and the texts to embed; run none")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--cache-dir", default=None, help="embedding cache (default: <lab cache>/embeddings)")
    parser.add_argument("--no-cache", action="store_true", help="embed everything again, write no cache")
    parser.add_argument("--output-dir", default="results/suite", help="where suite.{json,csv,md,html} go")
    parser.add_argument("--dtype", default=None, help="float32 | bfloat16 (default: bf16 on GPU, fp32 on CPU)")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help=__doc__.split(": ", 1)[1])
    tasks = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    for name, (help_text, add_arguments, _) in EVALUATIONS.items():
        sub = tasks.add_parser(name, help=help_text)
        add_model_arguments(sub)
        sub.add_argument("--batch-size", type=int, default=32)
        sub.add_argument("--output", default=None, help="write the results JSON here (also printed)")
        add_arguments(sub)
        sub.set_defaults(func=run)
    suite = tasks.add_parser("suite", help="every variant on the lab's offline task suite: table, CSV, JSON, figure")
    add_suite_arguments(suite)
    suite.set_defaults(func=run_suite_command)
