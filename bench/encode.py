"""Encode benchmark: real (non-padding) tokens/s, sentences/s, MFU, peak memory and load time of ``LLM2Vec.encode``.

    python -m bench.encode --model smollm2-135m --workload mixed --n-texts 256 --compare-plain --json out.json
    python -m bench.encode --model s-llama-1.3b --workload mixed --n-texts 20000 --device cuda --compare-plain

Models: any name ``lab`` loads (``smollm2-135m``, a folder, a hub id), or a random-weight shape built from its config
on the meta device and materialised in place (no download): ``s-llama-1.3b`` (Sheared-LLaMA-1.3B) and ``mistral-7b``.
Workloads: ``mixed`` (8-256 tokens, uniform), ``docs`` (512-token documents), ``stsb`` (the STS-B test sentences).
``--compare-plain`` also times the issue's anchor: a plain batched transformers loop (input order, no sorting, pad to
the longest text of each batch, mean pooling) on the same model and texts; ``--compare-plain-sorted`` the same loop
over texts sorted by token count (the issue's CPU anchor); ``--compare-reference`` llm2vec 0.2.3 in its own venv
(``bench/reference.py``); ``--max-tokens-per-batch N ...`` ours batched by token budgets besides ``--batch-size``.
With ``--rounds R`` every runner is warmed up, then timed R times in interleaved rounds; each reports its median.
``--profile`` adds where our time goes, per batching (``bench/encode_profile.py``). The one STS-B command:

    python -m bench.encode --workload stsb --n-texts 0 --threads 2 --rounds 3 --max-tokens-per-batch 2048 8192 \
        --compare-plain-sorted --compare-reference --profile --json results/bench/encode-stsb-compare-cpu.json

Useful FLOPs, per text of T real tokens: 2 * N * T + 4 * L * d * T^2, with N the non-embedding parameters (the matmuls
of every layer; the bare decoder has no LM head) and 4 * L * d * T^2 the attention scores and weighted values (QK^T
and AV, 2 * T * d each per token and layer). Padding is never counted as useful. MFU = useful FLOP/s / peak, with the
issue's peak of 800 TFLOP/s dense bf16 for an H100; on a CPU MFU is n/a.
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from bench.common import write_report
from bench.encode_profile import processed_tokens, profile_encode
from bench.shapes import PAPER_SHAPES, shape_config
from lab import LLM2Vec
from lab.encoder import EncoderConfig
from lab.memory import peak_memory_mb
from lab.models import parse_dtype

logger = logging.getLogger(__name__)

H100_PEAK_FLOPS = 800e12  # the H100 bf16 dense peak (its 18.5% MFU at 59.9k tokens/s implies this)
TOKENIZER_MODEL = "smollm2-135m"  # random-weight shapes borrow SmolLM2's tokenizer (no Llama tokenizer offline)
SHAPES = PAPER_SHAPES  # vocab is set to the borrowed tokenizer's, see shape_config
WORKLOADS = ("mixed", "docs", "stsb")


@dataclass
class Result:
    """One timed run; every rate counts real (non-padding) tokens only."""

    runner: str  # "lab" (LLM2Vec.encode) or "plain" (the unsorted transformers loop)
    n_texts: int
    real_tokens: int
    processed_tokens: int  # real + padding, as the model saw them
    seconds: float
    tokens_per_s: float
    sentences_per_s: float
    useful_tflops: float  # useful TFLOP/s achieved
    mfu: float | None  # None on a CPU
    peak_memory_mb: float  # torch.cuda.max_memory_allocated on a GPU; process max RSS on a CPU
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------- models
@torch.no_grad()
def materialise(model: nn.Module, device: torch.device, seed: int = 0) -> nn.Module:
    """Allocate a meta-device model on ``device`` and fill it: N(0, 0.02) matrices, unit norms, real RoPE tables."""
    model.to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.normal_(0.0, 0.02, generator=generator)
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
        elif hasattr(module, "inv_freq"):  # rotary embedding: non-persistent buffers computed at init
            fresh = type(module)(module.config)
            for name in ("inv_freq", "original_inv_freq"):
                if hasattr(module, name):
                    getattr(module, name).copy_(getattr(fresh, name))
        elif "norm" in type(module).__name__.lower() and getattr(module, "weight", None) is not None:
            module.weight.fill_(1.0)
    return model


def load_encoder(name: str, dtype: str | None, device: str | None) -> LLM2Vec:
    """``LLM2Vec`` for a lab model name or a random-weight shape, bidirectional with mean pooling."""
    if name not in SHAPES:
        return LLM2Vec.from_pretrained(name, bidirectional=True, pooling="mean", dtype=dtype, device=device)
    from transformers import AutoModel, AutoTokenizer

    from lab.models import default_device, resolve_model_path

    torch_device = torch.device(device) if device else default_device()
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(TOKENIZER_MODEL))
    config = shape_config(name, vocab_size=len(tokenizer))
    config._attn_implementation = "sdpa"
    with torch.device("meta"):
        model = AutoModel.from_config(config, dtype=parse_dtype(dtype, torch_device))  # no memory, no init
    model = materialise(model, torch_device).eval()
    return LLM2Vec.from_model(model, tokenizer, EncoderConfig(pooling="mean", base_model=f"random:{name}"))


def non_embedding_params(model: nn.Module) -> int:
    """Parameters that do matmuls per token: everything but the embedding table (norm weights are negligible)."""
    return sum(p.numel() for n, p in model.named_parameters() if "embed_tokens" not in n)


def useful_flops(lengths: np.ndarray, n_params: int, n_layers: int, hidden: int) -> float:
    """2 * N * T + 4 * L * d * T^2 summed over texts of ``lengths`` real tokens."""
    lengths = lengths.astype(np.float64)
    return float((2.0 * n_params * lengths + 4.0 * n_layers * hidden * lengths**2).sum())


# ---------------------------------------------------------------- workloads
def word_salad(tokenizer, lengths: list[int], seed: int) -> list[str]:
    """Texts of about ``lengths[i]`` tokens: random whole words from the tokenizer's vocabulary, cut by tokens."""
    rng = np.random.default_rng(seed)
    words = sorted(t[1:] for t in tokenizer.get_vocab() if t.startswith("Ġ") and t[1:].isalpha() and len(t) > 2)
    texts = [" ".join(rng.choice(words, size=n)) for n in lengths]  # a word is >= 1 token: enough to cut from
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [tokenizer.decode(row[:n]).strip() for row, n in zip(ids, lengths, strict=True)]


