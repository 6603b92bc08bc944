"""The offline suite: its tasks are built from the real data as documented, instructions reach queries only, the
embedding cache makes a second run load no model, and the command writes its table, CSV, JSON and figure."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lab import LLM2Vec
from lab.cli import main
from lab.data.stsb import load_stsb
from lab.data.wiki_sections import split_sections
from lab.evaluation import suite as suite_module
from lab.evaluation.lab_tasks import INSTRUCTIONS, PARAPHRASE_SCORE, build_tasks
from lab.evaluation.sts import evaluate_pairs
from lab.evaluation.suite import SuiteConfig, run_suite, variant_key
from lab.evaluation.variants import SUITE_VARIANTS

TINY = ["tiny-uni", "tiny-bi", "tiny-echo", "tiny-prompteol"]


def test_sections_are_cut_at_headings_and_cleaned():
    markup = (
        "Lead paragraph with '''five''' words or more.\n"
        "== History ==\nThe [[Roman Empire|Romans]] came here in the first century.\n"
        "=== Early days ===\nA small village grew up around the old stone bridge.\n"
        "== References ==\nSome book about the village, printed in London.\n"
        "=== Web ===\nA web page about the village, written by someone.\n"
    )
    sections = split_sections("Village", markup)
    assert [s.title for s in sections] == ["Village", "Village: History", "Village: History: Early days"]
    assert sections[1].paragraphs == ("The Romans came here in the first century.",)


def test_full_tasks_have_the_documented_sizes_and_real_labels():
    tasks = {t.name: t for t in build_tasks()}
    assert tasks["stsb-sts"].size()["pairs"] == 1379 and tasks["stsb-paraphrase"].size()["pairs"] == 1500
    dev = load_stsb("dev")
    assert tasks["stsb-paraphrase"].labels == [int(p.score >= PARAPHRASE_SCORE) for p in dev]
    assert tasks["stsb-source"].size() == {"train": 600, "test": 600, "classes": 4}
    retrieval = tasks["wiki-section-retrieval"]
    assert len(retrieval.corpus) >= 1000 and len(retrieval.queries) == len(retrieval.relevant)
    [relevant] = retrieval.relevant[retrieval.queries.index("Anarchism")]  # the lead section of the first article
    assert retrieval.corpus[relevant].startswith("Anarchism is a political philosophy")
    clustering = tasks["wiki-article-clustering"]
    assert clustering.size()["clusters"] >= 20
    assert all(t.instruction == INSTRUCTIONS[name] for name, t in tasks.items())


def test_queries_get_the_instruction_and_documents_none():
    calls = []

    def embed(texts, instruction):
        calls.append((instruction, len(texts)))
        return np.random.default_rng(len(texts)).normal(size=(len(texts), 8))

    [retrieval] = build_tasks(["wiki-section-retrieval"], quick=True)
    retrieval.evaluate(embed)
    assert calls == [(INSTRUCTIONS["wiki-section-retrieval"], len(retrieval.queries)), ("", len(retrieval.corpus))]


def test_the_suites_sts_task_equals_the_sts_evaluator():
    model = LLM2Vec.from_pretrained("tiny-llama")
    [task] = build_tasks(["stsb-sts"], quick=True)
    score = task.evaluate(lambda texts, instruction: model.encode(list(texts)))["spearman"]
    assert score == pytest.approx(evaluate_pairs(model, load_stsb("test", 48)).spearman, abs=1e-6)


def test_cache_makes_a_second_run_load_no_model(tmp_path, monkeypatch):
    config = SuiteConfig(
        variants=TINY, tasks=["stsb-sts", "wiki-section-reranking"], quick=True, cache_dir=str(tmp_path)
    )
    first, skipped = run_suite(config)
    assert not skipped and len(first) == len(TINY) * 2 and all(r["encoded_texts"] > 0 for r in first)

    def no_model(*args, **kwargs):
        raise AssertionError("a cached run loaded a model")

    monkeypatch.setattr(suite_module, "load_variant", no_model)
    second, _ = run_suite(config)
    assert [r["score"] for r in second] == [r["score"] for r in first]
    assert all(r["encoded_texts"] == 0 for r in second)


def test_cache_key_separates_recipes():
    keys = {json.dumps(variant_key(SUITE_VARIANTS[name], "float32", "cpu"), sort_keys=True) for name in TINY}
    assert len(keys) == len(TINY)
    with_adapter = variant_key(SUITE_VARIANTS["bi-mntp"], "float32", "cpu")
    assert with_adapter["adapters"][0][0] == "mntp" and len(with_adapter["adapters"][0][1]) == 16


def test_command_writes_table_csv_json_and_figure(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["eval", "suite", "--quick", "--variants", "tiny-bi,tiny-echo", "--tasks", "stsb-sts,stsb-source"]
    assert main(argv + ["--cache-dir", str(tmp_path / "cache"), "--output-dir", str(out)]) == 0
    table = (out / "suite.md").read_text()
    assert "Tiny Echo (causal, 2nd copy)" in table and "stsb-source (Classification)" in table
    record = json.loads((out / "suite.json").read_text())
    assert {r["task"] for r in record["rows"]} == {"stsb-sts", "stsb-source"}
    assert "accuracy" in (out / "suite.csv").read_text() and (out / "suite.html").stat().st_size > 1000
    assert main(["eval", "suite", "--sizes", "--variants", "tiny-bi"]) == 0
    assert "stsb-sts" in capsys.readouterr().out
    assert main(["eval", "suite", "--variants", "nope", "--sizes"]) == 2
