"""MNTP: the collator's masking, THE SHIFT against a hand-computed loss, the loss mask, LoRA set-up, adapter loading,
resume-after-kill, and a short real run on SmolLM2 that lowers the masked-token loss."""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lab.batch import Batch, pad
from lab.bidirectional import is_causal
from lab.tiny import tiny_tokenizer
from lab.training.config import MNTPConfig
from lab.training.lora import build_lora_model, count_parameters, load_causal_lm, lora_target_modules
from lab.training.mntp import (
    IGNORE_INDEX,
    MNTPCollator,
    build_collator,
    mntp_forward,
    mntp_loss,
    resolve_mask_token,
    shift_for_mntp,
)

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def _collator(**overrides) -> MNTPCollator:
    values = dict(
        mask_token_id=5,
        pad_token_id=3,
        vocab_size=500,
        special_ids=[0, 1, 2, 3],
        mask_probability=0.2,
        masking="bert",
        generator=torch.Generator().manual_seed(0),
    )
    values.update(overrides)
    return MNTPCollator(**values)


def _features(rows: int = 64, length: int = 40, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    features = []
    for i in range(rows):
        n = length - (i % 7)  # ragged, so there is padding
        ids = rng.integers(10, 500, size=n)
        ids[0] = 1  # BOS
        ids[n // 2] = 2  # an EOS in the middle (never maskable either)
        features.append({"input_ids": ids})
    return features


# ---------------------------------------------------------------------------------------------- THE SHIFT


def test_shift_pairs_output_at_i_minus_1_with_label_at_i() -> None:
    outputs = torch.arange(5).view(1, 5, 1)  # output at position p holds p
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 42, IGNORE_INDEX, 43]])
    shifted_outputs, shifted_labels = shift_for_mntp(outputs, labels)
    pairs = [(int(o), int(lab)) for o, lab in zip(shifted_outputs.flatten(), shifted_labels.flatten()) if lab != -100]
    assert pairs == [(1, 42), (3, 43)]  # token 2 is read from position 1, token 4 from position 3


def test_mntp_loss_equals_hand_computed_loss_on_a_tiny_model() -> None:
    config = MNTPConfig(model="tiny-llama", lora_dropout=0.0)
    causal_lm, _ = load_causal_lm(config)
    causal_lm.eval()
    ids = torch.tensor([[1, 40, 41, 42, 43, 44, 45], [1, 50, 51, 52, 53, 3, 3]])
    attention = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]])
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[0, 2], labels[0, 6], labels[1, 3] = 41, 45, 52
    inputs = ids.clone()
    inputs[labels != IGNORE_INDEX] = 66  # the mask token
    with torch.no_grad():
        logits = causal_lm(input_ids=inputs, attention_mask=attention).logits  # (2, 7, V)
        loss, correct, n = mntp_loss(logits, labels)
        # by hand: token (row, i) is predicted from logits[row, i-1]
        terms = [
            -F.log_softmax(logits[0, 1], -1)[41],
            -F.log_softmax(logits[0, 5], -1)[45],
            -F.log_softmax(logits[1, 2], -1)[52],
        ]
        hand = torch.stack(terms).mean()
        hits = sum(int(logits[r, i - 1].argmax() == t) for r, i, t in [(0, 2, 41), (0, 6, 45), (1, 3, 52)])
    assert n == 3 and int(correct) == hits
    assert torch.allclose(loss, hand, atol=1e-5)
    # the efficient path (LM head only on targeted positions) gives the same loss
    batch = Batch(inputs, attention, torch.arange(7).expand(2, 7), attention, labels=labels)
    with torch.no_grad():
        fast_loss, fast_correct, fast_n = mntp_forward(causal_lm.model, causal_lm.lm_head, batch)
    assert torch.allclose(fast_loss, hand, atol=1e-5) and int(fast_correct) == hits and fast_n == 3
    # and the model really is bidirectional: the output at position 1 depends on a later token
    changed = inputs.clone()
    changed[0, 5] = 99
    with torch.no_grad():
        other = causal_lm(input_ids=changed, attention_mask=attention).logits
    assert not torch.allclose(other[0, 1], logits[0, 1])


