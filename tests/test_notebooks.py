"""Every notebook runs top to bottom in quick mode (LAB_QUICK=1), shows its figures statically, and the numbers its
prose states hold: each notebook ``record``s them (``lab.notebook.record``) and ``CLAIMS`` below asserts them. The GPU
path (LAB_QUICK=0) runs on the CPU with the tiny settings of configs/gpu/tiny.yaml (LAB_QUICK=tiny), chained."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from lab.notebook import CLAIMS_MIME

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
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


def _sentence_evaluation(c: dict) -> None:
    # "the text's 10 tokens", "the 8 instruction tokens get weight 0": the pooled tokens are the text's own
    assert c["text_tokens"] == 10 and c["instruction_tokens"] == 8 and c["instruction_tokens_pooled"] == 0, c
    assert c["pooled_with_instruction"] == c["pooled_without_instruction"] == c["text_tokens"], c
    # "the last token weighs 10 times the first"; "last token puts everything on the appended EOS"
    assert c["weighted_last_over_first"] == pytest.approx(c["text_tokens"], rel=1e-5), c
    assert c["last_token_pools_eos"], c
    assert c["mean_pool_by_hand_gap"] < 1e-4, c  # encode's mean = the hand-computed average
    assert 0.5 < c["instruction_cosine"] < 0.9999, c  # "close but not equal"
    # echo pools the second copy's 10 tokens, the same as the first copy's; PromptEOL pools the prompt's last token
    assert c["echo_copies_identical"] and c["echo_pooled_tokens"] == c["text_tokens"], c
    assert c["prompteol_pools_final_token"], c
    # causal: nothing before the changed word moves (< 1e-5); the second copy's first token does (> 1e-3)
    assert c["echo_change_before_word"] < 1e-5 and c["echo_change_second_copy_start"] > 1e-3, c
    assert c["second_run_encoded"] == 0 and c["second_run_faster"], c  # the cache: no model, no encoding
    assert c["suite_spearman_gap"] < 1e-6, c  # the bootstrap's cosines are the suite's own
    # "The widest interval spans more than 0.2 and several pairs of encoders have overlapping intervals"
    assert c["widest_interval"] > 0.2 and c["overlapping_interval_pairs"] >= 2, c


def _supervised(c: dict) -> None:
    # "Hard negatives share far more words with their query than in-batch negatives do"
    assert c["hard_overlap"] > c["in_batch_overlap"], c
    # "the loss with hard negatives is higher than without"; hard negatives sit closer than in-batch ones
    assert c["loss_with_negatives"] > c["loss_without_negatives"], c
    assert c["hard_negative_cos"] > c["in_batch_negative_cos"], c
    assert c["rows_won_by_hard_negative"] == 0, c  # "here there is none"
    assert c["blocks_of_one_source"] and c["sources_used"] >= 2, c  # one source a block, several sources
    # GradCache: "Same loss, same gradient in every parameter tensor ... below 1e-4"
    assert c["gradcache_same_tensors"] and c["gradcache_tensors"] > 0, c
    assert c["gradcache_gradient_gap"] < 1e-4 and c["gradcache_loss_gap"] < 1e-5, c
    assert c["supervised_steps"] == c["supervised_max_steps"] and c["adapter_written"], c


CLAIMS: dict[str, Callable[[dict], None]] = {
    "00_tour": _tour,
    "01_bidirectional_attention": _bidirectional,
    "02_mntp": _mntp,
    "03_contrastive": _contrastive,
    "04_word_probes": _probes,
    "05_sentence_evaluation": _sentence_evaluation,
    "06_supervised_contrastive": _supervised,
}


def claims_of(notebook) -> dict:
    """Every ``record``ed claim of an executed notebook, merged."""
    merged: dict = {}
    for cell in notebook.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            merged.update(out.get("data", {}).get(CLAIMS_MIME, {}))
    return merged


def execute(path: Path) -> tuple[nbformat.NotebookNode, list[dict]]:
    """Run a notebook top to bottom from its own folder (as Jupyter would); returns it and its code cells' outputs."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    return notebook, outputs


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path, monkeypatch):
    monkeypatch.setenv("LAB_QUICK", "1")
    notebook, outputs = execute(path)
    figures = [out for out in outputs if PLOTLY in out.get("data", {})]
    assert figures, "no plot shown"
    static = [out for out in figures if "image/svg+xml" in out["data"]]
    assert len(static) == len(figures), "a figure without its static copy: display it with lab.notebook.show"
    stderr = [out["text"] for out in outputs if out.get("name") == "stderr"]
    assert not [text for text in stderr if "it/s]" in text or "Loading weights" in text], stderr  # no progress bars
    if path.stem in CLAIMS:
        CLAIMS[path.stem](claims_of(notebook))


@pytest.mark.slow
def test_gpu_path_chains_02_03_04(tmp_path, monkeypatch):
    """LAB_QUICK=tiny runs the cells of LAB_QUICK=0 with configs/gpu/tiny.yaml's few steps: 02 writes mntp, 03 trains
    SimCSE on that adapter and evaluates it, 04 probes both; every run lands in LAB_RUNS."""
    monkeypatch.setenv("LAB_QUICK", "tiny")
    monkeypatch.setenv("LAB_RUNS", str(tmp_path))
    monkeypatch.delenv("LAB_MODEL", raising=False)  # the default decoder, SmolLM2-135M, as LAB_QUICK=0 runs it
    tiny = yaml.safe_load((ROOT / "configs" / "gpu" / "tiny.yaml").read_text())
    recipe = yaml.safe_load((ROOT / "configs" / "gpu" / "simcse-smollm2.yaml").read_text())
    claims = {}
    for stem in ("02_mntp", "03_contrastive", "04_word_probes"):
        notebook, _ = execute(ROOT / "notebooks" / f"{stem}.ipynb")
        claims[stem] = claims_of(notebook)
    mntp, simcse = tmp_path / "mntp", tmp_path / "simcse"
    assert json.loads((mntp / "metrics.json").read_text())["global_step"] == tiny["mntp"]["max_steps"]
    assert (mntp / "adapter_config.json").is_file()
    # 03 trained on 02's adapter, with the GPU recipe's settings under tiny.yaml's overrides, and evaluated that run
    run_config = json.loads((simcse / "run_config.json").read_text())
    assert run_config["adapters"] == [str(mntp)]
    assert run_config["max_steps"] == tiny["simcse"]["max_steps"]
    assert run_config["learning_rate"] == recipe["learning_rate"] and run_config["scale"] == recipe["scale"]
    assert json.loads((simcse / "metrics.json").read_text())["global_step"] == tiny["simcse"]["max_steps"]
    assert claims["03_contrastive"]["sts_simcse_run"] == str(simcse)
    assert claims["03_contrastive"]["sts_pairs"] == tiny["sts"]["limit"]
    # 04 probed what 02 and 03 trained, with tiny.yaml's probe settings
    probes = json.loads((tmp_path / "probing" / "probe_results.json").read_text())
    assert probes["settings"]["adapter_paths"] == {"mntp": str(mntp), "mntp-simcse": str(simcse)}
    assert {"bi-mntp", "bi-mntp-simcse"} <= set(probes["settings"]["variants"])
    assert probes["settings"]["probe"]["steps"] == tiny["probe"]["steps"]
    assert {r["layer"] for r in probes["rows"] if r["variant"] == "bi-mntp-simcse"} == {0, 1}
    assert claims["04_word_probes"]["probed_trained_mntp"] and claims["04_word_probes"]["probed_trained_simcse"]
