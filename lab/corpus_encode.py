"""Encode a corpus too large for memory: stream it in shards, spread the shards over processes, resume after a kill.

The input (a text file, one text a line, or JSONL with ``"text"`` and an optional ``"instruction"``) is read lazily;
every line is one row (a JSONL file's blank lines are skipped). Rows are cut into shards of ``shard_size`` in input
order; under ``torchrun`` / ``accelerate launch`` process r encodes shards r, r + N, r + 2N, ... (each sorted by
length inside ``LLM2Vec.encode``), so only one shard's texts and vectors are ever in memory. A finished shard is a
file, written atomically, so a killed run restarts where it stopped (with any number of processes). At the end
process 0 joins the shards, streaming, into one ``.npy``:

    emb.npy             (n, d) float32 in input order; ``np.load(path, mmap_mode="r")`` reads it without loading it
    emb.lines.npy       (n,) int64: the 0-based input line of each row (0..n-1 for a text file)
    emb.manifest.json   what was encoded from what, and how (source, rows, encoder config, shard size)
    emb.npy.parts/      while it runs: state.json and one shard-NNNNNN.npz per finished shard

A shard's vectors do not depend on which process encodes it, so any number of processes writes the same file.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm.auto import tqdm

from lab.distributed import all_ranks_ok, barrier, process_info
from lab.encoder import EncoderInput, LLM2Vec
from lab.memory import memory_report

logger = logging.getLogger(__name__)

FORMAT = "llm2vec-lab corpus embeddings v2"
DEFAULT_SHARD_SIZE = 10_000  # rows per shard: the memory bound, and the work lost to a kill


@dataclass
class CorpusOutput:
    """Where the result lies and what this call did."""

    embeddings: Path
    line_numbers: Path
    manifest: Path
    rows: int
    dim: int
    shards_encoded: int  # by this process in this call
    shards_skipped: int  # already finished by an earlier (killed) run
    peak_memory: dict[str, float]


def output_paths(out: str | os.PathLike) -> tuple[Path, Path, Path, Path]:
    """(embeddings .npy, line numbers .npy, manifest .json, parts folder) for an output path like ``emb.npy``."""
    out = Path(out)
    stem = out.name[: -len(".npy")] if out.name.endswith(".npy") else out.name
    lines, manifest = out.with_name(stem + ".lines.npy"), out.with_name(stem + ".manifest.json")
    return out, lines, manifest, out.with_name(out.name + ".parts")


# ---------------------------------------------------------------------------------------------- reading


def corpus_lines(path: str | os.PathLike, keep_blank: bool = True) -> Iterator[tuple[int, str]]:
    """(0-based line number, line) of every line, read lazily; ``keep_blank=False`` skips blank ones (JSONL).

    Lines end at ``"\\n"`` only (a ``"\\r\\n"`` ending is removed too): ``\\r``, ``\\x0c`` or U+2028 inside a line
    stay in its text, so row i is always line i of the file as ``wc -l`` counts them.
    """
    with open(path, "rb") as handle:  # binary: text mode would also split at a lone CR
        for number, raw in enumerate(handle):
            try:
                line = raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path}, line {number + 1}, is not UTF-8 ({error}); re-save the file as UTF-8."
                ) from None
            if keep_blank or line.strip():
                yield number, line


def check_output_path(out: str | os.PathLike) -> Path:
    """``out`` itself if the embeddings can be written there: it ends in ``.npy`` and its folder exists and is
    writable. Checked before any model is loaded or any text encoded, so a typo never costs the whole encoding."""
    out = Path(out)
    if out.suffix != ".npy":
        raise ValueError(
            f"Output {str(out)!r} must end in .npy (the file written is exactly that path); try {str(out) + '.npy'!r}."
        )
    folder = out.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"The folder of output {str(out)!r} does not exist; create {str(folder)!r} first.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"The folder of output {str(out)!r} is not writable; choose another output.")
    if out.is_dir():
        raise ValueError(f"Output {str(out)!r} is a folder; give a file name ending in .npy.")
    return out


def parse_line(line: str, number: int, jsonl: bool) -> EncoderInput:
    """A text line as it is; a JSONL line as its ``"text"`` (or ``(instruction, text)`` with ``"instruction"``)."""
    if not jsonl:
        return line
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"Line {number + 1} is not valid JSON ({error}); a .jsonl input holds one object a line."
        ) from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise ValueError(
            f"Line {number + 1} has no string 'text' field (got {line[:80]!r}); expected {{\"text\": ...}} with an "
            'optional "instruction".'
        )
    instruction = record.get("instruction")
    return (instruction, record["text"]) if isinstance(instruction, str) and instruction else record["text"]


def shards(
    path: str | os.PathLike, shard_size: int, keep_blank: bool = True
) -> Iterator[tuple[int, Iterator[tuple[int, str]]]]:
    """(shard index, its lines) in input order; a shard's lines must be consumed (or skipped) before the next."""
    lines = corpus_lines(path, keep_blank)
    for index in itertools.count():
        chunk = itertools.islice(lines, shard_size)
        first = next(chunk, None)
        if first is None:
            return
        yield index, itertools.chain([first], chunk)


