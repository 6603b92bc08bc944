"""The one variant table: every reader sees the same names, and every row can run on the packaged model."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lab.evaluation.variants import ALIASES, SUITE_VARIANTS
from lab.templates import check_pooling
from lab.variants import BASELINES, REFERENCES, VARIANTS, Variant, get_variant, missing_adapters


def test_table_is_the_papers_ladder():
    assert list(VARIANTS) == ["uni", "bi", "bi-mntp", "bi-mntp-simcse"]
    assert [v.bidirectional for v in VARIANTS.values()] == [False, True, True, True]
    assert VARIANTS["bi-mntp-simcse"].adapters == ("mntp", "mntp-simcse")  # SimCSE trained on merged MNTP
    assert VARIANTS["uni"].pooling == "weighted_mean" and VARIANTS["bi"].pooling == "mean"
    assert [v.shift for v in VARIANTS.values()] == [0, 0, -1, -1]  # MNTP-trained: read where the word is predicted
    assert len({v.colour for v in VARIANTS.values()}) == len({v.label for v in VARIANTS.values()}) == len(VARIANTS)


def test_every_variant_runs_on_the_packaged_model_and_bad_rows_are_refused():
    assert all(missing_adapters(name, "smollm2-135m") == [] for name in VARIANTS)
    assert missing_adapters("bi-mntp", "tiny-llama") == ["mntp"]
    with pytest.raises(ValueError, match="Unknown variant 'bi-simcse'; expected one of uni, bi"):
        get_variant("bi-simcse")
    with pytest.raises(ValueError, match="Unknown pooling 'max'"):
        Variant("x", "x", True, (), "max", 0, "#000", "")
    with pytest.raises(ValueError, match="shift must be 0 or -1"):
        Variant("x", "x", True, (), "mean", 1, "#000", "")


def test_the_suite_reads_the_one_table():
    """Every row of the evaluation suite is a row of lab.variants bound to a model: each recipe is written once."""
    table = {**VARIANTS, **BASELINES, **REFERENCES}
    suite_to_table = {suite: name for name, suite in ALIASES.items()}
    for name, row in SUITE_VARIANTS.items():
        short = name.removeprefix("tiny-")
        source = table[suite_to_table.get(short, short)]
        assert replace(row, name=source.name, label=source.label, model=source.model) == source, name
        if row.template:
            check_pooling(row.template, row.pooling)  # what LLM2Vec checks when it loads the row
    assert (SUITE_VARIANTS["echo"].template, SUITE_VARIANTS["prompteol"].pooling) == ("echo", "last_token")
    assert [n for n, v in SUITE_VARIANTS.items() if not v.instructions] == ["minilm"]  # never trained with any
    assert {v.model for n, v in SUITE_VARIANTS.items() if n.startswith("tiny-")} == {"tiny-llama"}
    rows = [*table.values()]
    assert len({v.colour for v in rows}) == len({v.label for v in rows}) == len(rows)
