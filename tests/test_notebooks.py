"""Every notebook runs top to bottom in quick mode (LAB_QUICK=1), shows its figures statically, and the numbers its
prose states hold: each notebook ``record``s them (``lab.notebook.record``) and ``CLAIMS`` below asserts them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from lab.notebook import CLAIMS_MIME

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
PLOTLY = "application/vnd.plotly.v1+json"


def _contrastive(c: dict) -> None:
    # Dropout is SimCSE's only noise: identical views without it, different ones with it, none in eval mode.
    assert c["views_identical_without_dropout"] and c["views_differ_with_dropout"] and c["views_identical_in_eval"]
    # "After SimCSE the diagonal wins in most rows, and the loss is below ln B."
    assert c["after_wins"] > c["batch"] / 2, c
    assert c["after_loss"] < c["ln_batch"], c
    # "... the loss is higher [before] than after. SimCSE lowers the off-diagonal cosines."
    assert c["before_loss"] > c["after_loss"], c
    assert c["before_off_diagonal"] > c["after_off_diagonal"], c
    # The shipped run's curve: "the last logged loss is below the first and below ln B".
    assert c["shipped_last_loss"] < c["shipped_first_loss"], c
    assert c["shipped_last_loss"] < c["shipped_ln_batch"], c
    # Recorded STS-B test: "Bi is below Uni", "SimCSE on top of MNTP gives the best of the four".
    if "uni" in c:
        assert c["bi"] < c["uni"], c
        assert c["bi_mntp_simcse"] > max(c["uni"], c["bi"], c["bi_mntp"]), c


def _tour(c: dict) -> None:
    # "The two guitar sentences are closer to each other than to the stock-market one"; the plant query finds plants.
    assert c["paraphrase"] > c["unrelated"], c
    assert c["top_is_about_plants"], c


def _bidirectional(c: dict) -> None:
    # The future-token test: "the causal curve is exactly zero at every layer; the bidirectional one is not".
    assert c["causal_max_change"] == 0.0 and c["bidirectional_min_change_after_embeddings"] > 0, c
    assert c["causal_mask_lower_triangular"] and c["bidirectional_mask_full"], c  # transformers' masks, real tokens
    # Real attention: no weight on future tokens under the causal mask, some without it; rows still sum to 1.
    assert c["causal_future_attention"] == 0.0 and c["bidirectional_future_attention"] > 0.01, c
    assert c["rows_sum_to_one"], c
    # "layer 0 is identical both ways ... the last token sees the same inputs in layer 1 ... falls most for the first".
    assert c["layer0_min"] > 0.9999 and c["layer1_last_token"] > 0.9999, c
    assert c["layer1_first_token"] < c["layer1_last_token"] and c["last_layer_mean"] < 0.99, c


def _mntp(c: dict) -> None:
    # "the untrained bidirectional model mostly returns the token in its input"; "after MNTP it echoes it less often".
    assert c["echo_before"] > 0.5, c
    if "echo_after" in c:
        assert c["echo_after"] < c["echo_before"], c
    assert c["mntp_run_loss_fell"], c  # the quick run's held-out loss falls
    # "at the last layer the adapter's bidirectional states are closer to the causal ones than the untrained model's"
    assert c["last_layer_mntp"] > c["last_layer_base"], c


def _probes(c: dict) -> None:
    # The attention sink: "one huge activation ... from layer 12 on".
    assert c["sink_ratio_max"] > 10 and c["sink_from_layer"] >= 1, c
    # "Uni's separation is exactly 0, by construction."
    assert abs(c["uni_separation"]) < 1e-6, c
    # The recorded run: "at the last layer Bi is below Uni on POS and on chunking".
    if "recorded_pos_last_uni" in c:
        assert c["recorded_pos_last_bi"] < c["recorded_pos_last_uni"], c
        assert c["recorded_chunk_last_bi"] < c["recorded_chunk_last_uni"], c


CLAIMS: dict[str, Callable[[dict], None]] = {
    "00_tour": _tour,
    "01_bidirectional_attention": _bidirectional,
    "02_mntp": _mntp,
    "03_contrastive": _contrastive,
    "04_word_probes": _probes,
}


def claims_of(notebook) -> dict:
    """Every ``record``ed claim of an executed notebook, merged."""
    merged: dict = {}
    for cell in notebook.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            merged.update(out.get("data", {}).get(CLAIMS_MIME, {}))
    return merged


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path, monkeypatch):
    monkeypatch.setenv("LAB_QUICK", "1")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    figures = [out for out in outputs if PLOTLY in out.get("data", {})]
    assert figures, "no plot shown"
    static = [out for out in figures if "image/svg+xml" in out["data"]]
    assert len(static) == len(figures), "a figure without its static copy: display it with lab.notebook.show"
    stderr = [out["text"] for out in outputs if out.get("name") == "stderr"]
    assert not [text for text in stderr if "it/s]" in text or "Loading weights" in text], stderr  # no progress bars
    if path.stem in CLAIMS:
        CLAIMS[path.stem](claims_of(notebook))