def make_texts(workload: str, tokenizer, n_texts: int, seed: int = 0) -> list[str]:
    """The texts of a workload: mixed 8-256 tokens, 512-token docs, or the STS-B test sentences."""
    if workload == "stsb":
        from lab.data.stsb import load_stsb

        sentences = [s for pair in load_stsb("test") for s in (pair.sentence1, pair.sentence2)]
        return sentences[:n_texts] if n_texts else sentences
    if workload not in WORKLOADS:
        raise ValueError(f"Unknown workload {workload!r}; expected one of {', '.join(WORKLOADS)}.")
    rng = np.random.default_rng(seed)
    lengths = rng.integers(8, 257, size=n_texts) if workload == "mixed" else np.full(n_texts, 512)
    return word_salad(tokenizer, [int(n) for n in lengths], seed)


# ---------------------------------------------------------------- runners
Runner = Callable[[LLM2Vec, list[str], int], tuple[np.ndarray, int]]  # -> (embeddings in input order, processed)


def plain_loop(encoder: LLM2Vec, texts: list[str], batch_size: int) -> tuple[np.ndarray, int]:
    """The issue's anchor: batches in input order, one tokenizer call each, pad to the longest, mean pooling."""
    tokenizer, model, device = encoder.tokenizer, encoder.model, encoder.device
    out, processed = [], 0
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=encoder.config.max_length,
                return_tensors="pt",
            ).to(device)
            hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            out.append(((hidden * mask).sum(1) / mask.sum(1)).float().cpu())  # (B, C)
            processed += batch["input_ids"].numel()
    return torch.cat(out).numpy(), processed


