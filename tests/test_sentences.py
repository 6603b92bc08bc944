"""The Wikipedia sentence splitter SimCSE trains on: boundaries, abbreviations, filtering and de-duplication."""

from __future__ import annotations

import pytest

from lab.data.sentences import sentences_of_documents, split_sentences


def test_split_at_sentence_ends_only():
    text = 'Dr. Smith went to Washington, D.C. in 1999. He met J. R. R. Tolkien! Was it "real"? "Yes," he said.'
    assert split_sentences(text) == [
        "Dr. Smith went to Washington, D.C. in 1999.",
        "He met J. R. R. Tolkien!",
        'Was it "real"?',
        '"Yes," he said.',
    ]


def test_split_keeps_every_character_but_spaces():
    text = "Anarchism is a philosophy. It opposes the state (e.g. Proudhon). In 1840 it grew. Mr. X agreed."
    pieces = split_sentences(text)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    assert pieces == ["Anarchism is a philosophy.", "It opposes the state (e.g. Proudhon).", "In 1840 it grew.",
                      "Mr. X agreed."]  # fmt: skip


def test_sentences_of_documents_filters_and_dedupes_in_order():
    docs = [
        "Short one. This sentence has exactly six words.\n\nAnother paragraph with enough words in it here.",
        "This sentence has exactly six words. A new sentence comes from the second document.",
    ]
    assert sentences_of_documents(docs, min_words=5, max_words=10) == [
        "This sentence has exactly six words.",
        "Another paragraph with enough words in it here.",
        "A new sentence comes from the second document.",
    ]
    assert sentences_of_documents(docs, min_words=7, max_words=8) == [
        "Another paragraph with enough words in it here.",
        "A new sentence comes from the second document.",
    ]
    with pytest.raises(ValueError, match="min_words <= max_words"):
        sentences_of_documents(docs, min_words=9, max_words=3)


def test_wiki_sentences_are_many_distinct_sentences():
    from lab.data.sentences import MAX_WORDS, MIN_WORDS, wiki_sentences

    sentences = wiki_sentences()
    assert len(sentences) > 5000 and len(set(sentences)) == len(sentences)
    assert all(MIN_WORDS <= len(s.split()) <= MAX_WORDS for s in sentences)
    assert sum(s[0].isupper() or s[0].isdigit() or s[0] in "\"'(" for s in sentences) > 0.97 * len(sentences)
    assert sum(s.endswith((".", "!", "?", '."', ".)")) for s in sentences) > 0.9 * len(sentences)
