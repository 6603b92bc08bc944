"""Wikipedia sentences for unsupervised SimCSE, the paper's choice of training data (LLM2Vec sec. 3.2).

SimCSE needs single sentences; the Wikipedia sample (``lab.data.corpus``) gives articles. ``split_sentences`` cuts a
paragraph at ``.``, ``!`` or ``?`` followed by a space and an upper-case letter, a digit or a quote, except after the
abbreviations and initials that end in a full stop ("Mr.", "U.S.", "J. R. R. Tolkien"). It is a rule-based splitter:
good enough to make training sentences (its errors are long sentences, never lost text), not a linguistic tool.
``wiki_sentences`` keeps sentences of ``min_words``..``max_words`` words, drops exact duplicates and returns them in
article order. STS-B is never touched, so STS-B dev and test stay unseen by training.
"""

from __future__ import annotations

import re

WIKI_SENTENCES = "wiki-sentences"  # the dataset name SimCSE configs use
MIN_WORDS = 5  # shorter pieces are headings, captions or splitter debris
MAX_WORDS = 64  # longer ones are usually lists glued together; SimCSE trains on sentences

# Words that end in "." without ending a sentence (lower-cased, without the final dot).
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc e.g i.e cf al approx ca c no vol fig pp ed eds rev gen col lt sgt capt "
    "gov sen rep jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k u.n a.d b.c inc ltd co corp mt ft".split()
)
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def _ends_with_abbreviation(text: str) -> bool:
    """True when ``text`` ends in an abbreviation or an initial ("Dr.", "U.S.", "J.")."""
    last = text.rstrip().rsplit(maxsplit=1)[-1].lstrip("\"'([").rstrip(".").lower() if text.strip() else ""
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


def split_sentences(paragraph: str) -> list[str]:
    """The sentences of one paragraph, in order; joining them with spaces gives the paragraph back (modulo spaces)."""
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(paragraph):
        piece = paragraph[start : match.start()]
        if _ends_with_abbreviation(piece):
            continue  # "Dr. Smith": not a boundary; the piece grows until the next real one
        sentences.append(piece.strip())
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return [s for s in sentences if s]


def sentences_of_documents(documents: list[str], min_words: int = MIN_WORDS, max_words: int = MAX_WORDS) -> list[str]:
    """Distinct sentences of ``min_words``..``max_words`` words from documents (paragraphs split by blank lines)."""
    if not 1 <= min_words <= max_words:
        raise ValueError(f"Need 1 <= min_words <= max_words; got {min_words} and {max_words}.")
    kept: dict[str, None] = {}  # insertion-ordered set: first occurrence wins
    for document in documents:
        for paragraph in document.split("\n\n"):
            for sentence in split_sentences(" ".join(paragraph.split())):
                if min_words <= len(sentence.split()) <= max_words:
                    kept.setdefault(sentence)
    return list(kept)


def wiki_sentences(min_words: int = MIN_WORDS, max_words: int = MAX_WORDS) -> list[str]:
    """Distinct sentences of the offline Wikipedia sample (CC BY-SA 3.0), in article order."""
    from lab.data.corpus import wiki_sample_documents

    bodies = [document.split("\n\n", 1)[-1] for document in wiki_sample_documents()]  # drop each title line
    return sentences_of_documents(bodies, min_words, max_words)
