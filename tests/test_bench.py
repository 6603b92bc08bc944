"""The encode benchmark's pieces: FLOP formula, word-salad lengths, meta-device shapes, and ours vs the plain loop."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel

from bench import encode as bench
from lab import LLM2Vec


def test_useful_flops_by_hand() -> None:
    # texts of 3 and 5 tokens, N = 100 matmul params, L = 2 layers, d = 8
    by_hand = (2 * 100 * 3 + 4 * 2 * 8 * 3 * 3) + (2 * 100 * 5 + 4 * 2 * 8 * 5 * 5)
    assert bench.useful_flops(np.array([3, 5]), n_params=100, n_layers=2, hidden=8) == by_hand


def test_shapes_have_the_published_sizes() -> None:
    expected = {"s-llama-1.3b": 1.214e9, "mistral-7b": 6.98e9}  # non-embedding parameters
    for name, params in expected.items():
        with torch.device("meta"):
            model = AutoModel.from_config(bench.shape_config(name, vocab_size=32000))
        assert abs(bench.non_embedding_params(model) - params) / params < 0.002


def test_materialise_matches_a_normal_init() -> None:
    config = AutoConfig.for_model(
        "mistral",
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        vocab_size=500,
        sliding_window=16,
    )
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    model = bench.materialise(model, torch.device("cpu"))
    normal = AutoModel.from_config(config)
    assert torch.equal(model.rotary_emb.inv_freq, normal.rotary_emb.inv_freq)
    assert torch.equal(model.norm.weight, torch.ones(64))
    assert abs(model.layers[0].mlp.up_proj.weight.std().item() - 0.02) < 0.002
    assert torch.isfinite(model(input_ids=torch.randint(0, 500, (2, 9))).last_hidden_state).all()


def test_word_salad_has_about_the_asked_lengths() -> None:
    model = LLM2Vec.from_pretrained("tiny-llama", device="cpu")
    texts = bench.make_texts("mixed", model.tokenizer, n_texts=20)
    lengths = np.array([len(f["input_ids"]) for f in model.tokenize(texts)])
    asked = np.random.default_rng(0).integers(8, 257, size=20)
    assert np.abs(lengths - asked).max() <= 0.1 * asked.max()


def test_ours_and_the_plain_loop_agree_and_report() -> None:
    args = bench.parse_args(["--model", "tiny-llama", "--n-texts", "24", "--batch-size", "8", "--device", "cpu"])
    args.compare_plain = True
    report = bench.run_benchmark(args)
    assert report["lab_vs_plain_min_cosine"] > 0.99999  # same model, same mean pooling: same vectors
    lab, plain = report["results"]
    assert lab["real_tokens"] == plain["real_tokens"] > 0
    assert lab["processed_tokens"] <= plain["processed_tokens"]  # sorting by length never pads more
    assert lab["mfu"] is None and lab["tokens_per_s"] > 0


def test_rounds_token_budgets_sorted_plain_and_profile_report_consistently() -> None:
    argv = ["--model", "tiny-llama", "--n-texts", "20", "--batch-size", "8", "--device", "cpu", "--rounds", "2"]
    args = bench.parse_args(argv + ["--max-tokens-per-batch", "300", "--compare-plain", "--compare-plain-sorted"])
    args.profile = True
    report = bench.run_benchmark(args)
    results = {r["runner"]: r for r in report["results"]}
    assert list(results) == ["lab", "lab-tokens300", "plain", "plain-sorted"]
    for r in results.values():  # each runner timed once a round; its figure is the median
        assert len(r["extra"]["round_seconds"]) == 2 and r["seconds"] == pytest.approx(
            np.median(r["extra"]["round_seconds"]), abs=1e-3
        )
    assert min(report["min_cosine_vs_lab"].values()) > 0.99999  # same model, mean pooling: the same vectors
    assert set(report["speedups"]) == {f"{a}/{b}" for a in ("lab", "lab-tokens300") for b in ("plain", "plain-sorted")}
    encoder = LLM2Vec.from_pretrained("tiny-llama")  # processed tokens by hand: sorted longest first, chunks of 8
    texts = bench.make_texts("mixed", encoder.tokenizer, 20, 0)
    lengths = sorted((len(f["input_ids"]) for f in encoder.tokenize(texts)), reverse=True)
    assert results["lab"]["processed_tokens"] == sum(lengths[i] * len(lengths[i : i + 8]) for i in range(0, 20, 8))
    assert (
        results["lab"]["processed_tokens"]
        <= results["plain-sorted"]["processed_tokens"]
        <= results["plain"]["processed_tokens"]
    )
    by_budget = report["profile"]["lab-tokens300"]
    assert by_budget["max_tokens_per_batch"] == 300 and by_budget["processed_tokens"] <= 300 * by_budget["batches"]
    for profile in report["profile"].values():
        assert set(profile["stage_seconds"]) == {"tokenize", "pad", "forward", "pool"}
        assert sum(profile["stage_share"].values()) == pytest.approx(1.0, abs=1e-3)
        ops = profile["forward_ops"]
        assert sum(c["share"] for c in ops["categories"].values()) == pytest.approx(1.0, abs=1e-3)
        assert ops["categories"]["matmul"]["seconds"] > 0 and ops["matmul_gflops_per_s"] > 0
        assert any(op["op"] in ("aten::mm", "aten::addmm") for op in ops["top_ops"])


def test_op_categories() -> None:
    from bench.encode_profile import op_category

    assert op_category("aten::addmm") == op_category("aten::mm") == "matmul"
    assert op_category("aten::_scaled_dot_product_flash_attention_for_cpu") == "attention"
    assert op_category("aten::mul") == op_category("aten::rsqrt") == "other"


def test_the_reference_runner_says_how_to_make_its_venv(monkeypatch) -> None:
    from bench.reference import reference_python

    monkeypatch.delenv("LLM2VEC_REFERENCE_PYTHON", raising=False)
    with pytest.raises(FileNotFoundError, match=r"/no/such/python \(--reference-python\).*setup_reference_env\.sh"):
        reference_python("/no/such/python")
    monkeypatch.setenv("LLM2VEC_REFERENCE_PYTHON", "/no/env/python")
    with pytest.raises(FileNotFoundError, match=r"\$LLM2VEC_REFERENCE_PYTHON"):
        reference_python()


def _reference_venv_missing() -> bool:
    from bench.reference import reference_python

    try:
        reference_python()
    except FileNotFoundError:
        return True
    return False


@pytest.mark.slow
@pytest.mark.skipif(_reference_venv_missing(), reason="no llm2vec 0.2.3 venv: bash scripts/setup_reference_env.sh")
def test_the_reference_worker_gives_our_vectors_side_by_side() -> None:
    """llm2vec 0.2.3 driven in its own venv encodes the same STS-B sentences as ours, interleaved, to cosine 0.9999."""
    argv = ["--workload", "stsb", "--n-texts", "12", "--batch-size", "4", "--device", "cpu", "--rounds", "2"]
    report = bench.run_benchmark(bench.parse_args(argv + ["--compare-reference"]))
    assert report["reference"]["versions"]["llm2vec"] == "0.2.3"
    assert report["reference"]["model_class"] == "LlamaBiModel"
    assert report["min_cosine_vs_lab"]["reference"] >= 0.9999
    reference = next(r for r in report["results"] if r["runner"] == "reference")
    assert reference["processed_tokens"] >= reference["real_tokens"] and len(reference["extra"]["round_seconds"]) == 2


def test_corpus_memory_bench_encodes_a_generated_corpus(tmp_path) -> None:
    from bench import corpus_memory

    corpus_memory.write_corpus(tmp_path / "c.txt", 25)
    lines = (tmp_path / "c.txt").read_text().splitlines()
    assert len(lines) == 25 and all(8 <= len(line.split()) <= 64 for line in lines)
    args = corpus_memory.parse_args(["--sizes", "25", "--shard-size", "10"])
    args.input, args.output = str(tmp_path / "c.txt"), str(tmp_path / "e.npy")
    report = corpus_memory.child(args)
    assert report["rows"] == 25 and report["peak_rss_mb"] >= report["peak_rss_after_load_mb"] > 0


def test_gpu_script_runs_every_step_with_tiny_settings(tmp_path) -> None:
    """The prepared GPU run, shrunk to tiny shapes on the CPU: every step runs and writes its JSON."""
    from bench import gpu

    summary = gpu.main(["--tiny", "--out", str(tmp_path), "--device", "cpu"])
    assert summary["failed"] == {} and summary["skipped"] == []
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [
        "encode-tiny-mixed.json",
        "mntp-tiny.json",
        "summary.json",
    ]
    encode = summary["steps"]["encode-tiny-mixed"]
    assert encode["lab_vs_plain_min_cosine"] > 0.99999 and encode["speedup_vs_plain"] > 0
    assert summary["steps"]["mntp-tiny"]["tokens_per_second"] > 0
    assert summary["targets"] == {}  # the targets concern the paper's shapes, which only run on a GPU
    names = [name for name, _, _ in gpu.steps(tiny=False)]
    assert names == ["encode-s-llama-1.3b-mixed", "encode-mistral-7b-mixed", "mntp-s-llama-1.3b", "mntp-mistral-7b"]


def test_train_bench_plain_mntp_loss_equals_labs() -> None:
    """The plain runner (full logits, shifted CE) optimises exactly lab's MNTP loss (head on masked positions only)."""
    from bench import train as train_bench
    from lab.training.mntp import mntp_forward

    causal_lm, decoder, tokenizer, _, config = train_bench.load("tiny-llama", lora_dropout=0.0)
    decoder.eval()
    batch = train_bench.mntp_batches(tokenizer, config, batch=3, seq=24, n=1)[0]
    assert (batch["labels"] != -100).sum() > 0
    plain = train_bench.plain_mntp_loss(causal_lm, batch)
    ours = mntp_forward(decoder, causal_lm.lm_head, batch)[0]
    torch.testing.assert_close(plain, ours, rtol=1e-5, atol=1e-5)


