"""Model resolution, the one-time GGUF conversion (safe under concurrency), dtype and device defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lab import models
from lab.models import default_dtype, parse_dtype, resolve_model_path


def test_hub_ids_fail_fast_offline_with_instructions(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="huggingface-cli download"):
        resolve_model_path("meta-llama/Llama-3-8B")


def test_local_folders_and_hub_ids_pass_through(tmp_path, monkeypatch):
    assert resolve_model_path(tmp_path) == str(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(models, "hub_unreachable", lambda timeout=3.0: None)  # as on a machine with a network
    assert resolve_model_path("org/name") == "org/name"  # handed to from_pretrained as a hub id


def test_dtypes():
    assert default_dtype("cpu") == torch.float32 and default_dtype("cuda") == torch.bfloat16
    assert parse_dtype("bf16", "cpu") == torch.bfloat16 and parse_dtype(None, "cpu") == torch.float32
    with pytest.raises(ValueError, match="Unknown dtype 'float8'"):
        parse_dtype("float8", "cpu")


CONVERT = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from lab.models import packaged_model_path
print(packaged_model_path("smollm2-135m"))
"""


@pytest.mark.slow
def test_two_processes_convert_once_and_never_see_a_half_written_folder(tmp_path):
    """Both processes start together on an empty cache: one converts under the lock, the other waits and reuses it."""
    env = {**os.environ, "LLM2VEC_LAB_CACHE": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONVERT], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in results]
    paths = {out.strip().splitlines()[-1] for out, _ in results}
    assert paths == {str(tmp_path / "models" / "smollm2-135m")}
    assert sum(err.count("to " + str(tmp_path)) for _, err in results) == 1  # the "Converting X to Y (once)" log
    folder = Path(paths.pop())
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert not [p for p in (tmp_path / "models").iterdir() if ".tmp-" in p.name]  # no temporary folder left behind
