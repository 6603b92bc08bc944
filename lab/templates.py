"""Prompt templates that turn an untrained causal LLM into an encoder: echo embeddings and PromptEOL.

Both are training-free baselines that work *with* the causal mask instead of removing it:

- **echo** (Springer et al. 2024, "Repetition improves language model embeddings"): the text is written twice,
  ``Rewrite the sentence: x, rewritten sentence: x``, and only the second copy is pooled (mean): its tokens have
  already seen the whole text once, so a causal model's late tokens carry the early ones.
- **PromptEOL** (Jiang et al. 2023, "Scaling sentence embeddings with large language models"):
  ``This sentence : "x" means in one word:"`` and the last token's state, the model's summary of x in "one word".

The template's pieces are tokenised separately and concatenated (as the echo reference implementation does), so the
pooled positions are known exactly rather than recovered from character offsets. Each piece carries the space that
joins it to the one before, so its tokens are its ordinary in-sentence tokens and the two echo copies are identical.
An instruction comes first (``instruction.strip()``, then a space) and is never pooled. A text too long for
``max_length`` is cut (both echo copies equally); the template itself is never cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from lab.data.corpus import special_affixes

TEXT = None  # marks where the text goes in a template's pieces


@dataclass(frozen=True)
class Template:
    """A prompt built from literal pieces and ``TEXT`` slots, and which tokens of it are pooled."""

    name: str
    pieces: tuple[str | None, ...]  # literal strings and TEXT, joined by ``_spaced``
    pooled: str  # "last_text": the last TEXT slot's tokens | "last_token": the final token of the prompt
    poolings: tuple[str, ...]  # pooling modes that make sense over the pooled positions
    reference: str

    @property
    def copies(self) -> int:
        return sum(piece is TEXT for piece in self.pieces)


TEMPLATES: dict[str, Template] = {
    "echo": Template(
        "echo",
        ("Rewrite the sentence:", TEXT, ", rewritten sentence:", TEXT),
        pooled="last_text",
        poolings=("mean", "weighted_mean"),
        reference="Springer et al. 2024, arXiv:2402.15449 (zero-shot template, mean over the second copy)",
    ),
    "prompteol": Template(
        "prompteol",
        ('This sentence : "', TEXT, '" means in one word:"'),
        pooled="last_token",
        poolings=("last_token",),
        reference="Jiang et al. 2023, arXiv:2307.16645 (PromptEOL, last token)",
    ),
}


def get_template(name: str) -> Template:
    """The named template; ``ValueError`` lists the valid names."""
    if name not in TEMPLATES:
        raise ValueError(f"Unknown template {name!r}; expected one of {', '.join(TEMPLATES)} (or '' for none).")
    return TEMPLATES[name]


def check_pooling(name: str, pooling: str) -> None:
    """``ValueError`` unless ``pooling`` is one the template supports."""
    template = get_template(name)
    if pooling not in template.poolings:
        raise ValueError(
            f"Template {name!r} pools with {', '.join(template.poolings)}; got pooling {pooling!r}. "
            f"Pass pooling={template.poolings[0]!r}."
        )


def _spaced(previous: str, segment: str) -> str:
    """``segment`` with the space that joins it to ``previous`` in running text (none after a quote or before
    punctuation), so each piece tokenises as it would inside the whole prompt."""
    joins = previous and segment and previous[-1] not in ' "' and segment[0] not in ',.;:"'
    return f" {segment}" if joins else segment


def template_features(
    tokenizer, pairs: Sequence[tuple[str, str]], name: str, max_length: int
) -> list[dict[str, np.ndarray]]:
    """``input_ids`` and ``pool_mask`` (1-D arrays) for each (instruction, text) pair under template ``name``.

    Layout: [tokenizer's prefix, e.g. BOS] [instruction] piece text piece text ... [tokenizer's suffix], each segment
    tokenised alone with the space that joins it to the one before.
    """
    template = get_template(name)
    prefix, suffix = special_affixes(tokenizer)
    rows = []  # per pair: its segments (strings) and which of them are text copies
    for instruction, text in pairs:
        segments = [instruction.strip()] if instruction.strip() else []
        is_text = [False] * len(segments)
        for piece in template.pieces:
            segment = text if piece is TEXT else piece
            segments.append(_spaced(segments[-1] if segments else "", segment))
            is_text.append(piece is TEXT)
        rows.append((segments, is_text))
    flat = [segment for segments, _ in rows for segment in segments]
    flat_ids = tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else []
    features, cursor = [], 0
    for segments, is_text in rows:
        ids = [list(x) for x in flat_ids[cursor : cursor + len(segments)]]
        cursor += len(segments)
        fixed = len(prefix) + len(suffix) + sum(len(x) for x, t in zip(ids, is_text) if not t)
        room = (max_length - fixed) // template.copies  # tokens each copy of the text may keep
        if room < 1:
            raise ValueError(
                f"max_length {max_length} leaves no room for the text in template {name!r} ({fixed} template and "
                "instruction tokens); raise max_length or shorten the instruction."
            )
        ids = [x[:room] if t else x for x, t in zip(ids, is_text)]  # cut every copy of the text alike
        ends = np.cumsum([len(prefix)] + [len(x) for x in ids])  # ends[k + 1]: where segment k ends
        input_ids = np.asarray(prefix + [i for x in ids for i in x] + suffix, dtype=np.int64)
        pool_mask = np.zeros(len(input_ids), dtype=bool)
        last_prompt_token = len(input_ids) - len(suffix) - 1  # before any suffix the tokenizer appends
        if template.pooled == "last_text":
            k = max(i for i, t in enumerate(is_text) if t)
            pool_mask[ends[k] : ends[k + 1]] = True
        if not pool_mask.any():  # PromptEOL, or an empty text under echo: the prompt's final token
            pool_mask[last_prompt_token] = True
        features.append({"input_ids": input_ids, "pool_mask": pool_mask})
    return features
