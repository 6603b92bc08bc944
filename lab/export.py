"""Export an ``LLM2Vec`` as a sentence-transformers folder: ``SentenceTransformer(path)`` loads it without ``lab``.

The folder is sentence-transformers' own (written by its ``save``): the merged weights with ``"is_causal": false`` in
``config.json`` (transformers 5 honours it on load, so the model stays bidirectional), the tokenizer, a ``Pooling``
module with the same pooling, and ``prompts`` (the lab's task instructions, each followed by the joining space).

What carries over exactly, and what cannot (checked in ``tests/test_eval_export.py``):

- texts: the same embeddings (mean or weighted mean, bidirectional or causal).
- (instruction, text) through a prompt: sentence-transformers leaves the prompt out of the pooling
  (``include_prompt=False``), but it measures the prompt's length by tokenising the prompt *alone*. With a byte-level
  BPE the joining space is then a token of its own, while inside "instruction text" it merges into the text's first
  token (" A"); so sentence-transformers pools the text without its first token, where ``LLM2Vec`` pools all of it.
  Nothing in its configuration can change how it counts; the export keeps the prompts and the tests pin the difference.
- not exportable (a ``ValueError`` says so): last-token / EOS / BOS pooling (sentence-transformers appends no EOS and
  prepends no BOS), echo / PromptEOL templates, and tokenizers that add special tokens the encoder does not pool.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

ST_POOLING = {"mean": "mean", "weighted_mean": "weightedmean"}  # ours -> sentence-transformers' pooling_mode


def default_prompts() -> dict[str, str]:
    """The lab suite's task instructions as sentence-transformers prompts (name -> instruction + joining space)."""
    from lab.evaluation.lab_tasks import INSTRUCTIONS

    return {name: f"{instruction.strip()} " for name, instruction in INSTRUCTIONS.items()}


def check_exportable(encoder) -> None:
    """``ValueError`` naming the setting that sentence-transformers cannot reproduce."""
    config = encoder.config
    if config.template:
        raise ValueError(f"Template {config.template!r} cannot be exported to sentence-transformers; use template ''.")
    if config.pooling not in ST_POOLING:
        raise ValueError(
            f"Pooling {config.pooling!r} cannot be exported to sentence-transformers (it neither appends an EOS nor "
            f"prepends a BOS); exportable poolings: {', '.join(ST_POOLING)}."
        )
    added = encoder.tokenizer("x", add_special_tokens=True)["input_ids"]
    plain = encoder.tokenizer("x", add_special_tokens=False)["input_ids"]
    if len(added) != len(plain) and not config.pool_special_tokens:
        raise ValueError(
            "This tokenizer adds special tokens (e.g. a BOS) that LLM2Vec leaves out of the pooling but "
            "sentence-transformers would pool; load the encoder with pool_special_tokens=True to export it."
        )


def save_sentence_transformers(encoder, path: str | os.PathLike, prompts: dict[str, str] | None = None) -> Path:
    """Write ``encoder`` (an ``LLM2Vec``) to ``path`` as a sentence-transformers model folder."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Pooling, Transformer

    check_exportable(encoder)
    path = Path(path)
    prompts = default_prompts() if prompts is None else prompts
    with tempfile.TemporaryDirectory() as staging:
        encoder.model.save_pretrained(staging)  # config.json carries is_causal, as the encoder set it
        encoder.tokenizer.save_pretrained(staging)
        transformer = Transformer(staging, max_seq_length=encoder.config.max_length)
        pooling = Pooling(
            encoder.embedding_dim, pooling_mode=ST_POOLING[encoder.config.pooling], include_prompt=False
        )  # prompts (instructions) are attended to, never pooled
        model = SentenceTransformer(modules=[transformer, pooling], prompts=prompts, similarity_fn_name="cosine")
        model.save(str(path))
    logger.info("Saved a sentence-transformers model to %s", path)
    return path
