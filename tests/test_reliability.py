"""Reliability of the encoder API (issue 12): no silent wrong result, a typed error that says what to do."""

from __future__ import annotations

import json
import logging
import threading

import numpy as np
import pytest
import torch

from lab import LLM2Vec

TEXTS = [
    f"Sentence number {i} is about cats, dogs, markets and the weather on the Moon {'again ' * (i % 9)}"
    for i in range(20)
]


@pytest.fixture(scope="module")
def tiny() -> LLM2Vec:
    return LLM2Vec.from_pretrained("tiny-llama", max_length=16, device="cpu")


def make_lora(directory, arch: str = "llama", settings: dict | None = None, base: str | None = None) -> None:
    """A random LoRA adapter on ``tiny-<arch>`` saved as peft does, optionally with the settings training writes."""
    from peft import LoraConfig, get_peft_model

    from lab.tiny import tiny_model

    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    model = get_peft_model(tiny_model(arch), config)
    model.peft_config["default"].base_model_name_or_path = base or f"tiny-{arch}"
    model.save_pretrained(directory)
    if settings is not None:
        from lab.adapters import SETTINGS_NAME

        (directory / SETTINGS_NAME).write_text(json.dumps(settings))


def test_tokenisation_is_thread_safe_at_a_short_max_length(tiny):
    """Four threads share one encoder: every thread's features equal the serial ones (truncation never leaks)."""
    serial = tiny.tokenize(TEXTS)
    assert max(len(f["input_ids"]) for f in serial) == 16  # the limit really cuts
    wrong: list[int] = []

    def work() -> None:
        for _ in range(30):
            got = tiny.tokenize(TEXTS)
            wrong.extend(
                i for i, (a, b) in enumerate(zip(got, serial)) if not np.array_equal(a["input_ids"], b["input_ids"])
            )

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_strings_are_never_read_as_booleans(tmp_path, caplog):
    with pytest.raises(TypeError, match="bidirectional must be True or False; got 'no'"):
        LLM2Vec.from_pretrained("tiny-llama", bidirectional="no")
    model = LLM2Vec.from_pretrained("tiny-llama", device="cpu")
    model.save(tmp_path / "saved")
    config = json.loads((tmp_path / "saved" / "llm2vec_config.json").read_text())
    (tmp_path / "saved" / "llm2vec_config.json").write_text(json.dumps({**config, "bidirectional": "false"}))
    with pytest.raises(TypeError, match=r"llm2vec_config.json: bidirectional must be True or False; got 'false'"):
        LLM2Vec.from_pretrained(tmp_path / "saved")
    (tmp_path / "saved" / "llm2vec_config.json").unlink()
    with caplog.at_level(logging.WARNING, logger="lab.encoder"):
        LLM2Vec.from_pretrained(tmp_path / "saved")
    assert "has no llm2vec_config.json" in caplog.text


def test_save_is_atomic(tmp_path, tiny, monkeypatch):
    tiny.save(tmp_path / "enc")
    before = sorted(p.name for p in (tmp_path / "enc").iterdir())

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tiny.tokenizer, "save_pretrained", broken)
    with pytest.raises(OSError, match="disk full"):
        tiny.save(tmp_path / "enc")
    with pytest.raises(OSError, match="disk full"):
        tiny.save(tmp_path / "new")
    assert sorted(p.name for p in (tmp_path / "enc").iterdir()) == before  # the old save is whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc"]  # no half-written folder, no temporary left


def test_an_instruction_that_leaves_no_text_token_is_an_error(tiny):
    instruction = "Retrieve every passage that talks about cats, dogs, markets, the weather and the Moon:"
    with pytest.raises(ValueError, match=r"Item 1: the instruction leaves no token of the text .* max_length=16"):
        tiny.encode([("Find:", "a cat"), (instruction, "a cat"), "a dog"])
    assert tiny.encode([("Find:", "a cat"), ("Find:", "")]).shape == (2, 64)  # an empty text stays allowed


def test_bad_arguments_are_typed_errors_that_say_what_to_do(tmp_path):
    with pytest.raises(TypeError, match=r"adapters must be a list .* got the string 'mntp'; did you mean \['mntp'\]"):
        LLM2Vec.from_pretrained("tiny-llama", adapters="mntp")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda' .* no CUDA GPU"):
            LLM2Vec.from_pretrained("tiny-llama", device="cuda")
    tiny = LLM2Vec.from_pretrained("tiny-llama", device="cpu")
    with pytest.raises(ValueError, match="Item 1 is not valid text"):
        tiny.encode(["fine", "bad \ud800 surrogate"])
    (tmp_path / "not-peft").mkdir()
    (tmp_path / "not-peft" / "adapter_config.json").write_text("{}")
    with pytest.raises(ValueError, match=r"not-peft.* has no 'peft_type'"):
        LLM2Vec.from_pretrained("tiny-llama", adapters=[tmp_path / "not-peft"])


@pytest.mark.parametrize("arch", ["mistral", "phi3"])
def test_an_adapter_is_checked_against_its_base(tmp_path, arch):
    make_lora(tmp_path / "a", "llama")
    LLM2Vec.from_pretrained("tiny-llama", adapters=[tmp_path / "a"], device="cpu")  # its own base: fine
    with pytest.raises(ValueError, match=rf"was trained on 'tiny-llama', not 'tiny-{arch}'"):
        LLM2Vec.from_pretrained(f"tiny-{arch}", adapters=[tmp_path / "a"], device="cpu")
    make_lora(tmp_path / "b", "llama", settings={"model_type": "llama"}, base="some/other-name")
    with pytest.raises(ValueError, match=rf"architecture 'llama'.* this model is '{arch}'"):
        LLM2Vec.from_pretrained(f"tiny-{arch}", adapters=[tmp_path / "b"], device="cpu")
    make_lora(tmp_path / "c", "llama", base="some/other-name")  # nothing but the weights to go on
    message = r"q_proj, v_proj" if arch == "phi3" else None
    if message:  # phi3 fuses q/k/v: the adapter's modules are missing, not silently skipped
        with pytest.raises(ValueError, match=rf"targets modules this model does not have .*{message}"):
            LLM2Vec.from_pretrained(f"tiny-{arch}", adapters=[tmp_path / "c"], device="cpu")


def test_adapter_settings_apply_explicit_arguments_win_and_conflicts_are_named(tmp_path):
    make_lora(tmp_path / "a", settings={"bidirectional": False, "pooling": "weighted_mean"})
    loaded = LLM2Vec.from_pretrained("tiny-llama", adapters=[tmp_path / "a"], device="cpu")
    assert (loaded.config.bidirectional, loaded.config.pooling) == (False, "weighted_mean")
    explicit = LLM2Vec.from_pretrained("tiny-llama", adapters=[tmp_path / "a"], pooling="mean", device="cpu")
    assert explicit.config.pooling == "mean" and not explicit.config.bidirectional
    make_lora(tmp_path / "b", settings={"pooling": "mean"})
    with pytest.raises(ValueError, match=r"pooling: .*/a' says 'weighted_mean' but .*/b' says 'mean'"):
        LLM2Vec.from_pretrained("tiny-llama", adapters=[tmp_path / "a", tmp_path / "b"], device="cpu")
    make_lora(tmp_path / "c", settings={"pooling": "mean", "bidirectional": "yes"})
    with pytest.raises(TypeError, match="bidirectional must be True or False; got 'yes'"):
        LLM2Vec.from_pretrained("tiny-llama", adapters=[tmp_path / "c"], device="cpu")
