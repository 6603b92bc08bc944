"""``python -m lab encode``: embed a text file (one text a line) into a .npy matrix."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lab.pooling import POOLING_MODES


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Model options shared by every command that loads an ``LLM2Vec``."""
    parser.add_argument("--model", default="smollm2-135m", help="short name, local folder or hub id")
    parser.add_argument("--adapters", nargs="*", default=[], help="LoRA adapters to merge in order (names or folders)")
    parser.add_argument("--pooling", choices=POOLING_MODES, default=None, help="default: the model's saved or 'mean'")
    parser.add_argument("--causal", action="store_true", help="keep the causal mask (the paper's 'Uni')")
    parser.add_argument("--max-length", type=int, default=None, help="tokens per text; longer texts are cut")
    parser.add_argument("--dtype", default=None, help="float32 | bfloat16 (default: bf16 on GPU, fp32 on CPU)")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")


def load_model(args: argparse.Namespace):
    """An ``LLM2Vec`` from the options of ``add_model_arguments``."""
    from lab.encoder import LLM2Vec

    return LLM2Vec.from_pretrained(
        args.model,
        bidirectional=False if args.causal else None,
        pooling=args.pooling,
        max_length=args.max_length,
        dtype=args.dtype,
        device=args.device,
        adapters=args.adapters,
    )


def run(args: argparse.Namespace) -> int:
    texts = [line.rstrip("\n") for line in Path(args.input).read_text(encoding="utf-8").splitlines()]
    texts = [t for t in texts if t.strip()]
    model = load_model(args)
    embeddings = model.encode(
        texts, batch_size=args.batch_size, show_progress_bar=True, normalize_embeddings=args.normalize
    )
    np.save(args.output, embeddings)
    print(f"wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {args.output}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("encode", help=__doc__.split(": ", 1)[1])
    add_model_arguments(parser)
    parser.add_argument("--input", required=True, help="a UTF-8 text file, one text a line (blank lines skipped)")
    parser.add_argument("--output", required=True, help="where to write the (n, d) float32 .npy")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--normalize", action="store_true", help="unit-length embeddings")
    parser.set_defaults(func=run)
