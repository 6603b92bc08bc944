"""The LLM2Vec ladder as one data table (Uni, Bi, Bi+MNTP, Bi+MNTP+SimCSE) and the encoders it is compared with.

A variant is a recipe applied to a base model (attention mode, adapters merged in order, and the defaults its training
implies), not a loaded model. Probing, the app, the CLI, the evaluation suite and the notebooks all read this table, so
a name, a label or a colour is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from lab.adapters import shipped_adapters
from lab.pooling import canonical_pooling


@dataclass(frozen=True)
class Variant:
    """One stage of LLM2Vec on a base model."""

    name: str  # the key used on the command line and in result files
    label: str  # shown in figures and the app
    bidirectional: bool  # False keeps the decoder's causal mask
    adapters: tuple[str, ...]  # LoRA adapters merged in order (shipped short names or folders)
    pooling: str  # default sentence pooling: a causal model's later tokens have seen more, so Uni weighs them more
    shift: int  # default sub-token alignment for word probes: -1 reads a word where MNTP predicts it, else 0
    colour: str  # one colour per variant in every figure
    note: str  # one line saying what the variant is
    model: str | None = None  # None: a ladder row, applied to whichever base model is given; set for a fixed encoder
    max_length: int = 512  # tokens the encoder reads (MiniLM was trained with 256)
    encoder_only: bool = False  # a trained bidirectional encoder (MiniLM): its own pooling, no causal/bi switch
    template: str = ""  # "" | echo | prompteol (lab.templates): a prompt that works with the causal mask
    instructions: bool = True  # False: task instructions are not given (MiniLM was never trained with any)

    def __post_init__(self) -> None:
        canonical_pooling(self.pooling)
        if self.shift not in (0, -1):
            raise ValueError(f"Variant {self.name!r}: shift must be 0 or -1; got {self.shift!r}.")

    def on(self, model: str, **changes: object) -> Variant:
        """This recipe bound to ``model`` (``changes`` replace other fields: a label, a note)."""
        return replace(self, model=model, **changes)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            "uni",
            "Uni (causal, weighted mean)",
            False,
            (),
            "weighted_mean",
            0,
            "#1f77b4",
            "the causal decoder as released (the paper's Uni)",
        ),
        Variant("bi", "Bi (no training)", True, (), "mean", 0, "#ff7f0e", "causal mask removed, no training (Bi)"),
        Variant(
            "bi-mntp",
            "Bi+MNTP",
            True,
            ("mntp",),
            "mean",
            -1,
            "#2ca02c",
            "bidirectional + masked next-token prediction (Bi+MNTP)",
        ),
        Variant(
            "bi-mntp-simcse",
            "LLM2Vec (Bi+MNTP+SimCSE)",
            True,
            ("mntp", "mntp-simcse"),
            "mean",
            -1,
            "#d62728",
            "Bi+MNTP + unsupervised SimCSE (LLM2Vec)",
        ),
    )
}


# Training-free causal baselines the ladder is compared with (lab.templates): a prompt works with the causal mask
# instead of removing it. Not LLM2Vec stages, so probing and the app skip them; the evaluation suite runs them.
BASELINES: dict[str, Variant] = {
    name: Variant(name, label, False, (), pooling, 0, colour, note, template=name)
    for name, label, pooling, colour, note in (
        ("echo", "Echo (causal, 2nd copy)", "mean", "#9467bd", "the text twice, its 2nd copy pooled (Springer 2024)"),
        ("prompteol", "PromptEOL (causal)", "last_token", "#8c564b", "last token of a one-word prompt (Jiang 2023)"),
    )
}


# Trained sentence encoders to compare the ladder with; not LLM2Vec stages, so probing and the ladder skip them.
REFERENCES: dict[str, Variant] = {
    "minilm": Variant(
        "minilm",
        "MiniLM",
        True,
        (),
        "mean",
        0,
        "#7f7f7f",
        "all-MiniLM-L6-v2, a supervised sentence encoder (mean pooling): the reference",
        model="all-minilm-l6-v2",
        max_length=256,
        encoder_only=True,
        instructions=False,
    )
}


def get_variant(name: str) -> Variant:
    """The variant called ``name``; ``ValueError`` lists the known ones."""
    if name not in VARIANTS:
        raise ValueError(f"Unknown variant {name!r}; expected one of {', '.join(VARIANTS)}.")
    return VARIANTS[name]


def missing_adapters(variant: str, model: str, adapters: Sequence[str] | None = None) -> list[str]:
    """The adapters a variant needs (or ``adapters`` instead) that are neither shipped for ``model`` nor folders."""
    shipped = shipped_adapters(model)
    needed = get_variant(variant).adapters if adapters is None else adapters
    return [a for a in needed if a not in shipped and not (Path(a) / "adapter_config.json").is_file()]
