"""``python -m lab check-bidirectional``: the future-token test per layer, causal and bidirectional."""

from __future__ import annotations

import argparse

from lab.commands.encode import add_model_arguments


def run(args: argparse.Namespace) -> int:
    from lab.bidirectional import attention_mode, future_token_report
    from lab.encoder import LLM2Vec

    model = LLM2Vec.from_pretrained(args.model, adapters=args.adapters, dtype=args.dtype, device=args.device)
    for causal in (True, False):
        with attention_mode(model.model, causal=causal):
            report = future_token_report(model.model)
        mode = "causal" if causal else "bidirectional"
        print(f"\n{args.model} ({mode}): change the last token, watch position 0")
        print(report.format())
        print(f"=> {'sees the future' if report.sees_future else 'does not see the future'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("check-bidirectional", help=__doc__.split(": ", 1)[1])
    add_model_arguments(parser)
    parser.set_defaults(func=run)
