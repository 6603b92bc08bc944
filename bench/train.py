"""Training throughput of lab's MNTP and SimCSE steps against a plain transformers + peft loop, in one run.

    python -m bench.train --objective mntp --batch 16 --seq 128 --json results/bench/train-mntp-cpu.json
    python -m bench.train --objective simcse --batch 64 --seq 64 --json results/bench/train-simcse-cpu.json

Both runners train the same bidirectional SmolLM2-135M with LoRA r=16 on q,k,v,o,gate,up,down, AdamW, on the same
real data, and are timed in interleaved rounds (plain, lab, plain, lab, ...) so that a noisy machine slows both alike.

- **MNTP** (16 x 128-token windows of the Wikipedia sample, BERT masking at 20%). *plain*: what a straight port of
  llm2vec's ``run_mntp.py`` does: ``AutoModelForCausalLM`` logits over every position, cross-entropy on the shifted
  masked labels, the paper's LoRA dropout 0.05. *lab*: ``lab.training.mntp.mntp_forward`` (the LM head only where a
  masked token is predicted) and LoRA dropout 0 (on a CPU, the Bernoulli masks of LoRA dropout cost about a quarter
  of a step; see the profile in bench/README.md).
- **SimCSE** (64 Wikipedia sentences, two dropout views, InfoNCE). Both with attention dropout 0.3 and LoRA dropout
  0.05, SimCSE's noise. *plain*: batches drawn at random, padded to their longest sentence. *lab*: batches from HF's
  ``LengthGroupedSampler`` (``train_sampling_strategy: group_by_length``), so a batch holds sentences of similar
  length and far fewer padding positions.

Reported per runner: real (non-padding) tokens/s, seconds per step, and peak memory (max RSS on a CPU, which only
grows, so the second runner's figure is the max of both; max allocated on CUDA).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import write_report  # noqa: E402
from lab.memory import peak_memory_gb  # noqa: E402
from lab.training.config import MNTPConfig  # noqa: E402
from lab.training.lora import build_lora_model  # noqa: E402
from lab.training.mntp import IGNORE_INDEX, build_collator, mntp_forward, resolve_mask_token  # noqa: E402


def load(model_name: str, lora_dropout: float, attention_dropout: float = 0.0):
    """A bidirectional causal LM with LoRA on its decoder (as lab trains it), and its tokenizer."""
    from lab.training.dropout import set_attention_dropout
    from lab.training.lora import load_causal_lm

    config = MNTPConfig(model=model_name, lora_dropout=lora_dropout, eval_fraction=0.05)
    causal_lm, tokenizer = load_causal_lm(config)
    if attention_dropout:
        set_attention_dropout(causal_lm, attention_dropout)
    decoder = build_lora_model(causal_lm, config)
    optimizer = torch.optim.AdamW([p for p in decoder.parameters() if p.requires_grad], lr=1e-5)
    return causal_lm, decoder, tokenizer, optimizer, config


def plain_mntp_loss(causal_lm, batch) -> torch.Tensor:
    """The straight port: full-vocabulary logits at every position, then the shifted masked cross-entropy."""
    logits = causal_lm(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], position_ids=batch["position_ids"]
    ).logits  # (B, T, V)
    return F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
        batch["labels"][:, 1:].reshape(-1),
        ignore_index=IGNORE_INDEX,
    )


def mntp_batches(tokenizer, config: MNTPConfig, batch: int, seq: int, n: int) -> list:
    """``n`` masked batches of ``batch`` Wikipedia windows of ``seq`` tokens (the same for both runners)."""
    from lab.training.data import load_sequences

    config = MNTPConfig(**{**config.__dict__, "max_seq_length": seq})
    sequences, _ = load_sequences(config, tokenizer)
    mask_id = resolve_mask_token(tokenizer, config.mask_token)
    collator = build_collator(tokenizer, config, mask_id, vocab_size=len(tokenizer))
    order = np.random.default_rng(0).permutation(len(sequences))
    return [
        collator([{"input_ids": sequences[i], "index": int(i)} for i in order[k * batch : (k + 1) * batch]])
        for k in range(n)
    ]


def simcse_batches(tokenizer, batch: int, max_length: int, n: int, grouped: bool) -> list:
    """``n`` SimCSE batches of Wikipedia sentences: drawn at random, or by HF's length-grouped sampler."""
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from lab.data.sentences import wiki_sentences
    from lab.training.simcse import SimCSECollator

    sentences = wiki_sentences()
    ids = tokenizer(sentences, add_special_tokens=True, truncation=True, max_length=max_length)["input_ids"]
    items = [{"input_ids": np.asarray(i), "pool_mask": np.ones(len(i), dtype=np.int64)} for i in ids]
    if grouped:
        generator = torch.Generator().manual_seed(0)
        order = list(LengthGroupedSampler(batch, lengths=[len(i) for i in ids], generator=generator))
    else:
        order = list(np.random.default_rng(0).permutation(len(items)))
    collate = SimCSECollator(int(tokenizer.pad_token_id))
    return [collate([items[i] for i in order[k * batch : (k + 1) * batch]]) for k in range(n)]


