"""The MTEB adapter through mteb itself, offline: a local STS task built from STS-B test scores like our evaluator."""

from __future__ import annotations

import mteb
import pytest
from mteb.types import PromptType

from lab import LLM2Vec
from lab.data.stsb import load_stsb
from lab.evaluation.lab_tasks import stsb_sts
from lab.evaluation.mteb_adapter import LocalSTSTask, MTEBEncoder, task_instruction
from lab.evaluation.sts import evaluate_pairs


@pytest.fixture(scope="module")
def tiny() -> LLM2Vec:
    return LLM2Vec.from_pretrained("tiny-llama")


def mteb_spearman(encoder: MTEBEncoder, task: LocalSTSTask) -> float:
    result = mteb.evaluate(encoder, tasks=[task], cache=None, show_progress_bar=False)
    [task_result] = result.task_results
    return task_result.scores["test"][0]["cosine_spearman"]


def test_mteb_scores_stsb_test_as_our_sts_evaluator(tiny):
    ours = evaluate_pairs(tiny, load_stsb("test"))  # all 1,379 pairs, no instruction
    assert ours.pairs == 1379
    assert mteb_spearman(MTEBEncoder(tiny, instructions=False), LocalSTSTask()) == pytest.approx(
        ours.spearman, abs=1e-6
    )


def test_mteb_gives_the_sts_instruction_as_our_suite_does(tiny):
    task = stsb_sts(quick=True)  # 48 pairs, instruction "Retrieve semantically similar text."

    def embed(texts, instruction):
        return tiny.encode([(instruction, t) for t in texts])

    ours = task.evaluate(embed)["spearman"]
    with_instruction = mteb_spearman(MTEBEncoder(tiny), LocalSTSTask(limit=48))
    assert with_instruction == pytest.approx(ours, abs=1e-6)
    assert with_instruction != pytest.approx(
        mteb_spearman(MTEBEncoder(tiny, instructions=False), LocalSTSTask(limit=48))
    )


def test_queries_get_the_task_instruction_and_documents_none():
    [arguana, sts, sprint] = mteb.get_tasks(tasks=["ArguAna", "STSBenchmark", "SprintDuplicateQuestions"])
    by_name = {t.metadata.name: t.metadata for t in (arguana, sts, sprint)}
    assert (
        task_instruction(by_name["ArguAna"], PromptType.query) == "Given a claim, find documents that refute the claim"
    )
    assert task_instruction(by_name["ArguAna"], PromptType.document) == ""
    assert task_instruction(by_name["STSBenchmark"], None) == "Retrieve semantically similar text."
    assert (
        task_instruction(by_name["SprintDuplicateQuestions"], None) == "Retrieve duplicate questions from Sprint forum"
    )


def test_model_meta_names_the_recipe(tiny):
    meta = MTEBEncoder(tiny).mteb_model_meta
    assert meta.name == "llm2vec-lab/tiny-llama" and meta.embed_dim == tiny.embedding_dim and meta.use_instructions
