"""The paper's shapes on one GPU, in one prepared run: encode (ours vs the plain loop) and MNTP training (MFU).

    python -m bench.gpu --out results/bench/gpu            # on an H100/H200: about 5 minutes, at most --budget-s
    python -m bench.gpu --tiny --out /tmp/gpu-smoke         # the same steps with tiny settings (CPU, seconds)

Steps, in order (random weights: speed does not depend on them; SmolLM2's tokenizer, see bench/README.md):

1. encode S-LLaMA-1.3B, 20,000 mixed 8-256-token texts, batch 64, ours and the plain loop (target: >= 1.4x the plain
   loop; the reference llm2vec is 0.57x of it);
2. encode Mistral-7B, 4,000 mixed texts, batch 32, ours and the plain loop;
3. MNTP LoRA on S-LLaMA-1.3B, 32 x 512 tokens a step (micro-batch 8), 10 timed steps (target: >= 37% MFU);
4. MNTP LoRA on Mistral-7B, 32 x 512 (micro-batch 4, gradient checkpointing), 4 timed steps.

Each step's JSON goes to ``--out`` as soon as it ends (``summary.json`` holds them all, with the targets checked), so a
run cut short keeps what it measured; a step that would start after ``--budget-s`` is skipped and listed as such.
MFU is against ``--peak-tflops`` (default 989: dense bf16 of an H100 SXM / H200; the issue's anchors use 800).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import time
import traceback
from pathlib import Path

import torch

from bench import encode as encode_bench
from bench import train_mntp

logger = logging.getLogger(__name__)

ENCODE_TARGET_SPEEDUP = 1.4  # ours / the plain loop, mixed lengths, S-LLaMA-1.3B
MNTP_TARGET_MFU = 0.37  # S-LLaMA-1.3B


def steps(tiny: bool) -> list[tuple[str, str, list[str]]]:
    """(name, kind, arguments) of each step; ``tiny`` shrinks every shape and count to a CPU smoke test."""
    if tiny:
        return [
            ("encode-tiny-mixed", "encode", ["--model", "tiny-llama", "--n-texts", "24", "--batch-size", "8"]),
            ("mntp-tiny", "mntp", ["--shape", "tiny", "--batch", "4", "--micro-batch", "2", "--seq", "32"]),
        ]
    return [
        (
            "encode-s-llama-1.3b-mixed",
            "encode",
            ["--model", "s-llama-1.3b", "--n-texts", "20000", "--batch-size", "64"],
        ),
        ("encode-mistral-7b-mixed", "encode", ["--model", "mistral-7b", "--n-texts", "4000", "--batch-size", "32"]),
        (
            "mntp-s-llama-1.3b",
            "mntp",
            ["--shape", "s-llama-1.3b", "--batch", "32", "--micro-batch", "8", "--seq", "512", "--steps", "10"],
        ),
        (
            "mntp-mistral-7b",
            "mntp",
            ["--shape", "mistral-7b", "--batch", "32", "--micro-batch", "4", "--seq", "512", "--steps", "4"],
        ),
    ]


def run_step(kind: str, arguments: list[str], peak_tflops: float, device: str | None) -> dict:
    """One benchmark, in this process (no second start-up): the encode report or the MNTP result."""
    if kind == "encode":
        args = encode_bench.parse_args(arguments + ["--workload", "mixed", "--compare-plain"])
        args.device = device
        report = encode_bench.run_benchmark(args)
        report["mfu_vs_peak"] = [
            round(r["useful_tflops"] / peak_tflops, 4) if report["device"].startswith("cuda") else None
            for r in report["results"]
        ]
        return report
    args = train_mntp.parse_args(arguments + ["--warmup", "2", "--peak-tflops", str(peak_tflops)])
    args.device = device
    if "mistral" in args.shape:
        args.gradient_checkpointing = True
        args.warmup = 1
    return train_mntp.run(args)


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def check_targets(results: dict[str, dict]) -> dict[str, dict]:
    """The issue's two targets, where their step ran: measured value, target, met."""
    checks = {}
    encode = results.get("encode-s-llama-1.3b-mixed", {})
    if "speedup_vs_plain" in encode:
        value = encode["speedup_vs_plain"]
        checks["encode_speedup_vs_plain"] = {
            "value": value,
            "target": ENCODE_TARGET_SPEEDUP,
            "met": value >= ENCODE_TARGET_SPEEDUP,
        }
    mntp = results.get("mntp-s-llama-1.3b", {})
    if "mfu" in mntp:
        value = round(mntp["mfu"], 4)
        checks["mntp_mfu_1.3b"] = {"value": value, "target": MNTP_TARGET_MFU, "met": value >= MNTP_TARGET_MFU}
    return checks


def main(argv: list[str] | None = None) -> dict:
    """Run every step within the budget, writing each result as it comes; returns the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for one JSON per step and summary.json")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes and counts: a CPU smoke test of the script")
    parser.add_argument("--budget-s", type=float, default=540.0, help="start no step after this many seconds")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak for MFU (H100 SXM/H200)")
    parser.add_argument("--device", default=None, help="default: cuda if available")
    parser.add_argument("--only", nargs="*", default=None, help="run only these step names")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    summary = {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "peak_tflops": args.peak_tflops,
        "steps": {},
        "skipped": [],
        "failed": {},
    }
    for name, kind, arguments in steps(args.tiny):
        if args.only is not None and name not in args.only:
            continue
        elapsed = time.perf_counter() - start
        if elapsed > args.budget_s:
            logger.info("Skipping %s: %.0f s used of a %.0f s budget", name, elapsed, args.budget_s)
            summary["skipped"].append(name)
            continue
        logger.info("Step %s (%.0f s in)", name, elapsed)
        step_start = time.perf_counter()
        try:
            result = run_step(kind, arguments, args.peak_tflops, args.device)
        except Exception as error:  # a failed shape (e.g. out of memory) must not lose the other steps
            summary["failed"][name] = f"{type(error).__name__}: {error}"
            logger.error("Step %s failed:\n%s", name, traceback.format_exc())
            free_memory()
            continue
        result["step_seconds"] = round(time.perf_counter() - step_start, 1)
        summary["steps"][name] = result
        (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        free_memory()
    summary["targets"] = check_targets(summary["steps"])
    summary["total_seconds"] = round(time.perf_counter() - start, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({"targets": summary["targets"], "skipped": summary["skipped"], "failed": summary["failed"]}))
    return summary


if __name__ == "__main__":
    main()