def test_train_bench_grouped_batches_pad_less_and_both_objectives_run(tmp_path) -> None:
    from bench import train as train_bench

    _, _, tokenizer, _, _ = train_bench.load("tiny-llama", lora_dropout=0.0)

    def padded_share(batches):
        positions = sum(b.query.attention_mask.numel() for b in batches)
        return positions / sum(int(b.query.attention_mask.sum()) for b in batches)

    grouped = train_bench.simcse_batches(tokenizer, batch=16, max_length=256, n=20, grouped=True)
    random = train_bench.simcse_batches(tokenizer, batch=16, max_length=256, n=20, grouped=False)
    assert padded_share(grouped) < padded_share(random) - 0.2
    for objective, seq in (("mntp", "24"), ("simcse", "24")):
        out = tmp_path / f"{objective}.json"
        argv = ["--objective", objective, "--model", "tiny-llama", "--batch", "4", "--seq", seq, "--steps", "1"]
        assert train_bench.main([*argv, "--rounds", "1", "--json", str(out)]) == 0
        result = json.loads(out.read_text())
        assert result["lab"]["tokens_per_second"] > 0 and result["plain"]["tokens_per_second"] > 0


@pytest.mark.slow
def test_app_load_bench_answers_every_client_in_both_phases(tmp_path) -> None:
    from bench import app_load

    out = tmp_path / "load.json"
    app_load.main(["--clients", "2", "--requests", "1", "--corpus-size", "12", "--rounds", "1", "--json", str(out)])
    report = json.loads(out.read_text())
    assert report["clients"] == 2 and len(report["serial_s"]) == len(report["concurrent_s"]) == 1
    assert report["speedup"] == pytest.approx(report["serial_median_s"] / report["concurrent_median_s"], abs=0.02)
    assert app_load.corpora(2, 12)[0] != app_load.corpora(2, 12)[1]  # distinct corpora, one per client
