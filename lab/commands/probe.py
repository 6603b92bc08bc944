"""``python -m lab probe``: linear probes (POS, chunk, NER on CoNLL-2003) on every layer of each LLM2Vec variant."""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

from lab.data.conll import SPLITS, TASKS
from lab.probing.features import WORD_POOLINGS, FeatureConfig
from lab.variants import VARIANTS, missing_adapters

logger = logging.getLogger(__name__)


def parse_layers(text: str) -> tuple[int, ...] | None:
    """``all`` -> None; ``0,5,10`` -> (0, 5, 10); ``0:31:3`` -> every 3rd from 0 to 30."""
    if text == "all":
        return None
    try:
        if ":" in text:
            return tuple(range(*(int(p) for p in text.split(":"))))
        return tuple(int(p) for p in text.split(","))
    except ValueError as error:
        raise ValueError(
            f"Bad --layers {text!r}; expected 'all', a list like 0,5,10 or a range like 0:31:3."
        ) from error


def parse_limits(text: str | None) -> dict[str, int | None]:
    """``2000`` (every split) or ``2000,500,1000`` (train, valid, test); ``all`` keeps a split whole."""
    if not text:
        return {}
    parts = text.split(",")
    if len(parts) == 1:
        parts = parts * 3
    if len(parts) != 3:
        raise ValueError(f"Bad --max-sentences {text!r}; expected N or TRAIN,VALID,TEST (numbers or 'all').")
    return {split: None if p == "all" else int(p) for split, p in zip(SPLITS, parts)}


def parse_list(text: str, choices: tuple[str, ...] | list[str], what: str) -> list[str]:
    """A comma list checked against ``choices`` (``all`` = every choice)."""
    items = list(choices) if text == "all" else text.split(",")
    bad = [i for i in items if i not in choices]
    if bad:
        raise ValueError(f"Unknown {what} {bad}; expected a comma list of {', '.join(choices)} or 'all'.")
    return items


def parse_adapter_paths(items: list[str] | None) -> dict[str, str]:
    """``["mntp=runs/mntp", ...]`` -> ``{"mntp": "runs/mntp"}``: adapter names mapped to trained folders."""
    paths = {}
    for item in items or []:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise ValueError(f"Bad --adapter {item!r}; expected NAME=FOLDER, e.g. mntp=runs/mntp.")
        paths[name] = folder
    return paths


def run(args: argparse.Namespace) -> int:
    from lab.probing.experiment import load_splits, run_experiment
    from lab.probing.probe import ProbeConfig
    from lab.probing.report import write_results

    tasks = parse_list(args.task, TASKS, "task")
    variants = parse_list(args.variants, list(VARIANTS), "variant")
    adapter_paths = parse_adapter_paths(args.adapter)
    needed = {v: [adapter_paths.get(a, a) for a in VARIANTS[v].adapters] for v in variants}
    runnable = [v for v in variants if not missing_adapters(v, args.model, needed[v])]
    for v in variants:
        if v not in runnable:
            print(
                f"skipping {v}: adapters {missing_adapters(v, args.model, needed[v])} are not shipped for "
                f"{args.model} (train them and pass --adapter NAME=FOLDER, or put them in lab/adapters/{args.model}/)"
            )
    if not runnable:
        print("no variant can run; nothing to do")
        return 1
    limits = parse_limits(args.max_sentences)
    splits = load_splits(limits, source=args.data)
    feature_config = FeatureConfig(
        model=args.model,
        layers=parse_layers(args.layers),
        word_pooling=args.word_pooling,
        shift=args.shift,
        max_length=args.max_length,
        batch_size=args.batch_size,
        dtype=args.dtype,
        sink_token=args.sink_token,
    )
    probe_config = ProbeConfig(steps=args.steps, seeds=tuple(int(s) for s in args.seeds.split(",")))
    start = time.perf_counter()
    rows, skipped = run_experiment(splits, tasks, runnable, feature_config, probe_config, adapter_paths=adapter_paths)
    settings = {
        "model": args.model,
        "tasks": tasks,
        "variants": runnable,
        "adapter_paths": adapter_paths,
        "data": args.data,
        "sentences": {s: len(splits[s]) for s in SPLITS},
        "words": {s: sum(len(x.words) for x in splits[s]) for s in SPLITS},
        "features": asdict(feature_config),
        "probe": asdict(probe_config),
        "seconds": round(time.perf_counter() - start, 1),
    }
    paths = write_results(
        rows, args.output_dir, settings, skipped + [f"{v}: adapters missing" for v in variants if v not in runnable]
    )
    print(json.dumps(json.loads(paths["json"].read_text())["summary"], indent=1))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    if args.analyses:
        run_section4(args, runnable, splits)
    return 0


def run_section4(args: argparse.Namespace, variants: list[str], splits: dict) -> None:
    """The future-token test per variant and causal-vs-bidirectional similarity on the first test sentences."""
    from lab.probing.analyses import run_analyses, write_analyses

    texts = [" ".join(s.words) for s in splits["test"][: args.analyses]]
    result = run_analyses(args.model, variants, texts)
    for variant, r in result["future_token"].items():
        print(
            f"future-token {variant}: separation {r['separation']:+.4f}, similar wins {r['win_rate']:.0%} "
            f"of {r['n_triples']} triples (layer {r['layer']})"
        )
    print("wrote " + ", ".join(str(p) for p in write_analyses(result, args.output_dir)))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("probe", help=__doc__.split(": ", 1)[1])
    parser.add_argument("--task", default="all", help="pos | chunk | ner | all, or a comma list")
    parser.add_argument("--model", default="smollm2-135m", help="short name, local folder or hub id")
    parser.add_argument(
        "--variants", default="uni,bi,bi-mntp,bi-mntp-simcse", help=f"comma list of {', '.join(VARIANTS)}"
    )
    parser.add_argument("--layers", default="all", help="all | 0,5,10 | 0:31:3 (hidden-state indices, 0 = embeddings)")
    parser.add_argument("--max-sentences", default=None, help="N, or TRAIN,VALID,TEST (first sentences of each split)")
    parser.add_argument("--data", default="auto", help="auto | package | hf | a folder with {train,valid,test}.txt")
    parser.add_argument("--word-pooling", choices=WORD_POOLINGS, default="mean")
    parser.add_argument(
        "--shift",
        type=int,
        choices=(0, -1),
        default=None,
        help="sub-token shift (default: -1 for MNTP-trained variants, 0 otherwise)",
    )
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16, help="sentences per forward pass")
    parser.add_argument(
        "--dtype", default="float32", help="forward-pass dtype; bfloat16 is 2x faster on a CPU but moves deep states"
    )
    parser.add_argument(
        "--sink-token",
        default=None,
        metavar="TOKEN",
        help="a special token put at position 0 of every sentence, e.g. '<|endoftext|>' (default: none)",
    )
    parser.add_argument(
        "--adapter",
        action="append",
        metavar="NAME=FOLDER",
        help="use a trained adapter folder for a variant's adapter name (repeatable), e.g. mntp=runs/mntp",
    )
    parser.add_argument("--steps", type=int, default=1500, help="probe training steps (paper: 1500)")
    parser.add_argument("--seeds", default="0,1,2", help="one probe per seed")
    parser.add_argument(
        "--analyses",
        type=int,
        default=0,
        metavar="N",
        help="also run the future-token test and causal-vs-bidirectional similarity on N test sentences",
    )
    parser.add_argument("--output-dir", type=Path, default=Path("results/probing"))
    parser.set_defaults(func=run)
