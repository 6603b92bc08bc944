"""The public encoder: sentence-transformers conventions, invariances, instructions, adapters, save/load, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab import EncoderConfig, LLM2Vec
from lab.batch import length_batches
from lab.pooling import POOLING_MODES


def assert_same_embeddings(a: np.ndarray, b: np.ndarray) -> None:
    """The issue's bar: cosine >= 0.99999 and max |a - b| <= 1e-4 x the vector's norm, row by row."""
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    assert cos.min() >= 0.99999, cos.min()
    assert (np.abs(a - b).max(-1) <= 1e-4 * np.linalg.norm(a, axis=-1)).all(), np.abs(a - b).max()


@pytest.fixture(scope="module")
def tiny() -> LLM2Vec:
    return LLM2Vec.from_pretrained("tiny-llama")


@pytest.mark.parametrize("name", ["tiny", "smollm2"])
def test_batch_size_padding_side_and_order_do_not_matter(request, name, sentences):
    model = request.getfixturevalue(name)
    reference = model.encode(sentences, batch_size=1)
    assert_same_embeddings(model.encode(sentences, batch_size=len(sentences)), reference)
    assert_same_embeddings(model.encode(sentences, batch_size=4, padding_side="left"), reference)
    order = np.random.default_rng(0).permutation(len(sentences))
    shuffled = model.encode([sentences[i] for i in order], batch_size=3)
    assert_same_embeddings(shuffled[np.argsort(order)], reference)


def test_length_batches_cover_every_text_within_the_token_budget():
    lengths = np.random.default_rng(0).integers(0, 40, size=200)  # 0: an empty text, padded to one token
    sizes = np.maximum(lengths, 1)
    for budget in (1, 7, 64, 300, 10_000):
        batches = length_batches(lengths, batch_size=32, max_tokens=budget)
        assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))  # every text exactly once
        flat = np.concatenate(batches)
        assert (np.diff(sizes[flat]) <= 0).all()  # longest first throughout
        for i, index in enumerate(batches):
            width = sizes[index].max()
            assert len(index) == 1 or len(index) * width <= budget  # within budget, or one text past it alone
            if i + 1 < len(batches):  # greedy: the next text would not have fit
                assert (len(index) + 1) * width > budget
    by_count = length_batches(lengths, batch_size=32)
    assert [len(b) for b in by_count] == [32] * 6 + [8]


def test_token_budget_batches_give_the_same_vectors_in_input_order(tiny, sentences, monkeypatch):
    texts = sentences + [s.lower() for s in sentences[::-1]] + ["Hi."]  # mixed lengths, not sorted, ties
    lengths = [len(f["input_ids"]) for f in tiny.tokenize(texts)]
    budget = 3 * max(lengths)  # the longest texts share a batch of 3; the shortest, bigger ones
    shapes, real_embed = [], tiny.embed_batch

    def recording_embed(batch):  # the (rows, width) of every batch encode runs
        shapes.append(tuple(batch.input_ids.shape))
        return real_embed(batch)

    monkeypatch.setattr(tiny, "embed_batch", recording_embed)
    by_budget = tiny.encode(texts, max_tokens_per_batch=budget)
    monkeypatch.undo()
    assert len({rows for rows, _ in shapes}) > 1 and all(rows * width <= budget for rows, width in shapes)
    assert sum(rows for rows, _ in shapes) == len(texts)
    assert_same_embeddings(by_budget, tiny.encode(texts, batch_size=4))
    for i in (0, 3, len(texts) - 2):  # row i is text i encoded on its own: the input order is restored
        assert_same_embeddings(by_budget[i : i + 1], tiny.encode(texts[i])[None])
    with pytest.raises(ValueError, match="max_tokens_per_batch must be a positive integer; got 0"):
        tiny.encode(texts, max_tokens_per_batch=0)


@pytest.mark.parametrize("pooling", POOLING_MODES)
def test_every_pooling_is_batch_invariant(pooling, sentences):
    model = LLM2Vec.from_pretrained("tiny-qwen2", pooling=pooling)
    assert_same_embeddings(
        model.encode(sentences, batch_size=2, padding_side="left"), model.encode(sentences, batch_size=1)
    )


def test_sentence_transformers_conventions(tiny, sentences):
    single = tiny.encode(sentences[0])
    assert single.shape == (tiny.embedding_dim,) and single.dtype == np.float32
    matrix = tiny.encode(sentences)
    assert matrix.shape == (len(sentences), tiny.embedding_dim)
    np.testing.assert_allclose(matrix[0], single, rtol=1e-5, atol=1e-6)
    assert tiny.encode([]).shape == (0, tiny.embedding_dim)
    tensor = tiny.encode(sentences, convert_to_tensor=True)
    assert isinstance(tensor, torch.Tensor) and tensor.shape == matrix.shape
    normed = tiny.encode(sentences, normalize_embeddings=True)
    np.testing.assert_allclose(np.linalg.norm(normed, axis=-1), 1.0, rtol=1e-5)


def test_instruction_is_attended_but_never_pooled(smollm2):
    instruction, text = "Retrieve passages about: ", "the history of tea"
    (features,) = smollm2.tokenize([(instruction, text)])
    joined = smollm2.tokenizer(instruction.strip() + " " + text, add_special_tokens=True)["input_ids"]
    n_instruction = len(smollm2.tokenizer(instruction.strip(), add_special_tokens=True)["input_ids"])
    assert features["input_ids"].tolist() == joined
    assert features["pool_mask"].tolist() == [0] * n_instruction + [1] * (len(joined) - n_instruction)
    with_instruction = smollm2.encode([(instruction, text)])[0]
    alone = smollm2.encode([text])[0]
    assert not np.allclose(with_instruction, alone, atol=1e-4)  # bidirectional: the text's tokens saw the instruction
    with smollm2_causal_mean() as causal:  # causal: the text comes after the instruction, so it still sees it
        assert not np.allclose(causal.encode([(instruction, text)])[0], causal.encode([text])[0], atol=1e-4)


class smollm2_causal_mean:
    def __enter__(self) -> LLM2Vec:
        return LLM2Vec.from_pretrained("smollm2-135m", bidirectional=False, device="cpu")

    def __exit__(self, *exc) -> None:
        return None


def test_eos_pooling_appends_the_tokenizers_eos_and_pools_it(smollm2):
    model = LLM2Vec(smollm2.model, smollm2.tokenizer, EncoderConfig(pooling="eos_token"))
    (features,) = model.tokenize(["a short text"])
    assert features["input_ids"][-1] == smollm2.tokenizer.eos_token_id
    assert features["pool_mask"].tolist() == [0] * (len(features["pool_mask"]) - 1) + [1]
    last = LLM2Vec(smollm2.model, smollm2.tokenizer, EncoderConfig(pooling="last_token"))
    np.testing.assert_array_equal(model.encode(["a short text"]), last.encode(["a short text"]))


def test_bos_pooling_prepends_a_bos_when_the_tokenizer_adds_none(smollm2):
    model = LLM2Vec(smollm2.model, smollm2.tokenizer, EncoderConfig(pooling="bos_token"))
    (features,) = model.tokenize(["a short text"])
    assert features["input_ids"][0] == smollm2.tokenizer.bos_token_id
    assert features["pool_mask"].tolist() == [1] + [0] * (len(features["pool_mask"]) - 1)


def test_long_texts_are_truncated_to_max_length(smollm2):
    model = LLM2Vec(smollm2.model, smollm2.tokenizer, EncoderConfig(max_length=64))
    huge = "word " * 200_000
    (features,) = model.tokenize([huge])
    assert len(features["input_ids"]) == 64
    assert model.encode(huge).shape == (model.embedding_dim,)
    eos = LLM2Vec(smollm2.model, smollm2.tokenizer, EncoderConfig(max_length=64, pooling="eos_token"))
    assert len(eos.tokenize([huge])[0]["input_ids"]) == 64


def test_empty_text_still_gets_a_finite_embedding(tiny):
    assert np.isfinite(tiny.encode(["", "x"])).all()


@pytest.mark.parametrize("bad", [None, 5, ["ok", None], ["ok", ("only one",)], [("a", 3)]])
def test_wrong_types_raise_a_type_error_naming_the_item(tiny, bad):
    with pytest.raises(TypeError, match="expected a string"):
        tiny.encode(bad)


def test_unknown_pooling_and_model_raise_value_errors_listing_the_choices():
    with pytest.raises(ValueError, match="expected one of mean, weighted_mean, last_token, eos_token, bos_token"):
        LLM2Vec.from_pretrained("tiny-llama", pooling="max")
    with pytest.raises(ValueError, match="Known names: smollm2-135m"):
        LLM2Vec.from_pretrained("no-such-model")
    with pytest.raises(ValueError, match="Unknown tiny architecture 'gpt9'; expected one of"):
        LLM2Vec.from_pretrained("tiny-gpt9")
    with pytest.raises(ValueError, match="Unknown adapter"):
        LLM2Vec.from_pretrained("tiny-llama", adapters=["/no/such/adapter"])


def test_similarity_is_the_cosine_matrix(tiny, sentences):
    a, b = tiny.encode(sentences[:3]), tiny.encode(sentences[3:])
    sims = LLM2Vec.similarity(a, b)
    manual = np.array([[x @ y / np.linalg.norm(x) / np.linalg.norm(y) for y in b] for x in a])
    assert isinstance(sims, np.ndarray) and sims.shape == (3, 3)
    np.testing.assert_allclose(sims, manual, rtol=1e-5, atol=1e-6)
    assert isinstance(LLM2Vec.similarity(torch.from_numpy(a), torch.from_numpy(b)), torch.Tensor)


def test_defaults_are_fp32_on_cpu_and_bidirectional(tiny):
    assert tiny.model.dtype == torch.float32 and tiny.config.bidirectional and tiny.config.pooling == "mean"


def make_random_lora(directory, seed: int) -> None:
    """A LoRA adapter with non-zero random weights on the tiny decoder, saved as peft does."""
    from peft import LoraConfig, get_peft_model

    from lab.tiny import tiny_model

    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    get_peft_model(tiny_model("llama"), config).save_pretrained(directory)


def test_adapters_merge_in_order_and_match_an_unmerged_peft_model(tmp_path, sentences):
    from peft import PeftModel

    from lab.tiny import tiny_model, tiny_tokenizer

    make_random_lora(tmp_path / "a", seed=1)
    merged = LLM2Vec.from_pretrained("tiny-llama", adapters=[tmp_path / "a"])
    unmerged = PeftModel.from_pretrained(tiny_model("llama"), str(tmp_path / "a"))  # LoRA applied on the fly
    reference = LLM2Vec.from_model(unmerged, tiny_tokenizer(), EncoderConfig())
    assert_same_embeddings(merged.encode(sentences), reference.encode(sentences))
    plain = LLM2Vec.from_pretrained("tiny-llama").encode(sentences)
    assert not np.allclose(merged.encode(sentences), plain, atol=1e-4)
    assert merged.config.adapters == [str(tmp_path / "a")]


def test_save_and_reload_give_identical_embeddings(tmp_path, sentences):
    make_random_lora(tmp_path / "a", seed=2)
    model = LLM2Vec.from_pretrained("tiny-llama", pooling="weighted_mean", max_length=64, adapters=[tmp_path / "a"])
    model.save(tmp_path / "saved")
    reloaded = LLM2Vec.from_pretrained(tmp_path / "saved")
    assert reloaded.config.pooling == "weighted_mean" and reloaded.config.max_length == 64
    np.testing.assert_array_equal(reloaded.encode(sentences), model.encode(sentences))


def test_minilm_through_llm2vec_equals_sentence_transformers_mean_pooling(sentences):
    """Encoders like MiniLM pool every attended token, [CLS] and [SEP] included (its registry defaults say so)."""
    from transformers import AutoModel, AutoTokenizer

    from lab.models import resolve_model_path

    model = LLM2Vec.from_pretrained("all-minilm-l6-v2", device="cpu")
    assert model.config.pool_special_tokens and model.config.pooling == "mean"
    path = resolve_model_path("all-minilm-l6-v2")
    tokenizer, bert = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    batch = tokenizer(sentences, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = bert(**batch).last_hidden_state  # (B, T, C)
    mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
    expected = ((hidden * mask).sum(1) / mask.sum(1)).numpy()  # sentence-transformers' Pooling(mean)
    assert_same_embeddings(model.encode(sentences, batch_size=4), expected)


def test_adapter_with_a_trained_new_token_row_loads(tmp_path, sentences):
    """MNTP with a new <mask> token saves its embedding row with the adapter; loading grows the embeddings first."""
    from peft import LoraConfig, get_peft_model

    from lab.tiny import tiny_model

    base = tiny_model("llama")
    new_row = base.get_input_embeddings().num_embeddings
    base.resize_token_embeddings(new_row + 1)
    config = LoraConfig(r=4, target_modules=["q_proj"], trainable_token_indices={"embed_tokens": [new_row]})
    get_peft_model(base, config).save_pretrained(tmp_path / "masked")
    model = LLM2Vec.from_pretrained("tiny-llama", adapters=[tmp_path / "masked"])
    assert model.model.get_input_embeddings().num_embeddings == new_row + 1
    assert np.isfinite(model.encode(sentences)).all()
