"""Streaming, resumable, distributed corpus encode (``lab.corpus_encode``), proven against ``LLM2Vec.encode``."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from lab import LLM2Vec
from lab.corpus_encode import encode_corpus, output_paths, shard_path

ROOT = Path(__file__).resolve().parents[1]
WORDS = "the cat sat on a mat while dogs ran in the park and markets fell after rates rose sharply".split()


def write_corpus(path: Path, n: int = 23) -> tuple[list[str], list[int]]:
    """``n`` lines of varied length, some blank (a blank line is a row too) -> (texts, their 0-based line numbers)."""
    rng = np.random.default_rng(0)
    texts = ["   " if i % 4 == 1 else " ".join(rng.choice(WORDS, size=int(rng.integers(1, 30)))) for i in range(n)]
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return texts, list(range(n))


@pytest.fixture(scope="module")
def tiny() -> LLM2Vec:
    return LLM2Vec.from_pretrained("tiny-llama", device="cpu")


def test_streamed_shards_equal_one_encode_call_in_input_order(tmp_path: Path, tiny: LLM2Vec) -> None:
    texts, numbers = write_corpus(tmp_path / "corpus.txt")
    result = encode_corpus(tmp_path / "corpus.txt", tmp_path / "emb.npy", tiny, batch_size=3, shard_size=5)
    expected = tiny.encode(texts, batch_size=8)  # all at once, sorted over the whole corpus
    got = np.load(result.embeddings, mmap_mode="r")  # a standard .npy, readable without loading it
    assert got.shape == (23, 64) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert np.load(result.line_numbers).tolist() == numbers
    manifest = json.loads(result.manifest.read_text())
    assert (
        manifest["rows"] == 23 and manifest["shards"] == 5 and manifest["fingerprint"]["encoder"]["pooling"] == "mean"
    )
    assert not output_paths(tmp_path / "emb.npy")[3].exists()  # the parts are removed once joined
    again = encode_corpus(tmp_path / "corpus.txt", tmp_path / "emb.npy", tiny, shard_size=5)
    assert again.shards_encoded == 0 and again.rows == 23  # complete: nothing redone


def test_jsonl_rows_with_instructions(tmp_path: Path, tiny: LLM2Vec) -> None:
    records = [{"text": "a cat sat"}, {"text": "dogs ran", "instruction": "Retrieve a passage:"}, {"text": ""}]
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    out = encode_corpus(tmp_path / "c.jsonl", tmp_path / "e.npy", tiny, shard_size=2, normalize_embeddings=True)
    expected = tiny.encode(["a cat sat", ("Retrieve a passage:", "dogs ran"), ""], normalize_embeddings=True)
    np.testing.assert_allclose(np.load(out.embeddings), expected, rtol=0, atol=1e-5)
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"txt": "no"}\n')
    with pytest.raises(ValueError, match="Line 2 has no string 'text' field"):
        encode_corpus(tmp_path / "bad.jsonl", tmp_path / "bad.npy", tiny)


def test_resuming_with_another_encoding_is_refused(tmp_path: Path, tiny: LLM2Vec) -> None:
    write_corpus(tmp_path / "corpus.txt")
    encode_corpus(tmp_path / "corpus.txt", tmp_path / "emb.npy", tiny, shard_size=5, keep_parts=True)
    tmp_path.joinpath("emb.manifest.json").unlink()  # as if killed before the join
    other = LLM2Vec.from_pretrained("tiny-llama", device="cpu", pooling="weighted_mean")
    with pytest.raises(ValueError, match=r"different encoding \(changed: encoder\)"):
        encode_corpus(tmp_path / "corpus.txt", tmp_path / "emb.npy", other, shard_size=5)


def _run_then_die_after_two_shards(corpus: str, out: str) -> None:
    """In a child process: encode, and SIGKILL this process right after the second shard file is written."""
    import lab.corpus_encode as corpus_encode

    written = []
    original = corpus_encode.write_atomically

    def write_then_maybe_die(path, **arrays):
        original(path, **arrays)
        written.append(path)
        if len(written) == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # a real kill: no cleanup, no finally blocks

    corpus_encode.write_atomically = write_then_maybe_die
    model = LLM2Vec.from_pretrained("tiny-llama", device="cpu")
    corpus_encode.encode_corpus(corpus, out, model, shard_size=5, show_progress_bar=False)


def test_a_killed_run_resumes_without_redoing_finished_shards(tmp_path: Path, tiny: LLM2Vec) -> None:
    texts, _ = write_corpus(tmp_path / "corpus.txt")
    child = multiprocessing.get_context("spawn").Process(
        target=_run_then_die_after_two_shards, args=(str(tmp_path / "corpus.txt"), str(tmp_path / "emb.npy"))
    )
    child.start()
    child.join(timeout=900)
    assert child.exitcode == -signal.SIGKILL
    parts = output_paths(tmp_path / "emb.npy")[3]
    assert sorted(p.name for p in parts.glob("shard-*.npz")) == ["shard-000000.npz", "shard-000001.npz"]
    assert not (tmp_path / "emb.npy").exists()

    encoded: list[int] = []
    original = tiny.encode
    tiny.encode = lambda items, **kw: encoded.append(len(items)) or original(items, **kw)  # count what is redone
    try:
        result = encode_corpus(tmp_path / "corpus.txt", tmp_path / "emb.npy", tiny, shard_size=5)
    finally:
        del tiny.encode
    assert encoded == [5, 5, 3] and result.shards_skipped == 2  # shards 2, 3, 4 only
    np.testing.assert_allclose(np.load(result.embeddings), tiny.encode(texts), rtol=0, atol=1e-5)


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed gloo")
def test_torchrun_two_processes_write_what_one_process_writes(tmp_path: Path, tiny: LLM2Vec) -> None:
    texts, _ = write_corpus(tmp_path / "corpus.txt")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun process runs: same threads, same batches -> bit-identical vectors
    try:
        reference = encode_corpus(tmp_path / "corpus.txt", tmp_path / "one.npy", tiny, batch_size=3, shard_size=4)
    finally:
        torch.set_num_threads(threads)
    one = np.load(reference.embeddings)

    # a run killed after shards 0 and 3 (any process count may resume it); shard 0's file is marked (+1), so a
    # resumed run that reused it, rather than re-encoding it, shows the mark in its output
    out = tmp_path / "two.npy"
    encode_corpus(tmp_path / "corpus.txt", out, tiny, shard_size=4, keep_parts=True)
    parts = output_paths(out)[3]
    for path in [out, *output_paths(out)[1:3]] + [shard_path(parts, i) for i in (1, 2, 4, 5)]:
        path.unlink()
    with np.load(shard_path(parts, 0)) as shard:
        marked = {"embeddings": shard["embeddings"] + 1.0, "lines": shard["lines"]}
    np.savez(shard_path(parts, 0), **marked)

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "lab"]
    command += ["encode", "--model", "tiny-llama", "--device", "cpu", "--input", str(tmp_path / "corpus.txt")]
    command += ["--output", str(out), "--shard-size", "4", "--batch-size", "3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("wrote 23 x 64 embeddings") == 1  # printed by process 0 only

    two = np.load(out)
    np.testing.assert_allclose(two[:4], one[:4] + 1.0, rtol=0, atol=1e-5)  # shard 0 was reused, not re-encoded
    np.testing.assert_array_equal(two[4:12], one[4:12])  # shards 1 and 2: encoded by processes 1 and 0
    np.testing.assert_allclose(two[12:16], one[12:16], rtol=0, atol=1e-5)  # shard 3: the killed run's, kept
    np.testing.assert_array_equal(two[16:], one[16:])  # shards 4 and 5  # the rest: encoded by two processes
    np.testing.assert_allclose(one, tiny.encode(texts), rtol=0, atol=1e-5)
    assert json.loads(output_paths(out)[2].read_text())["world_size"] == 2
