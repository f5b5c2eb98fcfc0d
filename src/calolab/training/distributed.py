"""Distributed data-parallel training with ``torchrun``.

Launch any training the usual way under ``torchrun``; calolab reads the rendezvous from the
environment that torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``)::

    torchrun --standalone --nproc-per-node 2 -m calolab.cli.main train --data d.h5 \\
        --model mlp --device cpu -o run          # 2 CPU processes (gloo)
    torchrun --standalone --nproc-per-node 4 -m calolab.cli.main train ... --device cuda
                                                 # 4 GPUs (nccl), one per process

Semantics. ``batch_size`` stays the *global* batch: every optimisation step takes the same
events as in a single process, split between the ranks (rank r takes the r-th share of each
batch); gradients are averaged by :class:`~torch.nn.parallel.DistributedDataParallel` with
each rank's loss weighted by its share, so a step is the step of one process up to the order
of floating-point sums. The number of steps per epoch, the learning-rate schedule and the
checkpoints are therefore the same whatever the number of processes: a checkpoint written by
a 2-process run resumes in one process and vice versa (``--resume``). Only rank 0 writes
files; losses and metrics are reduced over ranks.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import logging
import os
from collections.abc import Iterator

import torch

from calolab.core.errors import ConfigError
from calolab.training.trainer import DistContext, resolve_device

log = logging.getLogger(__name__)


def torchrun_env() -> tuple[int, int, int] | None:
    """``(rank, world_size, local_rank)`` when launched by torchrun with several processes."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise ConfigError(
            "RANK, WORLD_SIZE and LOCAL_RANK must be integers (they are set by torchrun)"
        ) from None
    if world <= 1:
        return None
    if not 0 <= rank < world:
        raise ConfigError(f"RANK {rank} is outside [0, WORLD_SIZE={world})")
    return rank, world, local


@contextlib.contextmanager
def distributed(device: str = "auto", timeout_s: float = 1800.0) -> Iterator[DistContext]:
    """The :class:`DistContext` of this process.

    Under torchrun with ``WORLD_SIZE > 1``: initialise the default process group — ``nccl``
    on CUDA (device ``cuda:LOCAL_RANK``), ``gloo`` on CPU — and destroy it on exit.
    Otherwise a single-process context on ``device``, without ``torch.distributed``.

    Parameters
    ----------
    device:
        ``"auto"``, ``"cpu"`` or ``"cuda"`` (as in :class:`~calolab.training.TrainConfig`).
    timeout_s:
        How long collective operations wait for the other ranks.
    """
    env = torchrun_env()
    if env is None:
        yield DistContext(device=resolve_device(device))
        return
    rank, world, local = env
    if not torch.distributed.is_available():  # pragma: no cover - all standard builds have it
        raise ConfigError("this PyTorch build has no torch.distributed; run in one process")
    dev = resolve_device(device)
    if dev.type == "cuda":
        if local >= torch.cuda.device_count():
            raise ConfigError(
                f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA device(s); "
                "start at most one process per GPU (--nproc-per-node)"
            )
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
        backend = "nccl"
    else:
        backend = "gloo"
    initialised_here = not torch.distributed.is_initialized()
    if initialised_here:
        torch.distributed.init_process_group(
            backend=backend,
            rank=rank,
            world_size=world,
            timeout=datetime.timedelta(seconds=timeout_s),
        )
    log.info("rank %d of %d on %s (%s)", rank, world, dev, backend)
    finished = False
    try:
        yield DistContext(rank=rank, world_size=world, device=dev)
        finished = True
    finally:
        if initialised_here and torch.distributed.is_initialized():
            _shut_down(finished)


def _shut_down(finished: bool) -> None:
    """Leave the process group together.

    A rank that tears down its connections while another still uses them (rank 0 writes the
    summary after the last collective) can abort the other's gloo threads ("terminate called
    without an active exception", SIGABRT). So: free the ``DistributedDataParallel`` wrappers
    that still hold the group (reference cycles), wait for every rank, then destroy. After an
    error the other ranks may be gone, so no barrier then.
    """
    gc.collect()
    if finished:
        torch.distributed.barrier()
    torch.distributed.destroy_process_group()


__all__ = ["distributed", "torchrun_env"]
