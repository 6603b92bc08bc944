"""Batch invariance: the same texts give the same embeddings whatever the batch size, padding side or order.

    python -m bench.invariance --n-texts 64 --json results/bench/invariance-cpu.json

Encodes the first ``--n-texts`` STS-B test sentences with SmolLM2 (fp32, bidirectional, mean pooling) at batch size
32 with right padding, then compares batch size 1, left padding, a shuffled order and batches by a token budget
(``max_tokens_per_batch``) against it. The issue's bar:
cosine >= 0.99999 and max |difference| <= 1e-4 x the vector's norm.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch

from bench.common import write_report
from lab import LLM2Vec
from lab.data.stsb import load_stsb

logger = logging.getLogger(__name__)

MIN_COSINE = 0.99999
MAX_REL_DIFF = 1e-4
TOKEN_BUDGET = 256  # rows x longest <= 256 tokens: batches grouped unlike 32 texts a batch, some bigger, some smaller


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    """Row-wise agreement of two (n, d) arrays: min cosine, max abs diff, max abs diff / norm, and the verdict."""
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))  # (n,)
    rel = np.abs(a - b).max(1) / np.linalg.norm(a, axis=1)  # (n,)
    return {
        "min_cosine": float(cos.min()),
        "max_abs_diff": float(np.abs(a - b).max()),
        "max_abs_diff_over_norm": float(rel.max()),
        "passes_issue_bar": bool(cos.min() >= MIN_COSINE and rel.max() <= MAX_REL_DIFF),
    }


def main(argv: list[str] | None = None) -> None:
    """Measure and print (and optionally save) the invariance report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--pooling", default="mean")
    parser.add_argument("--n-texts", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = LLM2Vec.from_pretrained(args.model, pooling=args.pooling, dtype="float32", device="cpu")
    load_seconds = time.perf_counter() - start
    texts = [s for pair in load_stsb("test") for s in (pair.sentence1, pair.sentence2)][: args.n_texts]
    base = model.encode(texts, batch_size=32, show_progress_bar=False)  # (n, d): the baseline
    order = np.random.default_rng(0).permutation(len(texts))
    shuffled = np.empty_like(base)
    shuffled[order] = model.encode(
        [texts[i] for i in order], batch_size=32, show_progress_bar=False
    )  # back to input order
    report = {
        "model": args.model,
        "pooling": args.pooling,
        "dtype": "float32",
        "n_texts": len(texts),
        "texts": f"the first {len(texts)} STS-B test sentences (pair k: sentence1, sentence2)",
        "warm_load_seconds": round(load_seconds, 2),
        "batch_size_1_vs_32": compare(base, model.encode(texts, batch_size=1, show_progress_bar=False)),
        "left_vs_right_padding": compare(
            base, model.encode(texts, batch_size=32, padding_side="left", show_progress_bar=False)
        ),
        "shuffled_vs_input_order": compare(base, shuffled),
        "token_budget_vs_32": compare(
            base, model.encode(texts, max_tokens_per_batch=TOKEN_BUDGET, show_progress_bar=False)
        ),
    }
    write_report(report, args.json)


if __name__ == "__main__":
    main()
