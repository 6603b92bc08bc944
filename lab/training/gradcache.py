"""GradCache (Gao et al., 2021): a contrastive step over a large batch in small memory, with the same gradients.

The loss couples every embedding in the batch, so the batch cannot simply be split into accumulated micro-batches.
Instead:

1. embed each chunk **without** autograd (activations freed at once), recording the RNG state before it;
2. compute the loss on the detached embeddings and back-propagate **to the embeddings only** (cheap: (N, C) tensors);
3. re-embed each chunk **with** autograd, replaying its RNG state so dropout draws the same masks, and back-propagate
   the cached embedding gradient through it: d loss / d theta = sum over chunks of (d loss / d e_chunk) . (d e_chunk /
   d theta), exactly the full-batch gradient.

Peak memory is one chunk's activations plus the batch's embeddings, whatever the batch size.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch


@dataclass
class RngState:
    """The CPU and (if initialised) CUDA generator states at one moment."""

    cpu: torch.Tensor
    cuda: list[torch.Tensor] | None

    @classmethod
    def capture(cls) -> RngState:
        """The current states."""
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
        return cls(torch.get_rng_state(), cuda)

    @contextlib.contextmanager
    def replay(self) -> Iterator[None]:
        """Run the block from these states; the caller's RNG streams are restored afterwards."""
        devices = list(range(len(self.cuda))) if self.cuda is not None else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu)
            if self.cuda is not None:
                torch.cuda.set_rng_state_all(self.cuda)
            yield


def cached_backward(
    embed: Callable[[Any], torch.Tensor],
    groups: Sequence[Sequence[Any]],
    loss_fn: Callable[..., torch.Tensor],
    no_sync: Callable[[], contextlib.AbstractContextManager] | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One GradCache step: accumulate into ``.grad`` the gradient of ``loss_fn`` over chunked inputs.

    Returns the (detached) loss and each group's detached embeddings (N_i, C), e.g. for an accuracy metric.

    Args:
        embed: chunk -> (b, C) embeddings (runs the model; dropout may be active).
        groups: one list of chunks per loss argument, e.g. [query chunks, positive chunks, negative chunks]; the
            chunks of a group are concatenated in order into that argument.
        loss_fn: (E_1, ..., E_k) -> scalar loss, each E_i (N_i, C).
        no_sync: optional context manager factory (DDP's ``model.no_sync``) used for every re-embedding but the last,
            so gradients are all-reduced once.
    """
    states: list[list[RngState]] = []
    sizes: list[list[int]] = []
    detached: list[torch.Tensor] = []
    with torch.no_grad():  # 1. embeddings without activations
        for chunks in groups:
            states.append([])
            parts = []
            for chunk in chunks:
                states[-1].append(RngState.capture())
                parts.append(embed(chunk))  # (b, C)
            sizes.append([len(p) for p in parts])
            detached.append(torch.cat(parts).detach().requires_grad_())  # (N_i, C)
    loss = loss_fn(*detached)  # 2. loss and its gradient w.r.t. the embeddings
    loss.backward()
    jobs = [
        (chunk, state, grad_part)
        for chunks, group_states, group_sizes, emb in zip(groups, states, sizes, detached)
        for chunk, state, grad_part in zip(chunks, group_states, emb.grad.split(group_sizes))
    ]
    for index, (chunk, state, grad_part) in enumerate(jobs):  # 3. re-embed with autograd, same dropout masks
        sync = no_sync if no_sync is not None and index < len(jobs) - 1 else contextlib.nullcontext
        with state.replay(), sync():
            embed(chunk).backward(grad_part)  # adds (dL/de) . (de/dtheta) into every parameter's .grad
    return loss.detach(), [emb.detach() for emb in detached]
