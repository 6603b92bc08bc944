"""The reference llm2vec 0.2.3 as a worker for ``bench/reference.py``; runs in the reference venv, never imports lab.

    .venv-reference/bin/python bench/reference_worker.py --texts texts.json [--threads 2]

Loads SmolLM2-135M the way ``scripts/reference_embeddings.py`` does (its ``legacy_copy``: transformers 4.44 cannot
read the 5.x files), bidirectional (``LlamaBiModel``) with mean pooling and max_length 512, as the lab's default
encoder. Then one JSON request a line on stdin, ``{"n": 2758, "batch_size": 32, "out": "e.npy"}``: encode the first
``n`` texts with ``LLM2Vec.encode`` (the library's own loop: its character-length sort, per-batch tokenisation, left
padding), save the float32 array to ``out``, answer one JSON line: the tokens the model ran (padding included,
counted at the model's input) and the process's peak RSS. ``{"quit": true}`` ends it. Replies go to the original
stdout; anything the libraries print goes to stderr.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from reference_embeddings import LLM2Vec, default_model_dir, legacy_copy  # noqa: E402  (llm2vec's LLM2Vec)


def main() -> None:
    """Load once, then serve encode requests until stdin closes or says quit."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=Path, required=True, help="a JSON list of strings")
    parser.add_argument("--model-dir", type=Path, default=default_model_dir(), help="the converted SmolLM2 folder")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    replies = os.fdopen(os.dup(1), "w", buffering=1)  # the reply channel: the original stdout, line-buffered
    os.dup2(2, 1)  # whatever else writes to stdout (print, C libraries) lands in stderr
    sys.stdout = sys.stderr
    try:
        serve(args, replies)
    except Exception as error:  # the parent turns this into a RuntimeError with the message
        replies.write(json.dumps({"error": f"{type(error).__name__}: {error}"}) + "\n")
        raise


def serve(args: argparse.Namespace, replies) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    texts = json.loads(args.texts.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="smollm2-legacy-") as tmp:
        encoder = LLM2Vec.from_pretrained(
            base_model_name_or_path=str(legacy_copy(args.model_dir, Path(tmp))),
            enable_bidirectional=True,
            pooling_mode="mean",
            max_length=512,
            torch_dtype=getattr(torch, args.dtype),
        )
        seen = {"tokens": 0}

        def count_tokens(module, positional, kwargs) -> None:  # llm2vec calls self.model(**features)
            ids = kwargs.get("input_ids", positional[0] if positional else None)
            seen["tokens"] += int(ids.numel())

        encoder.model.register_forward_pre_hook(count_tokens, with_kwargs=True)
        versions = {p: importlib.metadata.version(p) for p in ("llm2vec", "transformers", "torch")}
        replies.write(
            json.dumps(
                {
                    "ready": True,
                    "versions": versions,
                    "model_class": type(encoder.model).__name__,
                    "attn_implementation": encoder.model.config._attn_implementation,
                    "torch_threads": torch.get_num_threads(),
                }
            )
            + "\n"
        )
        for line in sys.stdin:
            request = json.loads(line)
            if request.get("quit"):
                break
            seen["tokens"] = 0
            emb = encoder.encode(
                texts[: request["n"]],
                batch_size=request["batch_size"],
                show_progress_bar=False,
                convert_to_numpy=True,
                device=args.device,
            )
            np.save(request["out"], np.asarray(emb, dtype=np.float32))  # (n, d) in input order
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
            replies.write(json.dumps({"processed_tokens": seen["tokens"], "peak_rss_mb": round(peak_mb, 1)}) + "\n")


if __name__ == "__main__":
    main()
