"""Built-in example corpora read at run time by ``lab.data``'s readers from installed data packages (never copied).

- STS-B: sentences of the STS benchmark's dev split, labelled by genre (image captions, news headlines, forum posts).
- CoNLL-2003: Reuters news sentences of the validation split, labelled by topic (the sport named in a story's
  headline, e.g. ``SOCCER - ...``; ``news`` for the other stories: politics, markets, companies).
"""

from __future__ import annotations

import random
import re
from collections import Counter

from lab.data.conll import read_conll_documents, split_path
from lab.data.stsb import load_stsb
from lab.explore.corpus import Corpus, CorpusError

STSB_GENRES = {"main-captions": "captions", "main-news": "news", "main-forum": "forums", "main-forums": "forums"}
MIN_WORDS = 8  # CoNLL lines shorter than this are datelines, bylines and table rows, not sentences
MIN_WORD_SHARE = 0.7  # share of alphabetic tokens: leaves out result tables ("Gloucestershire 183 and 185-6 ( ...")
MIN_TOPIC_SIZE = 30  # topics with fewer good sentences are left out, so the plot's colours stay readable


def stsb_sentences() -> Corpus:
    """Every distinct sentence of STS-B dev, labelled by genre, in file order."""
    seen: dict[str, str] = {}
    for pair in load_stsb("dev"):  # a missing package: MissingPackageError (a ValueError) names the pip command
        genre = STSB_GENRES.get(pair.genre, pair.genre)
        for sentence in (pair.sentence1, pair.sentence2):
            sentence = " ".join(sentence.split())
            if sentence and sentence not in seen:
                seen[sentence] = genre
    return Corpus(list(seen), list(seen.values()))


def _detokenize(sentence: str) -> str:
    """Undo CoNLL's tokenisation where it is unambiguous: ``world 's best ( $ 23 ) .`` -> ``world's best ($23).``"""
    sentence = re.sub(r" ([.,;:!?%)\]]|'s|n't|'re|'ve|'ll|'d|'m)(?=\s|$)", r"\1", sentence)
    return re.sub(r"([($\[]) ", r"\1", sentence)


def _topic(headline: str) -> str:
    """``SOCCER - ROMANIA BEAT ...`` -> ``soccer``; other headlines -> ``news``."""
    prefix = headline.split(" - ", 1)[0].strip()
    if " - " in headline and prefix.isupper() and prefix not in ("PRESS DIGEST", "PRESALE"):
        return prefix.lower()
    return "news"


def _is_prose(sentence: str) -> bool:
    words = sentence.split()
    alphabetic = sum(any(c.isalpha() for c in w) for w in words)
    return len(words) >= MIN_WORDS and sentence.endswith(".") and alphabetic >= MIN_WORD_SHARE * len(words)


def conll_sentences() -> Corpus:
    """Prose sentences (headlines, datelines, tables left out) of CoNLL-2003 validation, labelled by topic."""
    found: dict[str, str] = {}
    for document in read_conll_documents(split_path("valid")):
        headline, *body = (" ".join(sentence.words) for sentence in document)
        topic = _topic(headline)
        for sentence in body:
            if _is_prose(sentence):
                found.setdefault(_detokenize(sentence), topic)
    sizes = Counter(found.values())
    kept = {text: topic for text, topic in found.items() if sizes[topic] >= MIN_TOPIC_SIZE}
    return Corpus(list(kept), list(kept.values()))


EXAMPLE_SETS = {
    "STS-B sentences (label: genre)": stsb_sentences,
    "CoNLL-2003 news sentences (label: topic)": conll_sentences,
}


def load_example(name: str, size: int = 200, seed: int = 0) -> Corpus:
    """A random sample of ``size`` texts of an example set, balanced over its labels as far as they allow."""
    if name not in EXAMPLE_SETS:
        raise CorpusError(f"Unknown example set {name!r}; expected one of: {', '.join(EXAMPLE_SETS)}.")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"The example size must be a positive whole number; got {size!r}.")
    full = EXAMPLE_SETS[name]()
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(full.labels or [""] * len(full)):
        by_label.setdefault(label, []).append(index)
    rng = random.Random(seed)
    for indices in by_label.values():
        rng.shuffle(indices)
    chosen: list[int] = []
    while len(chosen) < min(size, len(full)):  # round-robin over labels: small topics are not drowned out
        for indices in by_label.values():
            if indices and len(chosen) < size:
                chosen.append(indices.pop())
    chosen.sort()
    return Corpus([full.texts[i] for i in chosen], [full.labels[i] for i in chosen] if full.labels else None)
