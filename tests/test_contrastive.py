"""The InfoNCE loss against a hand computation, and SimCSE's dropout noise really on in training, off in eval."""

from __future__ import annotations

import math

import pytest
import torch

from lab.encoder import EncoderConfig, LLM2Vec
from lab.tiny import TINY_ARCHITECTURES, tiny_model, tiny_tokenizer
from lab.training.dropout import set_attention_dropout
from lab.training.losses import SCALE, info_nce


def hand_info_nce(q: torch.Tensor, p: torch.Tensor, n: torch.Tensor | None, scale: float) -> float:
    """Mean over queries of -log softmax(target), with explicit loops and math.exp / math.log."""
    candidates = list(p) + (list(n) if n is not None else [])
    total = 0.0
    for i, query in enumerate(q):
        sims = []
        for c in candidates:
            cos = float(query @ c) / (float(query.norm()) * float(c.norm()))
            sims.append(scale * cos)
        log_sum_exp = math.log(sum(math.exp(s) for s in sims))
        total += log_sum_exp - sims[i]
    return total / len(q)


@pytest.mark.parametrize("with_negatives", [False, True])
def test_info_nce_matches_hand_computation(with_negatives):
    g = torch.Generator().manual_seed(0)
    q, p, n = (torch.randn(5, 8, generator=g, dtype=torch.float64) for _ in range(3))
    negatives = n if with_negatives else None
    got = info_nce(q, p, negatives, scale=SCALE).item()
    assert got == pytest.approx(hand_info_nce(q, p, negatives, SCALE), rel=1e-9)


def test_info_nce_scale_is_temperature_005_and_rewards_aligned_pairs():
    assert SCALE == pytest.approx(1 / 0.05)
    q = torch.eye(4)
    assert info_nce(q, q).item() < 1e-6  # each positive identical and the others orthogonal: near-zero loss
    assert info_nce(q, q.flip(0)).item() > 10  # positives point elsewhere: large loss


def test_hard_negatives_raise_the_loss():
    g = torch.Generator().manual_seed(1)
    q = torch.randn(4, 16, generator=g)
    p = q + 0.5 * torch.randn(4, 16, generator=g)
    assert info_nce(q, p, q + 0.1 * torch.randn(4, 16, generator=g)).item() > info_nce(q, p).item()