def sorted_plain_loop(encoder: LLM2Vec, texts: list[str], batch_size: int) -> tuple[np.ndarray, int]:
    """The plain loop over texts sorted by token count (longest first), order restored: the CPU anchor of the issue."""
    lengths = [
        len(ids) for ids in encoder.tokenizer(texts, truncation=True, max_length=encoder.config.max_length)["input_ids"]
    ]
    order = np.argsort(-np.asarray(lengths), kind="stable")
    emb, processed = plain_loop(encoder, [texts[i] for i in order], batch_size)
    restored = np.empty_like(emb)
    restored[order] = emb  # (n, C) back in input order
    return restored, processed


def lab_runner(lengths: np.ndarray, max_tokens: int | None = None) -> Runner:
    """``LLM2Vec.encode`` by count or by token budget; ``lengths`` (every text's tokens) gives the processed count."""

    def run(encoder: LLM2Vec, texts: list[str], batch_size: int) -> tuple[np.ndarray, int]:
        emb = encoder.encode(texts, batch_size=batch_size, show_progress_bar=False, max_tokens_per_batch=max_tokens)
        return emb, processed_tokens(lengths[: len(texts)], batch_size, max_tokens)

    return run


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_pass(run: Runner, encoder: LLM2Vec, texts: list[str], batch_size: int) -> tuple[float, np.ndarray, int]:
    """Seconds of one full pass of ``run``, its embeddings and processed tokens."""
    if encoder.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(encoder.device)
    synchronize(encoder.device)
    start = time.perf_counter()
    emb, processed = run(encoder, texts, batch_size)
    synchronize(encoder.device)
    return time.perf_counter() - start, emb, processed