# ---------------------------------------------------------------------------------------------- state


def fingerprint(path: Path, encoder: LLM2Vec, shard_size: int, normalize: bool) -> dict:
    """Everything a finished shard depends on: resuming with any of it changed would mix two encodings."""
    stat = path.stat()
    return {
        "source": str(path),
        "source_bytes": stat.st_size,
        "source_mtime_ns": stat.st_mtime_ns,
        "format": FORMAT,  # v2 keeps blank lines as rows: a v1 output or its parts are never taken as this one
        "shard_size": shard_size,
        "normalize_embeddings": normalize,
        "encoder": asdict(encoder.config),
        "dim": encoder.embedding_dim,
        "model_dtype": str(next(encoder.model.parameters()).dtype),
    }


def check_state(parts: Path, expected: dict) -> None:
    """Record the run's fingerprint in ``parts``, or check it against the one recorded by a killed run."""
    state = parts / "state.json"
    if state.is_file():
        recorded = json.loads(state.read_text())
        if recorded != expected:
            changed = sorted(k for k in set(recorded) | set(expected) if recorded.get(k) != expected.get(k))
            raise ValueError(
                f"{parts} holds shards of a different encoding (changed: {', '.join(changed)}). Delete that folder "
                "to start over, or write to another output."
            )
        return
    tmp = state.with_name(f"state.json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(expected, indent=2) + "\n")
    os.replace(tmp, state)  # atomic: every process writes the same content


def write_atomically(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez`` to a temporary file, then rename: a kill leaves either the whole file or none."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def shard_path(parts: Path, index: int) -> Path:
    return parts / f"shard-{index:06d}.npz"


# ---------------------------------------------------------------------------------------------- assembly


def _stream_npy(path: Path, arrays: Iterator[np.ndarray], shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Write a standard ``.npy`` of ``shape`` from row blocks, one block in memory at a time (no mmap, flat RSS)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    written = 0
    with open(tmp, "wb") as handle:
        np.lib.format.write_array_header_2_0(handle, header)
        for block in arrays:
            block = np.ascontiguousarray(block, dtype=dtype)
            handle.write(block.tobytes())
            written += block.shape[0]
    if written != shape[0]:
        raise RuntimeError(f"Joined {written} rows into {path}, expected {shape[0]}; the shard files are damaged.")
    os.replace(tmp, path)


def assemble(parts: Path, n_shards: int, rows: int, dim: int, paths: tuple[Path, Path, Path], manifest: dict) -> None:
    """Join shards 0..n_shards-1 into the embeddings and line-number files, then write the manifest (last)."""
    missing = [shard_path(parts, i).name for i in range(n_shards) if not shard_path(parts, i).is_file()]
    if missing:
        raise RuntimeError(f"Shards {', '.join(missing[:5])} are missing from {parts}; run the command again.")

    def blocks(key: str) -> Iterator[np.ndarray]:
        for i in range(n_shards):
            with np.load(shard_path(parts, i)) as shard:
                yield shard[key]

    embeddings, lines, manifest_path = paths
    _stream_npy(embeddings, blocks("embeddings"), (rows, dim), np.float32)
    _stream_npy(lines, blocks("lines"), (rows,), np.int64)
    tmp = manifest_path.with_name(manifest_path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, manifest_path)


# ---------------------------------------------------------------------------------------------- encode


def encode_corpus(
    path: str | os.PathLike,
    out: str | os.PathLike,
    encoder: LLM2Vec,
    batch_size: int = 32,
    shard_size: int = DEFAULT_SHARD_SIZE,
    normalize_embeddings: bool = False,
    show_progress_bar: bool | None = None,
    keep_parts: bool = False,
) -> CorpusOutput:
    """Embed every line of ``path`` into ``out`` (an ``(n, d)`` float32 ``.npy``), streaming, resumable.

    Call it in every process of a launched group (``torchrun``/``accelerate launch``): each encodes its shards, and
    process 0 joins them. A second call after a kill skips the finished shards; after success it returns at once.

    Args:
        path: a UTF-8 text file (one text a line, split at ``"\\n"`` only; a blank line is a row too, the vector
            of the empty text: zero under mean pooling) or ``.jsonl`` (``{"text": ..., "instruction": ...}`` a line;
            blank lines skipped).
        out: the output ``.npy``; the line numbers, manifest and parts folder are named after it.
        encoder: the model; every process must load the same one.
        batch_size: texts per forward pass (results do not depend on it).
        shard_size: rows per shard: the most texts held in memory, and the most work a kill loses.
        normalize_embeddings: unit-length vectors.
        show_progress_bar: a tqdm bar on process 0 (default: when logging at INFO).
        keep_parts: keep the shard files after joining them (they double the disk used).
    """
    if not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer; got {shard_size!r}.")
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"Input {str(source)!r} does not exist; expected a text or .jsonl file.")
    info = process_info()
    embeddings_path, lines_path, manifest_path, parts = output_paths(check_output_path(out))
    expected = fingerprint(source, encoder, shard_size, normalize_embeddings)
    if manifest_path.is_file() and embeddings_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("fingerprint") == expected:
            logger.info("%s is already complete (%d rows); nothing to do", embeddings_path, manifest["rows"])
            return CorpusOutput(
                embeddings_path, lines_path, manifest_path, manifest["rows"], manifest["dim"], 0, 0, memory_report()
            )
    parts.mkdir(parents=True, exist_ok=True)
    check_state(parts, expected)
    if show_progress_bar is None:
        show_progress_bar = logger.getEffectiveLevel() <= logging.INFO
    jsonl = source.suffix == ".jsonl"
    encoded = skipped = rows = n_shards = 0
    error: BaseException | None = None
    bar = tqdm(desc="Encoding", unit="text", disable=not (show_progress_bar and info.is_main))
    try:
        for index, lines in shards(source, shard_size, keep_blank=not jsonl):
            n_shards = index + 1
            target = shard_path(parts, index)
            if index % info.world_size != info.rank or target.is_file():
                rows += sum(1 for _ in lines)  # another process's shard, or finished before a kill
                skipped += index % info.world_size == info.rank
                continue
            numbers, texts = [], []
            for number, line in lines:
                numbers.append(number)
                texts.append(parse_line(line, number, jsonl))
            vectors = encoder.encode(
                texts, batch_size=batch_size, normalize_embeddings=normalize_embeddings, show_progress_bar=False
            )  # (len(texts), d), sorted by length inside, returned in input order
            write_atomically(target, embeddings=vectors, lines=np.asarray(numbers, dtype=np.int64))
            rows += len(texts)
            encoded += 1
            bar.update(len(texts))
    except Exception as caught:  # tell the other processes, so they stop instead of waiting at the barrier
        error = caught
    finally:
        bar.close()
    if not all_ranks_ok(error is None):
        if error is not None:
            raise error
        raise RuntimeError("Another process of the group failed while encoding; see its error above.")
    logger.info("Process %d: %d shards encoded, %d finished earlier", info.rank, encoded, skipped)
    barrier()
    memory = memory_report(encoder.device)
    if info.is_main:
        manifest = {
            "format": FORMAT,
            "rows": rows,
            "dim": encoder.embedding_dim,
            "dtype": "float32",
            "embeddings": embeddings_path.name,
            "line_numbers": lines_path.name,
            "shards": n_shards,
            "world_size": info.world_size,
            "fingerprint": expected,
            "peak_memory_rank0": memory,
        }
        assemble(parts, n_shards, rows, encoder.embedding_dim, (embeddings_path, lines_path, manifest_path), manifest)
        if not keep_parts:
            shutil.rmtree(parts, ignore_errors=True)
        logger.info("Wrote %d x %d embeddings to %s", rows, encoder.embedding_dim, embeddings_path)
    barrier()  # every process returns once the output exists
    return CorpusOutput(
        embeddings_path, lines_path, manifest_path, rows, encoder.embedding_dim, encoded, skipped, memory
    )
