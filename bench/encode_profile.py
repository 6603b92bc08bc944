"""Where ``LLM2Vec.encode``'s time goes: tokenise, pad, forward (split by operator with torch.profiler), pool.

Two passes over the same texts and the same batches as ``encode`` plans them (``lab.batch.length_batches``):

1. **Stages**, wall clock, no profiler: ``encoder.tokenize`` over all texts, then per batch ``pad`` (the encoder's
   ``collate``), ``forward`` through the bare decoder, ``pool`` in fp32. These are the library's own functions, the
   ones ``encode`` chains (``embed`` is forward + pool), timed one by one.
2. **Operators**, the forward and pooling of every batch under ``torch.profiler`` with FLOP counting. Self time per
   operator, grouped: *matmul* (``aten::mm``/``addmm``/``bmm``: every projection and the MLP), *attention* (the SDPA
   kernel), *other* (norms, SiLU, RoPE, residual adds, the attention mask, copies). ``matmul_gflops_per_s`` is the
   matmuls' counted FLOPs over their self time: how near the cores' peak the products run. The profiler's own cost
   makes this pass slower than the first; its shares, not its seconds, are what it is for.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Sequence

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from lab import LLM2Vec
from lab.batch import embed, forward, length_batches
from lab.pooling import pool

MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear")
ATTENTION_MARKERS = ("scaled_dot_product", "flash_attention", "efficient_attention", "softmax", "baddbmm")


def op_category(name: str) -> str:
    """matmul, attention or other, from a profiler event's operator name."""
    if name in MATMUL_OPS:
        return "matmul"
    if any(marker in name for marker in ATTENTION_MARKERS):
        return "attention"
    return "other"


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def stage_seconds(
    encoder: LLM2Vec, texts: Sequence[str], batch_size: int, max_tokens: int | None = None
) -> dict[str, float]:
    """Wall seconds of tokenise, pad, forward and pool over all ``texts``, batched as ``encode`` batches them."""
    device = encoder.device
    seconds = dict.fromkeys(("tokenize", "pad", "forward", "pool"), 0.0)
    start = time.perf_counter()
    features = encoder.tokenize(texts)
    seconds["tokenize"] = time.perf_counter() - start
    for index in length_batches([len(f["input_ids"]) for f in features], batch_size, max_tokens):
        t0 = time.perf_counter()
        batch = encoder.collate([features[i] for i in index]).to(device)
        _synchronize(device)
        t1 = time.perf_counter()
        hidden = forward(encoder.model, batch).last_hidden_state.float()  # (B, T, C)
        _synchronize(device)
        t2 = time.perf_counter()
        pool(hidden, batch.pool_mask, encoder.config.pooling)  # (B, C)
        _synchronize(device)
        seconds["pad"] += t1 - t0
        seconds["forward"] += t2 - t1
        seconds["pool"] += time.perf_counter() - t2
    return seconds


@torch.inference_mode()
def operator_profile(
    encoder: LLM2Vec, texts: Sequence[str], batch_size: int, max_tokens: int | None = None, top: int = 15
) -> dict:
    """Self time per operator of the forward and pooling of every batch, grouped into matmul / attention / other."""
    device = encoder.device
    features = encoder.tokenize(texts)
    index_batches = length_batches([len(f["input_ids"]) for f in features], batch_size, max_tokens)
    batches = [encoder.collate([features[i] for i in index]).to(device) for index in index_batches]
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, record_shapes=True, with_flops=True) as prof:
        for batch in batches:
            embed(encoder.model, batch, encoder.config.pooling)
        _synchronize(device)
    time_field = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, time_field) > 0]
    total = sum(getattr(e, time_field) for e in events) / 1e6  # profiler times are in microseconds
    categories: dict[str, float] = defaultdict(float)
    matmul_flops = 0.0
    for event in events:
        category = op_category(event.key)
        categories[category] += getattr(event, time_field) / 1e6
        if category == "matmul":
            matmul_flops += float(event.flops or 0)
    events.sort(key=lambda e: -getattr(e, time_field))
    return {
        "profiled_seconds": round(total, 3),
        "categories": {
            name: {"seconds": round(s, 3), "share": round(s / total, 4)} for name, s in sorted(categories.items())
        },
        "matmul_gflops_per_s": round(matmul_flops / categories["matmul"] / 1e9, 1) if categories["matmul"] else None,
        "top_ops": [
            {
                "op": e.key,
                "category": op_category(e.key),
                "seconds": round(getattr(e, time_field) / 1e6, 3),
                "share": round(getattr(e, time_field) / 1e6 / total, 4),
                "calls": int(e.count),
            }
            for e in events[:top]
        ],
    }


def profile_encode(encoder: LLM2Vec, texts: Sequence[str], batch_size: int, max_tokens: int | None = None) -> dict:
    """Both passes for one batching (``batch_size`` texts, or a ``max_tokens`` budget): a JSON-ready report."""
    lengths = np.array([len(f["input_ids"]) for f in encoder.tokenize(texts)])
    batches = length_batches(lengths, batch_size, max_tokens)
    stages = stage_seconds(encoder, texts, batch_size, max_tokens)
    total = sum(stages.values())
    return {
        "batch_size": None if max_tokens else batch_size,
        "max_tokens_per_batch": max_tokens,
        "batches": len(batches),
        "rows_per_batch_median": float(np.median([len(b) for b in batches])) if batches else 0.0,
        "processed_tokens": processed_tokens(lengths, batch_size, max_tokens),
        "stage_seconds": {name: round(s, 3) for name, s in stages.items()},
        "stage_share": {name: round(s / total, 4) for name, s in stages.items()} if total else {},
        "forward_ops": operator_profile(encoder, texts, batch_size, max_tokens),
    }


def processed_tokens(lengths: Sequence[int], batch_size: int, max_tokens: int | None = None) -> int:
    """Rows x padded width summed over the batches ``encode`` runs: real tokens plus padding."""
    sizes = np.maximum(np.asarray(lengths, dtype=np.int64), 1)  # an empty text runs as one pad token
    return int(sum(len(b) * int(sizes[b].max()) for b in length_batches(sizes, batch_size, max_tokens)))
