"""Drive the reference llm2vec 0.2.3 from the encode benchmark: its own venv, one long-lived worker process.

llm2vec 0.2.3 needs transformers 4.44 and the lab runs 5.x, so the reference cannot share our process. The worker
(``bench/reference_worker.py``, run by the reference venv's python) loads the model once and then encodes the texts
each time it is asked, so ``bench.encode`` can interleave it with our runners round by round; while one runner works
the other process waits on a pipe, so they never compete for the cores. The venv is made by
``scripts/setup_reference_env.sh``; it is found at ``--reference-python``, else ``$LLM2VEC_REFERENCE_PYTHON``, else
``.venv-reference/bin/python`` in the repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "bench" / "reference_worker.py"
DEFAULT_VENV = ROOT / ".venv-reference"
PYTHON_ENV_VAR = "LLM2VEC_REFERENCE_PYTHON"


def reference_python(explicit: str | os.PathLike | None = None) -> Path:
    """The reference venv's interpreter; a missing one is an error that says how to make it."""
    from_env = os.environ.get(PYTHON_ENV_VAR)
    path = Path(explicit or from_env or DEFAULT_VENV / "bin" / "python")
    source = "--reference-python" if explicit else f"${PYTHON_ENV_VAR}" if from_env else "the default"
    if not path.exists():
        raise FileNotFoundError(
            f"No reference interpreter at {path} ({source}). "
            "Make the llm2vec 0.2.3 venv with `bash scripts/setup_reference_env.sh` (into .venv-reference), "
            f"or point --reference-python / ${PYTHON_ENV_VAR} at one."
        )
    return path


class ReferenceRunner:
    """A runner for ``bench.encode`` (``run(encoder, texts, batch_size) -> (embeddings, processed tokens)``).

    Args:
        texts: every text of the benchmark, written once for the worker; each call encodes a prefix of them.
        python: the reference venv's interpreter (``reference_python``).
        threads: torch threads in the worker (0: torch's default), as ours use.
        device, dtype: where and in what precision the reference runs, as ours (``cpu``, ``float32``).
    """

    def __init__(
        self, texts: Sequence[str], python: Path, threads: int = 0, device: str = "cpu", dtype: str = "float32"
    ) -> None:
        self.texts = list(texts)
        self._tmp = tempfile.TemporaryDirectory(prefix="llm2vec-reference-")
        texts_path = Path(self._tmp.name) / "texts.json"
        texts_path.write_text(json.dumps(self.texts), encoding="utf-8")
        command = [str(python), str(WORKER), "--texts", str(texts_path), "--threads", str(threads)]
        command += ["--device", device, "--dtype", dtype]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONNOUSERSITE": "1"}
        self._process = subprocess.Popen(  # stderr (its logs) goes to ours
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, cwd=ROOT, env=env
        )
        self.info = self._reply()  # versions, model class, threads: sent once the model is loaded
        self._peak_mb = 0.0

    def _reply(self) -> dict:
        line = self._process.stdout.readline()
        if not line:
            code = self._process.wait()
            raise RuntimeError(f"The reference worker exited ({code}) without answering; its log is above.")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"The reference worker failed: {reply['error']}")
        return reply

    def __call__(self, encoder, texts: Sequence[str], batch_size: int) -> tuple[np.ndarray, int]:
        """Encode ``texts`` (a prefix of the benchmark's) with llm2vec 0.2.3; ``encoder`` is unused."""
        n = len(texts)
        if list(texts) != self.texts[:n]:
            raise ValueError("The reference worker encodes a prefix of the texts it was started with.")
        out = Path(self._tmp.name) / "embeddings.npy"
        self._process.stdin.write(json.dumps({"n": n, "batch_size": batch_size, "out": str(out)}) + "\n")
        self._process.stdin.flush()
        reply = self._reply()
        self._peak_mb = max(self._peak_mb, float(reply["peak_rss_mb"]))
        return np.load(out), int(reply["processed_tokens"])

    def peak_memory_mb(self) -> float:
        """The worker's peak RSS so far (its own process, not ours)."""
        return self._peak_mb

    def close(self) -> None:
        """Ask the worker to exit, and remove the texts file."""
        if self._process.poll() is None:
            try:
                self._process.stdin.write(json.dumps({"quit": True}) + "\n")
                self._process.stdin.flush()
                self._process.wait(timeout=60)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        self._tmp.cleanup()
