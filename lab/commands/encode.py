"""``python -m lab encode``: embed a text file (one text a line) into a .npy matrix.

The file is streamed in shards and a killed run resumes (``lab.corpus_encode``); ``torchrun --nproc_per_node N -m lab
encode ...`` spreads the shards over N processes.
"""

from __future__ import annotations

import argparse

from lab.corpus_encode import DEFAULT_SHARD_SIZE
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
    from pathlib import Path

    from lab.corpus_encode import check_output_path, encode_corpus
    from lab.distributed import init_distributed, rank_device

    check_output_path(args.output)  # before the model loads: a bad output path costs nothing
    if not Path(args.input).is_file():
        raise FileNotFoundError(f"Input {args.input!r} does not exist; expected a text or .jsonl file.")
    info, created = init_distributed()  # under torchrun / accelerate launch: one shard of the corpus per process
    if info.world_size > 1 and args.device in (None, "cuda"):
        args.device = rank_device(info)
    try:
        result = encode_corpus(
            args.input,
            args.output,
            load_model(args),
            batch_size=args.batch_size,
            shard_size=args.shard_size,
            normalize_embeddings=args.normalize,
            show_progress_bar=True,
        )
    finally:
        if created:
            import torch.distributed as dist

            dist.destroy_process_group()
    if info.is_main:
        print(f"wrote {result.rows} x {result.dim} embeddings to {result.embeddings} (manifest: {result.manifest})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("encode", help=__doc__.split(": ", 1)[1].split("\n")[0])
    add_model_arguments(parser)
    parser.add_argument(
        "--input",
        required=True,
        help="a UTF-8 text file, one text a line (split at \\n only; a blank line is a row: the empty text's vector), "
        "or .jsonl ('text' [, 'instruction']; blank lines skipped)",
    )
    parser.add_argument(
        "--output", required=True, help="the (n, d) float32 .npy to write (must end in .npy; row i = line i)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--normalize", action="store_true", help="unit-length embeddings")
    parser.add_argument(
        "--shard-size", type=int, default=DEFAULT_SHARD_SIZE, help="texts per shard (held in memory; lost to a kill)"
    )
    parser.set_defaults(func=run)
