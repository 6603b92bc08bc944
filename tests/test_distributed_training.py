"""MNTP and SimCSE under ``torchrun --nproc_per_node 2`` (gloo, CPU) train as one process at the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from lab.training.mntp import MNTPCollator

ROOT = Path(__file__).resolve().parents[1]
WORDS = "the cat sat on a mat while dogs ran in the park and markets fell after rates rose sharply".split()
GLOBAL_BATCH = 8
STEPS = 3

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed with gloo"
)


def _corpus(path: Path, n: int) -> Path:
    rng = np.random.default_rng(1)
    path.write_text("\n".join(" ".join(rng.choice(WORDS, size=int(rng.integers(4, 40)))) for _ in range(n)) + "\n")
    return path


def _train(task: str, out: Path, processes: int, *args: str) -> dict:
    """Run ``python -m lab train TASK`` in 1 process, or under torchrun in ``processes``, at a global batch of 8."""
    launcher = [sys.executable, "-m", "lab"]
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
        launcher += ["-m", "lab"]
    command = launcher + ["train", task, "--model", "tiny-llama", "--output_dir", str(out), "--max_steps", str(STEPS)]
    command += ["--per_device_train_batch_size", str(GLOBAL_BATCH // processes), "--max_seq_length", "32"]
    command += ["--lora_dropout", "0", "--learning_rate", "5e-3", "--logging_steps", "1", "--save_steps", "100"]
    command += ["--resume", "never", "--disable_tqdm", "true", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


def _compare(one: Path, two: Path) -> None:
    """Same per-step losses (each the global batch's) and the same adapter weights."""
    from safetensors.torch import load_file

    def losses(run: Path) -> list[float]:
        events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        return [e["loss"] for e in events if "loss" in e]

    assert len(losses(one)) == STEPS
    np.testing.assert_allclose(losses(two), losses(one), rtol=1e-4)
    a, b = load_file(str(one / "adapter_model.safetensors")), load_file(str(two / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    moved = max(float(t.abs().max()) for k, t in a.items() if "lora_B" in k)
    assert moved > 1e-3  # training did change the weights (LoRA's B starts at zero)
    for key in a:
        # Adam divides by the root of tiny second moments, so float noise moves a few weights by ~1e-5; a broken split
        # (other negatives, other token weights) moves them by the order of the learning rate (5e-3)
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=5e-5, msg=key)


def test_mntp_masks_do_not_depend_on_how_a_batch_is_split() -> None:
    """What lets N processes mask as one: each sequence's mask comes from (seed, epoch, its index) alone."""
    rng = np.random.default_rng(0)
    features = [{"input_ids": rng.integers(10, 500, size=int(n)), "index": i} for i, n in enumerate([9, 30, 17, 25])]
    collator = MNTPCollator(mask_token_id=5, pad_token_id=3, vocab_size=500, special_ids=[0, 1, 2, 3], seed=7)
    whole = collator(features)
    halves = [collator(features[:2]), collator(features[2:])]
    for row, f in enumerate(features):
        half = halves[row // 2]
        n = len(f["input_ids"])
        for key in ("input_ids", "labels"):
            assert torch.equal(whole[key][row, :n], half[key][row % 2, :n]), key
    collator.epoch = 1
    assert not torch.equal(collator(features)["labels"], whole["labels"])  # a new epoch masks anew


def test_mntp_two_processes_reach_the_weights_of_one(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "docs.txt", 40)
    args = ("--dataset", str(corpus), "--eval_fraction", "0", "--mask_probability", "0.3")
    single = _train("mntp", tmp_path / "one", 1, *args)
    double = _train("mntp", tmp_path / "two", 2, *args)
    assert single["world_size"] == 1 and double["world_size"] == 2 and double["peak_memory_gb"] > 0
    _compare(tmp_path / "one", tmp_path / "two")


def test_simcse_two_processes_with_cross_process_negatives_reach_the_weights_of_one(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "sentences.txt", 40)
    # Dropout noise is drawn per process, so no split of a batch can reproduce it: the comparison switches it
    # practically off (p = 1e-12 drops nothing). What remains is what distribution must get right: the data split,
    # the gathered in-batch negatives (each query sees all 8 positives) and the averaging of gradients.
    args = ("--dataset", str(corpus), "--adapters", "", "--attention_dropout", "1e-12", "--eval_stsb_dev", "false")
    _train("simcse", tmp_path / "one", 1, *args)
    _train("simcse", tmp_path / "two", 2, *args)
    _compare(tmp_path / "one", tmp_path / "two")


@pytest.mark.parametrize("name", ["fsdp-7b.yaml", "deepspeed-zero3.yaml"])
def test_launcher_configs_for_7b_models_load_in_accelerate(name: str) -> None:
    """The 7-8B launcher configs are valid accelerate configs naming things that exist (they are not run here)."""
    from accelerate.commands.config.config_args import load_config_from_file
    from transformers.models.mistral import modeling_mistral

    config = load_config_from_file(str(ROOT / "configs" / "accelerate" / name))
    assert config.num_processes == 8 and config.mixed_precision in ("bf16", None)
    if config.fsdp_config:
        assert hasattr(modeling_mistral, config.fsdp_config["fsdp_transformer_layer_cls_to_wrap"])
    else:
        ds = json.loads((ROOT / config.deepspeed_config["deepspeed_config_file"]).read_text())
        assert ds["zero_optimization"]["stage"] == 3
