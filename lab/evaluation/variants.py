"""The encoders the suite compares: rows of the one variant table (``lab.variants``) bound to a model.

The suite writes no recipe of its own: the ladder and the two causal baselines run on SmolLM2, MiniLM is the trained
reference, and the ``tiny-*`` rows are the same training-free recipes on a random tiny Llama (for tests; their numbers
mean nothing). ``--variants`` picks from ``SUITE_VARIANTS`` by short name.
"""

from __future__ import annotations

from lab.variants import BASELINES, REFERENCES, VARIANTS, Variant

BASE = "smollm2-135m"
TINY = "tiny-llama"  # random weights and no trained adapters: only the training-free rows run on it
ALIASES = {"bi-mntp-simcse": "llm2vec"}  # the table's name -> the suite's, where they differ (both are accepted)


def _suite_variants() -> list[Variant]:
    """Ladder and baselines on SmolLM2, MiniLM, then the training-free ones on the tiny model (in that order)."""
    recipes = [*VARIANTS.values(), *BASELINES.values()]
    minilm = REFERENCES["minilm"]
    return [
        *(v.on(BASE, name=ALIASES.get(v.name, v.name)) for v in recipes),
        minilm.on(minilm.model, label="MiniLM (supervised reference)"),  # a table of scores says what it is
        *(v.on(TINY, name=f"tiny-{v.name}", label=f"Tiny {v.label}") for v in recipes if not v.adapters),
    ]


SUITE_VARIANTS: dict[str, Variant] = {v.name: v for v in _suite_variants()}
DEFAULT_VARIANTS = ("uni", "bi", "bi-mntp", "llm2vec", "echo", "prompteol", "minilm")


def get_variants(names: list[str]) -> list[Variant]:
    """Variants by short name; ``ValueError`` lists the valid names."""
    names = [ALIASES.get(n, n) for n in names]
    unknown = [n for n in names if n not in SUITE_VARIANTS]
    if unknown:
        raise ValueError(f"Unknown variant(s) {', '.join(unknown)}; expected some of {', '.join(SUITE_VARIANTS)}.")
    return [SUITE_VARIANTS[n] for n in names]


def load_variant(variant: Variant, dtype: str | None = None, device: str | None = None):
    """The ``LLM2Vec`` of a variant."""
    from lab.encoder import LLM2Vec

    return LLM2Vec.from_pretrained(
        variant.model,
        bidirectional=variant.bidirectional,
        pooling=variant.pooling,
        max_length=variant.max_length,
        adapters=list(variant.adapters),
        template=variant.template or None,
        dtype=dtype,
        device=device,
    )
