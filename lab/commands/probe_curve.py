"""``python -m lab probe-curve``: word probes at one layer for each checkpoint of an MNTP run, against Uni and Bi."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lab.commands.probe import parse_limits, parse_list
from lab.data.conll import TASKS


def run(args: argparse.Namespace) -> int:
    from lab.probing.curve import curve_settings, pick, probe_curve, run_checkpoints, write_curve
    from lab.probing.experiment import load_splits
    from lab.probing.features import FeatureConfig
    from lab.probing.probe import ProbeConfig

    tasks = parse_list(args.task, TASKS, "task")
    steps = None if args.steps == "all" else [int(s) for s in args.steps.split(",")]
    checkpoints = pick(run_checkpoints(args.run_dir), steps)
    splits = load_splits(parse_limits(args.max_sentences), source=args.data)
    features = FeatureConfig(model=args.model, batch_size=args.batch_size, sink_token=args.sink_token)
    probe = ProbeConfig(steps=args.probe_steps, seeds=tuple(int(s) for s in args.seeds.split(",")))
    start = time.perf_counter()
    rows = probe_curve(splits, checkpoints, tasks, args.layer, (-1, 0), features, probe)
    settings = curve_settings(args.run_dir, checkpoints, splits, features, probe)
    settings["seconds"] = round(time.perf_counter() - start, 1)
    paths = write_curve(rows, args.output_dir, settings)
    for row in rows:
        print(
            f"{row['task']:5s} {row['variant']:8s} step {row['step']:4d} ({row['tokens_seen']:>9,} tokens) "
            f"shift {row['shift']:+d}: {100 * row['accuracy']:.1f} ({100 * row['delta_vs_uni']:+.1f} vs Uni)"
        )
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("probe-curve", help=__doc__.split(": ", 1)[1])
    parser.add_argument("--run-dir", type=Path, required=True, help="an MNTP run folder with checkpoint-N folders")
    parser.add_argument("--steps", default="all", help="comma list of checkpoint steps, or all")
    parser.add_argument("--task", default="all", help="pos | chunk | ner | all, or a comma list")
    parser.add_argument("--model", default="smollm2-135m", help="the base model the run trained")
    parser.add_argument("--layer", type=int, default=-1, help="hidden state probed (-1 = the last)")
    parser.add_argument("--max-sentences", default="500,200,300", help="N, or TRAIN,VALID,TEST (a fixed subset)")
    parser.add_argument("--data", default="auto", help="auto | package | hf | a folder with {train,valid,test}.txt")
    parser.add_argument("--batch-size", type=int, default=16, help="sentences per forward pass")
    parser.add_argument("--sink-token", default=None, metavar="TOKEN", help="a special token at position 0")
    parser.add_argument("--probe-steps", type=int, default=1500, help="probe training steps (paper: 1500)")
    parser.add_argument("--seeds", default="0,1,2", help="one probe per seed")
    parser.add_argument("--output-dir", type=Path, default=Path("results/probing/mntp-curve"))
    parser.set_defaults(func=run)
