"""Ship a trained run as a packaged adapter: copy its files into ``lab/adapters/<model>/<name>/``, record provenance
and evaluations in ``card.json``, and write the model card from them (``lab.training.card``).

    python scripts/ship_adapter.py RUN_DIR --name mntp --kind mntp \
        --command "python -m lab train mntp --config configs/mntp-smollm2.yaml" \
        --sts "Bi+MNTP (mean)=results/sts/smollm2-135m_bi_mntp_mean.json"

The STS-B JSONs are those written by ``python -m lab eval sts --output ...``; the card quotes them as they are.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from lab.atomic import atomic_folder
from lab.training.card import CARD_NAME, write_card

FILES = (
    "adapter_config.json",
    "adapter_model.safetensors",
    "llm2vec_adapter.json",
    "run_config.json",
    "metrics.json",
    "metrics.jsonl",
)
KINDS = {
    "mntp": (
        "SmolLM2-135M + MNTP (LLM2Vec step 2), LoRA adapter `{name}`",
        "A LoRA adapter for the bare decoder of SmolLM2-135M-Instruct, trained with masked next token prediction "
        "under bidirectional attention. It is the starting point of SimCSE (step 3); on its own it is not a tuned "
        "sentence encoder.",
        ["{name}"],
    ),
    "simcse": (
        "SmolLM2-135M Bi + MNTP + SimCSE (LLM2Vec), LoRA adapter `{name}`",
        "Unsupervised SimCSE (LLM2Vec step 3) for SmolLM2-135M-Instruct with bidirectional attention and mean "
        "pooling, trained on top of the merged `{base}` adapter: load both, in this order.",
        ["{base}", "{name}"],
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--name", required=True, help="the shipped short name (mntp, mntp-simcse)")
    parser.add_argument("--kind", choices=sorted(KINDS), required=True)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--command", required=True, help="the training command(s), as run")
    parser.add_argument("--hardware", default="a 2-core x86 CPU (AVX2), fp32, no GPU")
    parser.add_argument("--sts", action="append", default=[], help="LABEL=results JSON of `lab eval sts` (repeat)")
    parser.add_argument("--base", help="the shipped name of the adapter a SimCSE run merged first, if it ships renamed")
    parser.add_argument("--note", default="", help="sentences appended to the card's summary (size, provenance)")
    args = parser.parse_args()

    missing = [f for f in FILES if not (args.run_dir / f).is_file()]
    if missing:
        raise SystemExit(f"{args.run_dir} is not a finished run: missing {', '.join(missing)}")
    # the adapter a SimCSE run merged first, by its shipped name (run_config records a name or the folder's path)
    trained_on = json.loads((args.run_dir / "run_config.json").read_text()).get("adapters") or ["mntp"]
    names = {"name": args.name, "base": args.base or Path(trained_on[-1]).name}
    title, summary, stack = KINDS[args.kind]
    title, summary = title.format(**names), " ".join(filter(None, (summary.format(**names), args.note)))
    stack = [a.format(**names) for a in stack]
    sts = {}
    for item in args.sts:
        label, _, path = item.partition("=")
        sts[label] = json.loads(Path(path).read_text())["results"]
    card = {
        "kind": args.kind,
        "title": title,
        "summary": summary,
        "stack": stack,
        "command": args.command,
        "hardware": args.hardware,
        "sts": sts,
    }
    target = Path(__file__).resolve().parents[1] / "lab" / "adapters" / args.model / args.name
    with atomic_folder(target) as tmp:
        for name in FILES:
            shutil.copy2(args.run_dir / name, tmp / name)
        (tmp / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n")
        write_card(tmp)
    print(f"shipped {args.run_dir} as {target}")


if __name__ == "__main__":
    main()