def test_unmasked_positions_carry_no_loss() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 30, requires_grad=True)
    labels = torch.full((2, 6), IGNORE_INDEX)
    labels[0, 3], labels[1, 1] = 7, 9
    loss, _, _ = mntp_loss(logits, labels)
    loss.backward()
    # only the outputs at positions 2 (row 0) and 0 (row 1) receive a gradient
    touched = (logits.grad.abs().sum(-1) > 0).nonzero().tolist()
    assert touched == [[0, 2], [1, 0]]
    # changing the logits of every other position leaves the loss unchanged
    perturbed = logits.detach().clone()
    keep = torch.zeros(2, 6, dtype=torch.bool)
    keep[0, 2] = keep[1, 0] = True
    perturbed[~keep] = torch.randn_like(perturbed[~keep]) * 10
    assert torch.allclose(mntp_loss(perturbed, labels)[0], loss.detach())


def test_no_masked_token_gives_zero_loss_with_gradient() -> None:
    logits = torch.randn(1, 4, 10, requires_grad=True)
    loss, correct, n = mntp_loss(logits, torch.full((1, 4), IGNORE_INDEX))
    loss.backward()
    assert float(loss.detach()) == 0.0 and int(n) == 0 and logits.grad is not None


# ---------------------------------------------------------------------------------------------- collator


def test_collator_statistics_bert_80_10_10() -> None:
    collator = _collator(mask_probability=0.2)
    features = _features(rows=400, length=60)
    batch = collator(features)
    ids = pad(features, collator.pad_token_id).input_ids
    maskable = collator.maskable(ids, batch["attention_mask"])
    selected = batch["labels"] != IGNORE_INDEX
    assert not (selected & ~maskable).any()
    assert (batch["labels"][selected] == ids[selected]).all()  # labels are the original tokens, unshifted
    rate = selected.sum() / maskable.sum()
    assert abs(float(rate) - 0.2) < 0.01
    inputs = batch["input_ids"][selected]
    originals = ids[selected]
    to_mask = (inputs == 5).float().mean()
    kept = (inputs == originals).float().mean()
    assert abs(float(to_mask) - 0.8) < 0.02
    assert abs(float(kept) - 0.1) < 0.02  # (random draws that hit the original token are rare: 1/500)
    assert (batch["input_ids"][~selected] == ids[~selected]).all()  # unselected tokens untouched


def test_collator_replace_all_and_probability() -> None:
    collator = _collator(masking="replace_all", mask_probability=0.8)
    features = _features(rows=200)
    batch = collator(features)
    padded = pad(features, collator.pad_token_id)
    ids, attention = padded.input_ids, padded.attention_mask
    selected = batch["labels"] != IGNORE_INDEX
    assert (batch["input_ids"][selected] == 5).all()
    assert abs(float(selected.sum() / collator.maskable(ids, attention).sum()) - 0.8) < 0.02


def test_special_tokens_padding_and_first_position_never_masked() -> None:
    collator = _collator(masking="replace_all", mask_probability=1.0)  # mask everything allowed
    features = _features(rows=50)
    batch = collator(features)
    padded = pad(features, collator.pad_token_id)
    ids, attention = padded.input_ids, padded.attention_mask
    selected = batch["labels"] != IGNORE_INDEX
    specials = torch.isin(ids, torch.tensor([0, 1, 2, 3]))
    assert not selected[:, 0].any()  # the first token is never a target
    assert not (selected & specials).any()  # BOS, EOS, PAD, UNK are never masked
    assert not (selected & (attention == 0)).any()
    assert (selected == (attention.bool() & ~specials & (torch.arange(ids.shape[1]) > 0))).all()
    assert (batch["position_ids"][0] == torch.arange(ids.shape[1])).all()


