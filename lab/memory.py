"""Peak memory of this process, recorded by encode and training runs: GPU max allocated, or CPU max RSS."""

from __future__ import annotations

import resource
import sys

import torch


def peak_rss_mb() -> float:
    """The process's maximum resident set size so far, in MiB (it only grows; Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def peak_memory_mb(device: torch.device | str | None = None) -> float:
    """``torch.cuda.max_memory_allocated`` on a CUDA device, else the process's peak RSS, in MiB."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mb()


def peak_memory_gb(device: torch.device | str | None = None) -> float:
    """``peak_memory_mb`` in GB (1e9 bytes), as training metrics report it; default device: CUDA if available."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return peak_memory_mb(device) * 2**20 / 1e9


def memory_report(device: torch.device | str | None = None) -> dict[str, float]:
    """Both figures a run records: ``peak_rss_mb`` always, ``peak_gpu_allocated_mb`` on a CUDA device."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    report = {"peak_rss_mb": round(peak_rss_mb(), 1)}
    if device.type == "cuda":
        report["peak_gpu_allocated_mb"] = round(peak_memory_mb(device), 1)
    return report