def real_tokens(batch, objective: str) -> int:
    """Non-padding tokens a step trains on (SimCSE: both views)."""
    if objective == "mntp":
        return int(batch["attention_mask"].sum())
    return 2 * int(batch.query.attention_mask.sum())


def time_steps(step, batches: list, objective: str) -> dict[str, float]:
    """Run one step per batch; seconds and real tokens."""
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    return {"seconds": time.perf_counter() - start, "tokens": sum(real_tokens(b, objective) for b in batches)}


def run(args: argparse.Namespace) -> dict:
    """Interleaved timed rounds of the plain and the lab step; returns the measurements."""
    from lab.training.contrastive import contrastive_step

    torch.manual_seed(0)
    simcse = args.objective == "simcse"
    runners = {}
    for name in ("plain", "lab"):
        lora_dropout = 0.05 if simcse or name == "plain" else 0.0
        causal_lm, decoder, tokenizer, optimizer, config = load(args.model, lora_dropout, 0.3 if simcse else 0.0)
        decoder.train()
        n = args.warmup + args.steps * args.rounds
        if simcse:
            batches = simcse_batches(tokenizer, args.batch, args.seq, n, grouped=name == "lab")

            def loss_fn(batch, decoder=decoder):
                return contrastive_step(decoder, batch, "mean", 20.0)[0]

        else:
            batches = mntp_batches(tokenizer, config, args.batch, args.seq, n)
            if name == "plain":

                def loss_fn(batch, causal_lm=causal_lm):
                    return plain_mntp_loss(causal_lm, batch)

            else:

                def loss_fn(batch, decoder=decoder, head=causal_lm.lm_head):
                    return mntp_forward(decoder, head, batch)[0]

        def step(batch, loss_fn=loss_fn, optimizer=optimizer):
            loss_fn(batch).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        runners[name] = {"step": step, "batches": batches, "seconds": 0.0, "tokens": 0, "steps": 0}
    for runner in runners.values():  # warm-up (allocator, kernels)
        time_steps(runner["step"], runner["batches"][: args.warmup], args.objective)
    for round_index in range(args.rounds):
        for runner in runners.values():
            start = args.warmup + round_index * args.steps
            measured = time_steps(runner["step"], runner["batches"][start : start + args.steps], args.objective)
            runner["seconds"] += measured["seconds"]
            runner["tokens"] += measured["tokens"]
            runner["steps"] += args.steps
    result = {
        "objective": args.objective,
        "model": args.model,
        "device": f"cpu ({torch.get_num_threads()} threads)",
        "batch": args.batch,
        "seq": args.seq,
        "rounds": args.rounds,
        "peak_memory_gb_max_of_both": peak_memory_gb(),
    }
    for name, runner in runners.items():
        result[name] = {
            "tokens_per_second": runner["tokens"] / runner["seconds"],
            "seconds_per_step": runner["seconds"] / runner["steps"],
            "real_tokens_per_step": runner["tokens"] / runner["steps"],
        }
    result["speedup_vs_plain"] = result["lab"]["tokens_per_second"] / result["plain"]["tokens_per_second"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objective", choices=("mntp", "simcse"), default="mntp")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--batch", type=int, default=16, help="sequences (MNTP) or sentences (SimCSE) a step")
    parser.add_argument("--seq", type=int, default=128, help="MNTP window / SimCSE max length, in tokens")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per runner per round")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (plain, lab, plain, lab, ...)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per runner first")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--json", default=None, help="also write the result here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args)
    write_report(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
