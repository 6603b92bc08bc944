"""Warm load time of a model (the converted cache already exists): bidirectional with its verifier, and causal.

python -m bench.load --threads 1 --repeats 3 --json results/bench/load-cpu.json
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.common import write_report
from lab import LLM2Vec
from lab.bidirectional import verify_bidirectional


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    """Seconds one call of ``fn`` takes, and its result."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return round(time.perf_counter() - start, 3), result


def main(argv: list[str] | None = None) -> None:
    """Time ``repeats`` loads of each kind and print (and optionally save) them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for _ in range(args.repeats):
        bidirectional, model = timed(LLM2Vec.from_pretrained, args.model, device="cpu")
        verifier, _ = timed(verify_bidirectional, model.model)  # the future-token test alone
        causal, _ = timed(LLM2Vec.from_pretrained, args.model, bidirectional=False, device="cpu")
        rows.append({"bidirectional_load_s": bidirectional, "verifier_s": verifier, "causal_load_s": causal})
    report = {"model": args.model, "torch_threads": torch.get_num_threads(), "runs": rows}
    write_report(report, args.json)


if __name__ == "__main__":
    main()
