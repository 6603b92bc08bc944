"""``python -m lab train TASK --config FILE [--field value ...]``: train a LoRA adapter (mntp, simcse, supervised).

Every field of the task's config dataclass is a ``--field`` option; ``--config`` reads JSON or YAML first.
Adding a task is one row in ``TRAINERS``: its config class and the import path of its train function.
"""

from __future__ import annotations

import argparse
import importlib
import json
from dataclasses import dataclass

from lab.training.config import (
    MNTPConfig,
    SimCSEConfig,
    SupervisedConfig,
    TrainingConfig,
    add_config_arguments,
    config_from_args,
)


@dataclass(frozen=True)
class TrainerSpec:
    """A trainable task: its config dataclass and ``module:function`` taking that config, returning metrics."""

    config_class: type[TrainingConfig]
    entry_point: str
    help: str


TRAINERS: dict[str, TrainerSpec] = {
    "mntp": TrainerSpec(MNTPConfig, "lab.training.mntp:train_mntp", "masked next token prediction (LLM2Vec step 2)"),
    "simcse": TrainerSpec(SimCSEConfig, "lab.training.simcse:train_simcse", "unsupervised SimCSE (LLM2Vec step 3)"),
    "supervised": TrainerSpec(
        SupervisedConfig,
        "lab.training.supervised:train_supervised",
        "supervised contrastive learning with hard negatives",
    ),
}


def run(args: argparse.Namespace) -> int:
    spec = TRAINERS[args.task]
    config = config_from_args(spec.config_class, args)
    module, function = spec.entry_point.split(":")
    metrics = getattr(importlib.import_module(module), function)(config)
    print(json.dumps(metrics, indent=2, default=str))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help=__doc__.split(": ", 1)[1].split("\n")[0])
    tasks = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    for name, spec in TRAINERS.items():
        task_parser = tasks.add_parser(name, help=spec.help)
        add_config_arguments(task_parser, spec.config_class)
        task_parser.set_defaults(func=run)
