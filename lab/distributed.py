"""Join the process group that ``torchrun`` / ``accelerate launch`` describe, for lab's own loops (corpus encode).

Training needs none of this: the Hugging Face Trainer joins the group itself. A launcher sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; without them everything runs as one process.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessInfo:
    """Where this process sits: its rank among ``world_size`` processes, and its GPU index on this machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def process_info() -> ProcessInfo:
    """This process's rank and world size: from the process group if one is initialised, else from the launcher's
    environment (``RANK``/``WORLD_SIZE``/``LOCAL_RANK``), else a single process."""
    if dist.is_available() and dist.is_initialized():
        return ProcessInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return ProcessInfo(
        int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
    )


def init_distributed() -> tuple[ProcessInfo, bool]:
    """Join the launcher's process group (NCCL on GPUs, gloo on CPUs) -> (info, whether this call created it).

    One process (no ``WORLD_SIZE`` above 1) joins nothing. On GPUs each process is bound to ``cuda:LOCAL_RANK``.
    """
    info = process_info()
    if info.world_size == 1 or (dist.is_available() and dist.is_initialized()):
        return info, False
    if not dist.is_available():
        raise RuntimeError(
            f"WORLD_SIZE is {info.world_size} but this torch build has no torch.distributed; run one process."
        )
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(info.local_rank)
    backend = "nccl" if cuda else "gloo"
    dist.init_process_group(backend)
    logger.info("Joined a %s process group: rank %d of %d", backend, info.rank, info.world_size)
    return process_info(), True


def rank_device(info: ProcessInfo) -> str:
    """The device a process of a launched group should use: its own GPU, or the CPU."""
    return f"cuda:{info.local_rank}" if torch.cuda.is_available() else "cpu"


def barrier() -> None:
    """Wait for every process of the group (a no-op for one process)."""
    if is_distributed():
        dist.barrier()


def all_ranks_ok(ok: bool) -> bool:
    """True only if ``ok`` holds on every process (so one rank's failure stops all of them, not a barrier hang)."""
    if not is_distributed():
        return ok
    flag = torch.tensor([0 if ok else 1], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(flag)
    return int(flag.item()) == 0
