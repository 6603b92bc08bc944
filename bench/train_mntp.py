"""Benchmark MNTP LoRA training: tokens/s, MFU and peak memory for SmolLM2-135M and random-weight model shapes.

    python bench/train_mntp.py --shape smollm2 --batch 4 --seq 128 --steps 3           # CPU-sized
    python bench/train_mntp.py --shape s-llama-1.3b --batch 32 --micro-batch 8 --seq 512  # GPU (the issue's setting)
    python bench/train_mntp.py --shape mistral-7b --batch 32 --micro-batch 4 --seq 512 --gradient-checkpointing

Each step is what ``lab.training.mntp`` trains: a bidirectional decoder with LoRA (r=16 on q,k,v,o,gate,up,down), the
MNTP collator (BERT 80/10/10, p=0.2) and ``mntp_forward`` (LM head only on masked positions), AdamW on the LoRA
weights. bf16 autocast and SDPA on CUDA.

MFU counts useful FLOPs per token as 4 x non-embedding parameters (forward 2N + backward to the activations 2N; the
frozen weights get no gradient) plus attention, 12 x layers x seq x hidden (QK^T and AV, forward and backward),
against ``--peak-tflops`` (800 for an H100 by default). On a CPU only tokens/s and memory are reported.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import write_report  # noqa: E402
from bench.shapes import PAPER_SHAPES, SMALL_SHAPES, shape_config  # noqa: E402
from lab.bidirectional import make_bidirectional  # noqa: E402
from lab.training.config import MNTPConfig  # noqa: E402
from lab.training.lora import build_lora_model  # noqa: E402
from lab.training.mntp import MNTPCollator, mntp_forward  # noqa: E402

SHAPES = {**SMALL_SHAPES, **PAPER_SHAPES}  # random-weight shapes (bench.shapes)


def build_model(shape: str, real_smollm2: bool, device: torch.device) -> torch.nn.Module:
    """A causal LM of ``shape`` (random weights, or the real SmolLM2 weights), bidirectional, on ``device``."""
    from transformers import AutoModelForCausalLM

    if shape == "smollm2" and real_smollm2:
        from lab.models import resolve_model_path

        model = AutoModelForCausalLM.from_pretrained(
            resolve_model_path("smollm2-135m"), dtype=torch.float32, attn_implementation="sdpa"
        )
    else:
        config = shape_config(shape)
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa", dtype=torch.float32)
    return make_bidirectional(model.to(device), verify=False)


def useful_flops_per_token(model: torch.nn.Module, seq: int) -> float:
    """4 x non-embedding parameters + attention (12 x layers x seq x hidden)."""
    config = model.config
    embeddings = model.get_input_embeddings().weight.numel()
    head = model.get_output_embeddings().weight
    total = sum(p.numel() for p in model.parameters()) - embeddings  # before LoRA is added
    if head.data_ptr() != model.get_input_embeddings().weight.data_ptr():
        total -= head.numel()
    return 4.0 * total + 12.0 * config.num_hidden_layers * seq * config.hidden_size


def run(args: argparse.Namespace) -> dict:
    """Time ``args.steps`` optimizer steps after ``args.warmup`` and return the measurements."""
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    model = build_model(args.shape, not args.random_smollm2, device)
    flops_per_token = useful_flops_per_token(model, args.seq)
    decoder = build_lora_model(model, MNTPConfig(model=args.shape, lora_r=args.lora_r))
    if args.gradient_checkpointing:
        decoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    decoder.train()
    vocab = model.config.vocab_size
    collator = MNTPCollator(
        mask_token_id=4,
        pad_token_id=0,
        vocab_size=vocab,
        special_ids=[0, 1, 2],
        generator=torch.Generator().manual_seed(0),
    )
    optimizer = torch.optim.AdamW([p for p in decoder.parameters() if p.requires_grad], lr=1e-4, fused=cuda)
    accumulation = max(1, args.batch // args.micro_batch)

    def step() -> None:
        for _ in range(accumulation):
            ids = torch.randint(5, vocab, (args.micro_batch, args.seq))
            batch = collator([{"input_ids": r} for r in ids]).to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda and not args.fp32):
                loss = mntp_forward(decoder, model.lm_head, batch)[0] / accumulation
            loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    tokens = args.steps * accumulation * args.micro_batch * args.seq
    result = {
        "shape": args.shape,
        "weights": "real" if args.shape == "smollm2" and not args.random_smollm2 else "random",
        "device": torch.cuda.get_device_name() if cuda else f"cpu ({torch.get_num_threads()} threads)",
        "batch": args.batch,
        "micro_batch": args.micro_batch,
        "seq": args.seq,
        "steps": args.steps,
        "tokens_per_second": tokens / seconds,
        "seconds_per_step": seconds / args.steps,
        "trainable_parameters": sum(p.numel() for p in decoder.parameters() if p.requires_grad),
        "useful_gflops_per_token": flops_per_token / 1e9,
    }
    if cuda:
        result["mfu"] = tokens / seconds * flops_per_token / (args.peak_tflops * 1e12)
        result["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 1e9
    else:
        result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's options (``--micro-batch`` defaults to ``--batch`` and must divide it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="smollm2")
    parser.add_argument("--batch", type=int, default=4, help="sequences per optimizer step (issue: 32)")
    parser.add_argument("--micro-batch", type=int, default=None, help="sequences per forward (default: --batch)")
    parser.add_argument("--seq", type=int, default=128, help="tokens per sequence (issue: 512)")
    parser.add_argument("--steps", type=int, default=3, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast on CUDA")
    parser.add_argument("--random-smollm2", action="store_true", help="random weights for the smollm2 shape too")
    parser.add_argument("--peak-tflops", type=float, default=800.0, help="accelerator peak for MFU (H100: 800)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--output", default=None, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    args.micro_batch = args.micro_batch or args.batch
    if args.batch % args.micro_batch:
        parser.error(f"--batch {args.batch} must be a multiple of --micro-batch {args.micro_batch}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    write_report(result, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
