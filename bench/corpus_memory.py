"""Peak memory of the streaming corpus encode against corpus size: it should stay flat (one shard in memory).

    python -m bench.corpus_memory --sizes 10000 100000 --json results/bench/corpus-memory-cpu.json
    python -m bench.corpus_memory --sizes 10000 100000 --in-memory   # the contrast: LLM2Vec.encode on a list

Each size runs in a fresh process (max RSS only grows, so sizes must not share one): it loads the model, records its
peak RSS, encodes a generated corpus of word-salad lines (8-64 words, seeded) with ``lab.corpus_encode.encode_corpus``
(or, with ``--in-memory``, reads every line into a list and calls ``LLM2Vec.encode``), and records the peak again.
What the encode added is the difference. A tiny random model (``tiny-llama``) keeps this to minutes on a CPU.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import write_report

ROOT = Path(__file__).resolve().parents[1]
WORDS = (
    "the a model reads each token of every sentence and attention lets it see words before and after while "
    "markets fell sharply as the central bank raised rates and scientists found water ice near the pole"
).split()


def write_corpus(path: Path, n: int, seed: int = 0) -> int:
    """``n`` lines of 8-64 random words, written in blocks (the generator holds no corpus either) -> bytes."""
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as handle:
        for start in range(0, n, 10_000):
            lengths = rng.integers(8, 65, size=min(10_000, n - start))
            handle.write("".join(" ".join(rng.choice(WORDS, size=int(k))) + "\n" for k in lengths))
    return path.stat().st_size


def child(args: argparse.Namespace) -> dict:
    """In a fresh process: load, record the peak, encode, record the peak again."""
    import torch

    from lab import LLM2Vec
    from lab.corpus_encode import encode_corpus
    from lab.memory import peak_rss_mb

    torch.set_num_threads(args.threads)
    model = LLM2Vec.from_pretrained(args.model, device="cpu")
    after_load = peak_rss_mb()
    start = time.perf_counter()
    if args.in_memory:
        texts = [line.rstrip("\n") for line in open(args.input, encoding="utf-8") if line.strip()]
        np.save(args.output, model.encode(texts, batch_size=args.batch_size, show_progress_bar=False))
    else:
        encode_corpus(
            args.input, args.output, model, batch_size=args.batch_size, shard_size=args.shard_size,
            show_progress_bar=False,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    return {
        "peak_rss_after_load_mb": round(after_load, 1),
        "peak_rss_mb": round(peak, 1),
        "encode_added_mb": round(peak - after_load, 1),
        "seconds": round(seconds, 1),
        "rows": int(np.load(args.output, mmap_mode="r").shape[0]),
    }


def measure(size: int, args: argparse.Namespace, workdir: Path) -> dict:
    """Write a corpus of ``size`` lines and encode it in a child process; returns its measurements."""
    corpus = workdir / f"corpus-{size}.txt"
    corpus_bytes = write_corpus(corpus, size, args.seed)
    command = [sys.executable, "-m", "bench.corpus_memory", "--child", "--input", str(corpus)]
    command += ["--output", str(workdir / f"emb-{size}.npy"), "--model", args.model, "--threads", str(args.threads)]
    command += ["--batch-size", str(args.batch_size), "--shard-size", str(args.shard_size)]
    command += ["--in-memory"] if args.in_memory else []
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return {"texts": size, "corpus_mb": round(corpus_bytes / 2**20, 1), **report}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="corpus sizes (texts)")
    parser.add_argument("--model", default="tiny-llama")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--shard-size", type=int, default=10_000)
    parser.add_argument("--in-memory", action="store_true", help="LLM2Vec.encode on the whole list instead")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the report here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict | None:
    """Measure every size (or, with ``--child``, be one measurement) and print the JSON report."""
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return None
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as workdir:
        runs = [measure(size, args, Path(workdir)) for size in args.sizes]
    report = {
        "path": "LLM2Vec.encode on a list" if args.in_memory else "lab.corpus_encode.encode_corpus (streaming)",
        "model": args.model,
        "batch_size": args.batch_size,
        "shard_size": None if args.in_memory else args.shard_size,
        "threads": args.threads,
        "runs": runs,
    }
    write_report(report, args.json)
    return report


if __name__ == "__main__":
    main()
