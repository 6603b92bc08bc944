"""``python -m lab eval``: score an encoder on an evaluation task (``sts``: STS-B Spearman) and write JSON."""

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


# name -> (help, add its arguments, run it on a loaded model and return the JSON-able results)
EVALUATIONS: dict[str, tuple[str, Callable, Callable]] = {
    "sts": ("STS-B: Spearman of cosine similarity vs gold scores", add_sts_arguments, run_sts),
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