def two_passes(encoder: LLM2Vec, texts: list[str], train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    encoder.model.train(train)
    batch = encoder.collate(encoder.tokenize(texts))
    with torch.no_grad():
        return encoder.embed_batch(batch), encoder.embed_batch(batch)


@pytest.mark.parametrize("arch", sorted(TINY_ARCHITECTURES))
def test_dropout_differs_in_training_and_not_in_eval(arch, sentences):
    impl = "eager" if arch == "gemma2" else "sdpa"
    encoder = LLM2Vec.from_model(tiny_model(arch, attn_implementation=impl), tiny_tokenizer(), EncoderConfig())
    a, b = two_passes(encoder, sentences, train=True)
    assert torch.equal(a, b), "a Llama-style model has no dropout until we switch it on"
    assert set_attention_dropout(encoder.model, 0.3) == encoder.model.config.num_hidden_layers
    a, b = two_passes(encoder, sentences, train=True)
    assert not torch.allclose(a, b, atol=1e-4)
    a, b = two_passes(encoder, sentences, train=False)
    assert torch.equal(a, b)


def test_dropout_rejects_bad_probability_and_models_without_attention():
    with pytest.raises(ValueError, match="in \\[0, 1\\); got 1.5"):
        set_attention_dropout(tiny_model("llama"), 1.5)
    with pytest.raises(ValueError, match="no attention module"):
        set_attention_dropout(torch.nn.Linear(2, 2), 0.1)


@pytest.mark.slow
def test_dropout_on_smollm2(smollm2, sentences):
    encoder = smollm2  # the shared session model: dropout is switched back off below
    try:
        set_attention_dropout(encoder.model, 0.3)
        a, b = two_passes(encoder, sentences[:2], train=True)
        cos = torch.nn.functional.cosine_similarity(a, b)
        assert not torch.allclose(a, b, atol=1e-4) and (cos > 0.5).all()  # noisy views of the same sentence
        a, b = two_passes(encoder, sentences[:2], train=False)
        assert torch.equal(a, b)
    finally:
        set_attention_dropout(encoder.model, 0.0)
        encoder.model.eval()


# ---------------------------------------------------------------------------------------------- trainers


def tiny_run(tmp_path, cls, **overrides):
    from lab.training.config import build_config

    values = dict(
        model="tiny-llama",
        adapters=[],
        output_dir=str(tmp_path / "run"),
        max_documents=48,
        per_device_train_batch_size=6,
        max_seq_length=24,
        max_steps=2,
        logging_steps=1,
        save_steps=2,
        seed=0,
        disable_tqdm=True,
        learning_rate=1e-3,
    )
    values.update(overrides)
    return build_config(cls, values)


def test_simcse_run_saves_an_adapter_that_loads_and_resumes(tmp_path):
    from lab.training.checkpoints import read_metrics_log
    from lab.training.simcse import SimCSEConfig, train_simcse

    config = tiny_run(tmp_path, SimCSEConfig, eval_stsb_dev=False)
    metrics = train_simcse(config)
    assert metrics["global_step"] == 2 and metrics["resumed_from"] is None
    assert math.isfinite(metrics["final_train_loss"])
    out = tmp_path / "run"
    assert (out / "adapter_model.safetensors").is_file() and (out / "metrics.jsonl").is_file()
    trained = LLM2Vec.from_pretrained("tiny-llama", adapters=[str(out)], device="cpu")
    plain = LLM2Vec.from_pretrained("tiny-llama", device="cpu")
    texts = ["The cat sat on the mat.", "Stock markets fell sharply."]
    assert not torch.allclose(torch.as_tensor(trained.encode(texts)), torch.as_tensor(plain.encode(texts)))
    # resume: 2 more steps continue from checkpoint-2, and the metrics log keeps one line per step
    resumed = train_simcse(tiny_run(tmp_path, SimCSEConfig, max_steps=4, eval_stsb_dev=False))
    assert resumed["global_step"] == 4 and resumed["resumed_from"].endswith("checkpoint-2")
    assert [e["step"] for e in read_metrics_log(out) if "loss" in e] == [1, 2, 3, 4]


def test_simcse_ends_on_the_checkpoint_best_on_stsb_dev(tmp_path):
    """STS-B dev is measured at start and every eval_steps; the saved adapter is the best one's, chosen on dev."""
    from safetensors.torch import load_file

    from lab.data.stsb import load_stsb
    from lab.evaluation.sts import evaluate_pairs
    from lab.training.checkpoints import read_metrics_log
    from lab.training.simcse import SimCSEConfig, train_simcse

    config = tiny_run(
        tmp_path, SimCSEConfig, max_steps=6, eval_steps=2, save_steps=2, eval_stsb_pairs=24, learning_rate=5e-2
    )
    metrics = train_simcse(config)
    out = tmp_path / "run"
    evals = {e["step"]: e["eval_stsb_dev_spearman"] for e in read_metrics_log(out) if "eval_stsb_dev_spearman" in e}
    assert sorted(evals) == [2, 4, 6] and "initial_eval_stsb_dev_spearman" in metrics
    assert len(set(evals.values())) == 3  # the adapter moved between evaluations
    best_step = max(evals, key=evals.get)
    assert metrics["best_checkpoint"].endswith(f"checkpoint-{best_step}")
    assert metrics["best_metric"]["eval_stsb_dev_spearman"] == pytest.approx(evals[best_step])
    saved = load_file(out / "adapter_model.safetensors")
    best = load_file(out / f"checkpoint-{best_step}" / "adapter_model.safetensors")
    assert saved.keys() == best.keys() and all(torch.equal(saved[k], best[k]) for k in saved)
    # the saved adapter, loaded through the public API, scores what the run measured for it on dev
    encoder = LLM2Vec.from_pretrained("tiny-llama", adapters=[str(out)], pooling="mean", max_length=24, device="cpu")
    assert evaluate_pairs(encoder, load_stsb("dev", 24)).spearman == pytest.approx(evals[best_step], abs=1e-5)


def test_supervised_run_with_gradcache_and_instruction(tmp_path):
    from lab.training.supervised import SupervisedConfig, train_supervised

    records = tmp_path / "pairs.jsonl"
    rows = [
        {
            "query": f"Question {i} about cats and dogs?",
            "positive": f"Answer {i}: the cat sat.",
            "negative": f"Unrelated {i}: markets fell.",
            "source": "a" if i % 2 else "b",
        }
        for i in range(20)
    ]
    records.write_text("\n".join(__import__("json").dumps(r) for r in rows))
    config = tiny_run(
        tmp_path,
        SupervisedConfig,
        dataset=str(records),
        per_device_train_batch_size=4,
        gradcache_chunk_size=3,
        instruction="Find the answer:",
        eval_fraction=0.2,
        max_documents=0,
    )
    metrics = train_supervised(config)
    assert metrics["global_step"] == 2 and math.isfinite(metrics["eval_loss"])
    assert (tmp_path / "run" / "adapter_model.safetensors").is_file()


def test_one_source_order_blocks_share_a_source():
    from lab.training.supervised import one_source_order

    sources = ["a"] * 10 + ["b"] * 7 + ["c"] * 2
    order = one_source_order(sources, block=3, min_length=30, seed=0)
    assert len(order) >= 30 and len(order) % 3 == 0
    blocks = [order[i : i + 3] for i in range(0, len(order), 3)]
    assert all(len({sources[i] for i in b}) == 1 for b in blocks)
    assert {sources[b[0]] for b in blocks} == {"a", "b"}  # "c" is smaller than one batch
    assert all(len(set(b)) == 3 for b in blocks)
    with pytest.raises(ValueError, match="lower the batch size"):
        one_source_order(sources, block=11, min_length=1, seed=0)


def test_stsb_pairs_are_high_scoring_with_same_genre_low_scoring_negatives():
    from lab.data.stsb import load_stsb
    from lab.training.supervised import stsb_pairs

    records = stsb_pairs(4.0, 1.0)
    train = load_stsb("train")
    score = {(p.sentence1, p.sentence2): p.score for p in train}
    low = {}
    for p in train:
        if p.score <= 1.0:
            low.setdefault(p.genre, set()).update((p.sentence1, p.sentence2))
    assert len(records) == sum(p.score >= 4.0 for p in train)
    for r in records[::50]:
        assert score[(r.query, r.positive)] >= 4.0
        assert r.negative in low[r.source.removeprefix("stsb-")] and r.negative not in (r.query, r.positive)


def test_jsonl_errors_name_the_line(tmp_path):
    from lab.training.supervised import read_jsonl

    path = tmp_path / "bad.jsonl"
    path.write_text('{"query": "q", "positive": "p"}\n{"query": "only a query"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        read_jsonl(path)


def test_instruction_is_attended_but_not_pooled():
    from lab.training.supervised import PairRecord, encode_records

    encoder = LLM2Vec.from_model(tiny_model("llama"), tiny_tokenizer(), EncoderConfig())
    record = PairRecord("The cat sat.", "A cat is sitting.", instruction="Find a paraphrase:")
    (encoded,) = encode_records(encoder.tokenizer, [record], encoder.config.pooling, encoder.config.max_length)
    plain = encoder.tokenize(["The cat sat."])[0]
    query = encoded.query
    assert len(query["input_ids"]) > len(plain["input_ids"])  # the instruction's tokens are in the input
    assert query["pool_mask"].sum() == len(plain["input_ids"])  # but only the text's tokens are pooled
    assert query["pool_mask"][: len(query["input_ids"]) - len(plain["input_ids"])].sum() == 0


@pytest.mark.slow
def test_short_real_simcse_run_on_smollm2(tmp_path):
    """One SimCSE step on the real SmolLM2-135M: finite loss, an adapter that loads onto the base model."""
    from lab.training.simcse import SimCSEConfig, train_simcse

    config = tiny_run(
        tmp_path,
        SimCSEConfig,
        model="smollm2-135m",
        max_documents=4,
        per_device_train_batch_size=4,
        max_seq_length=16,
        max_steps=1,
        save_steps=1,
        learning_rate=1e-4,
        eval_stsb_dev=False,
    )
    metrics = train_simcse(config)
    assert metrics["global_step"] == 1 and math.isfinite(metrics["final_train_loss"])
    encoder = LLM2Vec.from_pretrained("smollm2-135m", adapters=[str(tmp_path / "run")], device="cpu")
    assert encoder.encode("A man is playing a guitar.").shape == (576,)


def _gather_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    g = torch.Generator().manual_seed(0)
    q_all, p_all, n_all = (torch.randn(world * 2, 8, generator=g) for _ in range(3))
    q, p, n = (t[rank * 2 : rank * 2 + 2].clone().requires_grad_() for t in (q_all, p_all, n_all))
    loss = info_nce(q, p, n)
    loss.backward()
    torch.save({"loss": loss.detach(), "q": q.grad, "p": p.grad, "n": n.grad}, f"{out_dir}/rank{rank}.pt")
    dist.destroy_process_group()


def test_negatives_gathered_across_processes_with_gradients(tmp_path):
    """Two gloo processes, each with half the batch, match one process with the whole batch (grads x world)."""
    import torch.multiprocessing as mp

    world = 2
    mp.spawn(_gather_worker, args=(world, str(tmp_path / "init"), str(tmp_path)), nprocs=world, join=True)
    g = torch.Generator().manual_seed(0)
    q, p, n = (torch.randn(world * 2, 8, generator=g).requires_grad_() for _ in range(3))
    full = info_nce(q, p, n)
    full.backward()
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(world)]
    assert torch.stack([r["loss"] for r in ranks]).mean().item() == pytest.approx(full.item(), rel=1e-6)
    for name, tensor in (("q", q), ("p", p), ("n", n)):
        got = torch.cat([r[name] for r in ranks])  # each rank's gradient of its own rows
        # DDP averages over ranks, so rank-level gradients are world x the full-batch mean-loss gradients
        torch.testing.assert_close(got, world * tensor.grad, rtol=1e-5, atol=1e-7)


def test_trainer_batches_embed_exactly_as_llm2vec_encodes():
    """One batch path: the SimCSE collator's groups through ``embed`` give ``LLM2Vec.encode``'s vectors, bit for bit."""
    from lab.batch import embed
    from lab.training.contrastive import encode_texts
    from lab.training.simcse import SimCSECollator
    from lab.training.supervised import PairCollator, PairRecord, encode_records

    encoder = LLM2Vec.from_model(tiny_model("qwen2"), tiny_tokenizer(), EncoderConfig(pooling="weighted_mean"))
    texts = ["The cat sat on the mat.", "A dog ran in the park while it was raining.", "Stock markets fell."]
    features = encode_texts(encoder.tokenizer, texts, "weighted_mean", encoder.config.max_length)
    items = [{**f, "index": i} for i, f in enumerate(features)]  # as SequenceDataset hands them out
    batch = SimCSECollator(encoder.tokenizer.pad_token_id)(items)
    expected = torch.as_tensor(encoder.encode(texts, batch_size=len(texts)))
    with torch.no_grad():
        assert torch.equal(embed(encoder.model, batch.query, "weighted_mean"), expected)
    records = [PairRecord(t, t, instruction="Find it:") for t in texts]
    pairs = encode_records(encoder.tokenizer, records, "weighted_mean", encoder.config.max_length)
    pair_batch = PairCollator(encoder.tokenizer.pad_token_id)([{"input_ids": r, "index": 0} for r in pairs])
    assert pair_batch.negative is None
    with torch.no_grad():
        queries = embed(encoder.model, pair_batch.query, "weighted_mean")
    instructed = encoder.encode([("Find it:", t) for t in texts], batch_size=len(texts))
    assert torch.equal(queries, torch.as_tensor(instructed))