def test_collator_special_ids_come_from_the_tokenizer() -> None:
    tokenizer = copy.deepcopy(tiny_tokenizer())
    mask_id = resolve_mask_token(tokenizer, "_")
    collator = build_collator(tokenizer, MNTPConfig(model="tiny-llama"), mask_id, vocab_size=len(tokenizer))
    assert {tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id} <= set(collator.special_ids)
    assert tokenizer.convert_ids_to_tokens(mask_id) == "_"
    assert resolve_mask_token(tokenizer, "eos") == tokenizer.eos_token_id
    new_id = resolve_mask_token(tokenizer, "<mask>")
    assert new_id == len(tokenizer) - 1 and tokenizer.mask_token == "<mask>"
    with pytest.raises(ValueError, match="expected '_', 'eos' or '<mask>'"):
        resolve_mask_token(tokenizer, "[MASK]")


# ---------------------------------------------------------------------------------------------- LoRA set-up


def test_lora_on_bare_decoder_lm_head_frozen() -> None:
    config = MNTPConfig(model="tiny-llama")
    causal_lm, _ = load_causal_lm(config)
    assert not is_causal(causal_lm)
    decoder = build_lora_model(causal_lm, config)
    names = [n for n, p in causal_lm.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    assert not causal_lm.lm_head.weight.requires_grad
    targets = {n.split(".")[-4] for n in names}  # ...q_proj.lora_A.default.weight
    assert targets == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert decoder.peft_config["default"].r == 16 and decoder.peft_config["default"].lora_alpha == 32
    assert lora_target_modules("phi3") == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    with pytest.raises(ValueError, match="No default LoRA targets for model_type 'gpt2'"):
        lora_target_modules("gpt2")


def test_new_mask_token_embedding_is_the_only_extra_trainable() -> None:
    config = MNTPConfig(model="tiny-llama", mask_token="<mask>")
    causal_lm, tokenizer = load_causal_lm(config)
    mask_id = resolve_mask_token(tokenizer, "<mask>")
    causal_lm.resize_token_embeddings(len(tokenizer))
    decoder = build_lora_model(causal_lm, config, trainable_token_ids=[mask_id])
    extra = [n for n, p in decoder.named_parameters() if p.requires_grad and "lora_" not in n]
    assert extra and all("token_adapter" in n or "trainable_tokens" in n for n in extra)
    trainable, _ = count_parameters(decoder)
    lora_only = sum(p.numel() for n, p in decoder.named_parameters() if "lora_" in n)
    assert trainable == lora_only + causal_lm.config.hidden_size  # one embedding row


# ---------------------------------------------------------------------------------------------- end-to-end runs


def _run_cli(
    out: Path, *extra: str, wait: bool = True, steps: int = 8
) -> subprocess.Popen | subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "lab",
        "train",
        "mntp",
        "--model",
        "tiny-llama",
        "--output_dir",
        str(out),
        "--max_steps",
        str(steps),
        "--max_seq_length",
        "32",
        "--per_device_train_batch_size",
        "4",
        "--max_documents",
        "12",
        "--save_steps",
        "2",
        "--save_total_limit",
        "10",
        "--logging_steps",
        "1",
        "--eval_steps",
        "0",
        "--max_eval_sequences",
        "8",
        "--learning_rate",
        "5e-3",
        "--disable_tqdm",
        "true",
        *extra,
    ]
    if wait:
        return subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    return subprocess.Popen(
        command, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _adapter_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


STEPS = 6  # the resume test kills the run after its checkpoint at step 2


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted CLI run on a tiny model (shared by the resume and the loading tests)."""
    out = tmp_path_factory.mktemp("mntp") / "straight"
    result = _run_cli(out, steps=STEPS)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


@pytest.mark.slow
def test_resume_after_kill_matches_uninterrupted_run(straight_run: Path, tmp_path: Path) -> None:
    killed = tmp_path / "killed"
    process = _run_cli(killed, wait=False, steps=STEPS)
    deadline = time.time() + 240
    while not (killed / "checkpoint-2" / "trainer_state.json").is_file():  # a checkpoint, mid-run
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, "no checkpoint within 240 s"
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "adapter_model.safetensors").is_file(), "the run finished before the kill"

    resumed = _run_cli(killed, steps=STEPS)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = json.loads((straight_run / "metrics.json").read_text())
    b = json.loads((killed / "metrics.json").read_text())
    assert b["resumed_from"] is not None and b["global_step"] == a["global_step"] == STEPS
    assert math.isclose(a["final_train_loss"], b["final_train_loss"], rel_tol=1e-5)
    assert math.isclose(a["eval_loss"], b["eval_loss"], rel_tol=1e-5)
    wa, wb = _adapter_weights(straight_run), _adapter_weights(killed)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.allclose(wa[key], wb[key], atol=1e-6), key
    # the metrics log of the resumed run holds each step once, in order, like the uninterrupted one
    steps = [e["step"] for e in map(json.loads, (killed / "metrics.jsonl").read_text().splitlines()) if "loss" in e]
    assert steps == list(range(1, STEPS + 1))


@pytest.mark.slow
def test_cli_output_dir_loads_with_llm2vec(straight_run: Path) -> None:
    from lab.encoder import LLM2Vec

    out = straight_run
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "run_config.json",
        "metrics.json",
        "metrics.jsonl",
    ):
        assert (out / name).is_file(), name
    saved = json.loads((out / "run_config.json").read_text())
    assert saved["max_steps"] == STEPS and saved["mask_token"] == "_"
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"eval_loss", "eval_accuracy", "final_train_loss", "final_train_accuracy"} <= set(metrics)
    keys = _adapter_weights(out).keys()
    assert all(".layers." in k and "lm_head" not in k for k in keys)

    texts = ["The cat sat on the mat.", "Stock markets fell sharply on Monday."]
    plain = LLM2Vec.from_pretrained("tiny-llama").encode(texts)
    adapted = LLM2Vec.from_pretrained("tiny-llama", adapters=[str(out)]).encode(texts)
    assert adapted.shape == plain.shape and np.isfinite(adapted).all()
    assert not np.allclose(adapted, plain, atol=1e-4)


@pytest.mark.slow
def test_short_real_run_on_smollm2_lowers_masked_token_loss() -> None:
    """Five steps on one fixed batch of real Wikipedia text: the masked-token loss on that batch must drop."""
    from lab.data.corpus import load_documents, tokenize_documents

    config = MNTPConfig(model="smollm2-135m", max_seq_length=32, lora_dropout=0.0)
    causal_lm, tokenizer = load_causal_lm(config)
    decoder = build_lora_model(causal_lm, config)
    mask_id = resolve_mask_token(tokenizer, config.mask_token)
    collator = build_collator(
        tokenizer, config, mask_id, vocab_size=len(tokenizer), generator=torch.Generator().manual_seed(0)
    )
    sequences = tokenize_documents(load_documents("wiki-sample", max_documents=3), tokenizer, 32)
    batch = collator([{"input_ids": s} for s in sequences[:2]])
    optimizer = torch.optim.AdamW([p for p in decoder.parameters() if p.requires_grad], lr=1e-3)

    def loss_now() -> float:
        decoder.eval()
        with torch.no_grad():
            return float(mntp_forward(decoder, causal_lm.lm_head, batch)[0])

    before = loss_now()
    decoder.train()
    for _ in range(5):
        loss = mntp_forward(decoder, causal_lm.lm_head, batch)[0]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    after = loss_now()
    print(f"masked-token loss on the batch: {before:.3f} -> {after:.3f}")
    assert math.isfinite(before) and after < before - 0.5, (before, after)


# ---------------------------------------------------------------------------------------------- corpus


def test_clean_wikitext_removes_markup() -> None:
    from lab.data.corpus import clean_wikitext

    markup = (
        "{{Infobox person|name=Ada {{nested|x}}}}\n"
        "'''Ada Lovelace''' (10 December 1815 – 27 November 1852)<ref name=a>A source.</ref> was an English "
        "[[mathematician]] and [[Writer|writer]], chiefly known for her work on [[Charles Babbage]]'s "
        "[[Analytical Engine|proposed mechanical computer]].<ref>Another.</ref> [[File:Ada.jpg|thumb|A portrait]]\n"
        "{| class=wikitable\n|-\n| a table cell with many words in it || more |}\n"
        "* a list item that is long enough to count as words\n"
        "== See also ==\n"
        "Charles Babbage was her friend and this line is under See also so it is dropped.\n"
        "[[Category:Mathematicians]]"
    )
    text = clean_wikitext(markup)
    assert text == (
        "Ada Lovelace (10 December 1815 – 27 November 1852) was an English mathematician and writer, chiefly known "
        "for her work on Charles Babbage's proposed mechanical computer."
    )


def test_local_corpora_and_chunking_never_cross_documents(tmp_path: Path) -> None:
    from lab.data.corpus import load_documents, split_documents, tokenize_documents

    txt = tmp_path / "docs.txt"
    txt.write_text("The cat sat on the mat and looked at the dog.\n\nA dog ran in the park while it was raining.\n")
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text('{"text": "Scientists found water ice."}\n{"text": "The football club signed a striker."}\n')
    assert load_documents(str(txt)) == [
        "The cat sat on the mat and looked at the dog.",
        "A dog ran in the park while it was raining.",
    ]
    assert load_documents(str(jsonl), max_documents=1) == ["Scientists found water ice."]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"body": "x"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: expected a JSON object with a string 'text' field"):
        load_documents(str(bad))
    with pytest.raises(ValueError, match="hub is offline"):
        load_documents("wikitext-103-raw-v1")

    tokenizer = tiny_tokenizer()
    docs = ["The cat sat on the mat. " * 6, "A dog ran in the park while it was raining. " * 3]
    sequences = tokenize_documents(docs, tokenizer, max_seq_length=16, use_cache=False)
    assert all(len(s) <= 16 for s in sequences)
    per_doc = [tokenizer(d, add_special_tokens=False)["input_ids"] for d in docs]
    # each sequence is one consecutive window of one document (a last window under 8 tokens is dropped)
    expected = [ids[k : k + 16] for ids in per_doc for k in range(0, len(ids), 16) if len(ids[k : k + 16]) >= 8]
    assert [s.tolist() for s in sequences] == expected and len(expected) >= 4
    cached = tokenize_documents(docs, tokenizer, max_seq_length=16)
    again = tokenize_documents(docs, tokenizer, max_seq_length=16)
    assert [s.tolist() for s in cached] == [s.tolist() for s in again] == [s.tolist() for s in sequences]
    train, held = split_documents([f"doc {i}" for i in range(20)], 0.1, seed=0)
    assert len(held) == 2 and not set(train) & set(held) and len(train) == 18


@pytest.mark.slow
def test_offline_wiki_sample_is_clean_english() -> None:
    from lab.data.corpus import load_documents

    docs = load_documents("wiki-sample")
    assert len(docs) > 80 and sum(len(d.split()) for d in docs) > 300_000
    text = "\n".join(docs)
    for markup in ("{{", "}}", "[[", "]]", "<ref", "'''", "|}"):
        assert markup not in text, markup
    assert docs[0].startswith("Anarchism\n\nAnarchism is a political philosophy")


@pytest.mark.slow
def test_shipped_mntp_adapter_loads_and_changes_embeddings(smollm2) -> None:
    from lab.adapters import shipped_adapters
    from lab.encoder import LLM2Vec

    folder = shipped_adapters("smollm2-135m")["mntp"]
    card = (folder / "README.md").read_text()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert f"{metrics['eval_loss']:.3f}" in card and f"{100 * metrics['eval_accuracy']:.1f}%" in card
    texts = ["The cat sat on the mat.", "Stock markets fell sharply on Monday."]
    adapted = LLM2Vec.from_pretrained("smollm2-135m", adapters=["mntp"], device="cpu")
    assert adapted.config.adapters == ["mntp"]
    a, b = adapted.encode(texts, normalize_embeddings=True), smollm2.encode(texts, normalize_embeddings=True)
    assert a.shape == (2, 576) and np.isfinite(a).all()
    assert ((a * b).sum(1) < 0.999).all()  # the adapter moved every embedding
