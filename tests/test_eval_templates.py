"""Echo embeddings and PromptEOL: the exact token ids and pooled positions, and the embeddings of a manual forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from lab import EncoderConfig, LLM2Vec
from lab.models import resolve_model_path
from lab.templates import template_features

TEXT = "A man is playing a guitar."
OTHER = "Stock markets fell sharply on Monday after the central bank raised interest rates."
INSTRUCTION = "Retrieve semantically similar text."


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    return AutoTokenizer.from_pretrained(resolve_model_path("smollm2-135m"))


def plain_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("instruction", ["", INSTRUCTION])
def test_echo_ids_are_the_pieces_and_the_pooled_tokens_are_the_second_copy(smollm2_tokenizer, instruction):
    tok = smollm2_tokenizer
    [feature] = template_features(tok, [(instruction, TEXT)], "echo", max_length=512)
    pieces = [instruction, " Rewrite the sentence:"] if instruction else ["Rewrite the sentence:"]
    pieces += [f" {TEXT}", ", rewritten sentence:", f" {TEXT}"]  # written out by hand; SmolLM2 adds no BOS
    assert feature["input_ids"].tolist() == [i for piece in pieces for i in plain_ids(tok, piece)]
    n = len(plain_ids(tok, f" {TEXT}"))
    expected = np.zeros(len(feature["input_ids"]), dtype=bool)
    expected[-n:] = True  # the second copy closes the prompt
    assert feature["pool_mask"].tolist() == expected.tolist()
    assert tok.decode(feature["input_ids"][feature["pool_mask"]]) == f" {TEXT}"


@pytest.mark.parametrize("template", ["echo", "prompteol"])
def test_pieces_tokenise_as_the_whole_prompt_where_no_merge_crosses_a_boundary(smollm2_tokenizer, template):
    text = TEXT.rstrip(".")  # "guitar." + ", rewritten" would merge into one ".," token in one call
    prompts = {
        "echo": f"{INSTRUCTION} Rewrite the sentence: {text}, rewritten sentence: {text}",
        "prompteol": f'{INSTRUCTION} This sentence : "{text}" means in one word:"',
    }
    [feature] = template_features(smollm2_tokenizer, [(INSTRUCTION, text)], template, max_length=512)
    assert feature["input_ids"].tolist() == plain_ids(smollm2_tokenizer, prompts[template])


@pytest.mark.parametrize("instruction", ["", INSTRUCTION])
def test_prompteol_ids_are_the_pieces_and_only_the_last_token_is_pooled(smollm2_tokenizer, instruction):
    tok = smollm2_tokenizer
    [feature] = template_features(tok, [(instruction, TEXT)], "prompteol", max_length=512)
    pieces = [instruction, ' This sentence : "'] if instruction else ['This sentence : "']
    pieces += [TEXT, '" means in one word:"']
    assert feature["input_ids"].tolist() == [i for piece in pieces for i in plain_ids(tok, piece)]
    assert np.flatnonzero(feature["pool_mask"]).tolist() == [len(feature["input_ids"]) - 1]
    assert tok.decode(feature["input_ids"][-1:]).endswith('"')


def test_a_long_text_is_cut_alike_in_both_echo_copies(smollm2_tokenizer):
    tok = smollm2_tokenizer
    [feature] = template_features(tok, [("", OTHER * 4)], "echo", max_length=40)
    ids = feature["input_ids"].tolist()
    assert len(ids) <= 40
    head, middle = plain_ids(tok, "Rewrite the sentence:"), plain_ids(tok, ", rewritten sentence:")
    room = (40 - len(head) - len(middle)) // 2
    copy = plain_ids(tok, f" {OTHER * 4}")[:room]
    assert ids == head + copy + middle + copy
    with pytest.raises(ValueError, match="leaves no room for the text"):
        template_features(tok, [("", TEXT)], "echo", max_length=8)


def manual_states(model: LLM2Vec, prompt: str) -> torch.Tensor:
    """Last hidden states of one unpadded prompt, tokenised in one call, through the bare causal decoder. -> (T, C)"""
    ids = model.tokenizer(prompt, add_special_tokens=True, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model.model(input_ids=ids).last_hidden_state[0].float()


@pytest.fixture(scope="module")
def echo() -> LLM2Vec:
    return LLM2Vec.from_pretrained("tiny-llama", bidirectional=False, template="echo")


def test_echo_embedding_is_the_mean_over_the_second_copy_of_a_manual_forward(echo):
    text = TEXT.rstrip(".")  # no merge across a piece boundary, so one tokenizer call gives the same ids
    states = manual_states(echo, f"Rewrite the sentence: {text}, rewritten sentence: {text}")
    n = len(plain_ids(echo.tokenizer, f" {text}"))
    expected = states[-n:].mean(dim=0).numpy()  # hand-built positions: the last n tokens
    batch = echo.encode([OTHER, text, "Hi."], batch_size=3)  # padded beside longer and shorter prompts
    np.testing.assert_allclose(batch[1], expected, rtol=1e-4, atol=1e-5)
    assert echo.config.pooling == "mean" and not echo.config.bidirectional


def test_prompteol_embedding_is_the_last_state_of_a_manual_forward():
    model = LLM2Vec.from_pretrained("tiny-llama", bidirectional=False, template="prompteol")
    assert model.config.pooling == "last_token"  # the template's own pooling; no EOS is appended
    expected = manual_states(model, f'{INSTRUCTION} This sentence : "{TEXT}" means in one word:"')[-1].numpy()
    batch = model.encode([(INSTRUCTION, TEXT), OTHER], batch_size=2, padding_side="left")
    np.testing.assert_allclose(batch[0], expected, rtol=1e-4, atol=1e-5)


def test_template_settings_are_validated_and_saved(echo, tmp_path):
    with pytest.raises(ValueError, match="Unknown template 'twice'"):
        EncoderConfig(template="twice")
    with pytest.raises(ValueError, match="Template 'prompteol' pools with last_token; got pooling 'mean'"):
        EncoderConfig(template="prompteol", pooling="mean")
    echo.save(tmp_path / "echo")
    reloaded = LLM2Vec.from_pretrained(tmp_path / "echo")
    assert reloaded.config.template == "echo" and "template=echo" in repr(reloaded)
    np.testing.assert_allclose(reloaded.encode(TEXT), echo.encode(TEXT), rtol=1e-5, atol=1e-6)
