"""The offline Wikipedia sample (``lab.data.corpus``) split into sections: (article, heading path, paragraphs).

The headings give the evaluation suite real labels for free: a section's paragraphs belong to it (retrieval and
reranking) and to their article (clustering). Each section's markup is cleaned by ``corpus.clean_wikitext``, the same
cleaning the MNTP corpus gets; sections the cleaner drops (References, See also, ...) and sections without prose
paragraphs are left out. The lead section (before the first heading) has an empty heading path.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass

from lab.data.corpus import _DROP_SECTIONS, clean_wikitext, wiki_pages, wiki_sample_xml  # one list of sections to drop
from lab.models import cache_dir

logger = logging.getLogger(__name__)

_HEADING_LINE = re.compile(r"^(=+)\s*(.*?)\s*=+\s*$", re.MULTILINE)  # "== History ==" -> ("==", "History")
_HEADING_MARKUP = re.compile(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]|'{2,}|<[^>]+>")  # links, bold/italics, tags


@dataclass(frozen=True)
class WikiSection:
    """One section of one article, with its cleaned prose paragraphs."""

    article: str  # the article's title
    path: tuple[str, ...]  # headings from the top level down; () for the lead section
    paragraphs: tuple[str, ...]

    @property
    def title(self) -> str:
        """``Article: Heading: Subheading`` (the article title alone for the lead section)."""
        return ": ".join((self.article, *self.path))


def _heading_text(raw: str) -> str:
    return _HEADING_MARKUP.sub(lambda m: m.group(1) or "", raw).strip()


def split_sections(article: str, markup: str) -> list[WikiSection]:
    """Cut one article's markup at its headings and clean each part; empty or dropped sections are left out."""
    pieces = _HEADING_LINE.split(markup)  # [lead, level, heading, body, level, heading, body, ...]
    sections, path = [], []
    for index in range(0, len(pieces), 3):
        if index:
            level = len(pieces[index - 2]) - 1  # "==" is level 1 under the article
            path = path[: level - 1] + [_heading_text(pieces[index - 1])]
        if any(heading.lower() in _DROP_SECTIONS for heading in path):  # References, See also, ... and below
            continue
        paragraphs = tuple(p for p in clean_wikitext(pieces[index]).split("\n\n") if p.strip())
        if paragraphs:
            sections.append(WikiSection(article, tuple(path), paragraphs))
    return sections


def parse_sections(xml_text: str) -> list[WikiSection]:
    """Sections of every main-namespace, non-redirect page of a MediaWiki XML dump, in dump order."""
    return [section for title, markup in wiki_pages(xml_text) for section in split_sections(title, markup)]


def wiki_sections() -> list[WikiSection]:
    """All sections of the Wikipedia sample, parsed once and cached as JSON lines."""
    cached = cache_dir() / "corpora" / "wiki-sections.jsonl"
    if cached.is_file():
        rows = [json.loads(line) for line in cached.read_text(encoding="utf-8").splitlines() if line]
        return [WikiSection(r["article"], tuple(r["path"]), tuple(r["paragraphs"])) for r in rows]
    sections = parse_sections(wiki_sample_xml())
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".tmp{os.getpid()}")
    rows = [{"article": s.article, "path": list(s.path), "paragraphs": list(s.paragraphs)} for s in sections]
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, cached)
    logger.info("Parsed %d Wikipedia sections into %s", len(sections), cached)
    return sections