def measure(
    runners: dict[str, Runner],
    encoder: LLM2Vec,
    texts: list[str],
    batch_size: int,
    real_lengths: np.ndarray,
    rounds: int,
) -> tuple[list[Result], dict[str, np.ndarray]]:
    """Warm every runner up on a few texts, then ``rounds`` interleaved timed passes (the order rotates each round,
    so no runner always follows the same one); each runner's result is its median pass."""
    device = encoder.device
    for run in runners.values():  # warm-up: kernels, allocator, threads, the reference worker's first batches
        run(encoder, texts[: min(len(texts), 2 * batch_size)], batch_size)
    names = list(runners)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    peaks: dict[str, float] = dict.fromkeys(names, 0.0)
    embeddings, processed = {}, {}
    for round_index in range(rounds):
        for name in names[round_index % len(names) :] + names[: round_index % len(names)]:
            run = runners[name]
            elapsed, embeddings[name], processed[name] = timed_pass(run, encoder, texts, batch_size)
            seconds[name].append(round(elapsed, 3))
            peak = run.peak_memory_mb() if hasattr(run, "peak_memory_mb") else peak_memory_mb(device)
            peaks[name] = max(peaks[name], peak)
            logger.info("round %d %s: %.2f s", round_index + 1, name, elapsed)
    config = encoder.model.config
    flops = useful_flops(
        real_lengths, non_embedding_params(encoder.model), config.num_hidden_layers, config.hidden_size
    )
    real = int(real_lengths.sum())
    results = []
    for name in names:
        median = float(np.median(seconds[name]))
        results.append(
            Result(
                runner=name,
                n_texts=len(texts),
                real_tokens=real,
                processed_tokens=processed[name],
                seconds=round(median, 3),
                tokens_per_s=round(real / median, 1),
                sentences_per_s=round(len(texts) / median, 2),
                useful_tflops=round(flops / median / 1e12, 4),
                mfu=round(flops / median / H100_PEAK_FLOPS, 4) if device.type == "cuda" else None,
                peak_memory_mb=round(peaks[name], 1),
                extra={"round_seconds": seconds[name]},
            )
        )
    return results, embeddings


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest row-wise cosine between two (n, d) arrays."""
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))).min())


def build_runners(args: argparse.Namespace, encoder: LLM2Vec, texts: list[str], lengths: np.ndarray) -> dict:
    """Ours (by count, then each token budget), then the anchors the flags ask for, in that order."""
    runners: dict[str, Runner] = {"lab": lab_runner(lengths)}
    for budget in args.max_tokens_per_batch or []:
        runners[f"lab-tokens{budget}"] = lab_runner(lengths, budget)
    if args.compare_plain:
        runners["plain"] = plain_loop
    if args.compare_plain_sorted:
        runners["plain-sorted"] = sorted_plain_loop
    if args.compare_reference:
        from bench.reference import ReferenceRunner, reference_python

        dtype = str(next(encoder.model.parameters()).dtype).removeprefix("torch.")
        runners["reference"] = ReferenceRunner(
            texts, reference_python(args.reference_python), args.threads, str(encoder.device), dtype
        )
    return runners


def run_benchmark(args: argparse.Namespace) -> dict:
    """Load the model, build the texts, time ours and the anchors asked for; returns a JSON-ready report."""
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    encoder = load_encoder(args.model, args.dtype, args.device)
    synchronize(encoder.device)
    load_seconds = time.perf_counter() - start
    texts = make_texts(args.workload, encoder.tokenizer, args.n_texts, args.seed)
    real_lengths = np.array([len(f["input_ids"]) for f in encoder.tokenize(texts)])  # capped at max_length
    runners = build_runners(args, encoder, texts, real_lengths)
    try:
        results, embeddings = measure(runners, encoder, texts, args.batch_size, real_lengths, args.rounds)
    finally:
        for run in runners.values():
            if hasattr(run, "close"):
                run.close()
    report = {
        "model": args.model,
        "workload": args.workload,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "dtype": str(next(encoder.model.parameters()).dtype),
        "device": str(encoder.device),
        "device_name": torch.cuda.get_device_name(encoder.device)
        if encoder.device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "load_seconds": round(load_seconds, 2),
        "non_embedding_params": non_embedding_params(encoder.model),
        "mean_real_tokens_per_text": round(float(real_lengths.mean()), 1),
        "mfu_peak_flops": H100_PEAK_FLOPS,
        "results": [asdict(r) for r in results],
    }
    if "reference" in runners:
        report["reference"] = {k: v for k, v in runners["reference"].info.items() if k != "ready"}
    # Same texts, same model, mean pooling: every runner must give our vectors; speed-ups are median-time ratios.
    report["min_cosine_vs_lab"] = {n: min_cosine(embeddings["lab"], e) for n, e in embeddings.items() if n != "lab"}
    seconds = {r.runner: r.seconds for r in results}
    ours = [name for name in seconds if name.startswith("lab")]
    anchors = [name for name in seconds if not name.startswith("lab")]
    report["speedups"] = {f"{a}/{b}": round(seconds[b] / seconds[a], 3) for a in ours for b in anchors}
    if "plain" in seconds:  # the field bench/gpu.py and older reports read
        report["lab_vs_plain_min_cosine"] = report["min_cosine_vs_lab"]["plain"]
        report["speedup_vs_plain"] = report["speedups"]["lab/plain"]
    if args.profile:
        budgets = [None] + list(args.max_tokens_per_batch or [])
        report["profile"] = {
            "lab" if b is None else f"lab-tokens{b}": profile_encode(encoder, texts, args.batch_size, b)
            for b in budgets
        }
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="LLM2Vec encode benchmark (real tokens/s, MFU, memory, load time).")
    parser.add_argument("--model", default="smollm2-135m", help=f"a lab model name, or one of {', '.join(SHAPES)}")
    parser.add_argument("--workload", default="mixed", choices=WORKLOADS)
    parser.add_argument("--n-texts", type=int, default=256, help="texts to encode (stsb: 0 = all 2,758)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--max-tokens-per-batch", type=int, nargs="*", default=[], help="also time ours batched by these token budgets"
    )
    parser.add_argument("--dtype", default=None, help="float32 | bfloat16 | float16 (default: bf16 GPU, fp32 CPU)")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: cuda if available)")
    parser.add_argument("--compare-plain", action="store_true", help="also time the plain loop in input order")
    parser.add_argument("--compare-plain-sorted", action="store_true", help="and the plain loop sorted by length")
    parser.add_argument("--compare-reference", action="store_true", help="and llm2vec 0.2.3 in its own venv")
    parser.add_argument("--reference-python", default=None, help="the reference venv's python (see bench/reference.py)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved timed passes per runner; medians reported")
    parser.add_argument("--profile", action="store_true", help="add where our time goes (bench/encode_profile.py)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the report here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print (and optionally save) the JSON report."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    report = run_benchmark(args)
    write_report(report, args.json)


if __name__ == "__main__":
    main()
