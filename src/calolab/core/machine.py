"""What this machine can afford: memory and cores, for limits on user requests.

Options that multiply resources (``--workers``, read budgets of hostile or careless files) are
bounded by what the machine has, so that a typo is a one-line error instead of a machine that
swaps or kills processes.
"""

from __future__ import annotations

import os

from calolab.core.errors import ConfigError

#: Memory one simulation worker process needs (measured: ~230 MB resident for the fast
#: simulation of the built-in detectors, see BENCHMARKS.md, campaign).
SIMULATION_WORKER_BYTES = 230 << 20


def physical_memory_bytes() -> int:
    """Total memory of the machine (16 GiB when it cannot be determined)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 16 << 30


def available_memory_bytes() -> int:
    """Memory available to new work: ``MemAvailable`` of ``/proc/meminfo`` (Linux), else the
    physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return physical_memory_bytes()


def usable_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)  # pragma: no cover - not Linux


def check_workers(
    value: int | None,
    *,
    option: str = "--workers",
    per_worker_bytes: int = SIMULATION_WORKER_BYTES,
    oversubscribe: int = 1,
    hint: str = "",
) -> int | None:
    """``value`` if this machine can run that many local worker processes.

    At most ``oversubscribe`` workers per usable core and as many as the available memory
    holds at ``per_worker_bytes`` each; ``None`` passes through (no workers requested).

    Raises
    ------
    ConfigError
        Naming the option, the value, the limit and why.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{option} {value!r} must be an integer >= 1")
    cores = usable_cores() * oversubscribe
    by_memory = max(1, available_memory_bytes() // per_worker_bytes)
    limit = min(cores, by_memory)
    if value > limit:
        why = (
            f"this machine has {usable_cores()} usable cores"
            if cores <= by_memory
            else f"{available_memory_bytes() / 2**30:,.1f} GiB of available memory holds "
            f"{by_memory} workers of ~{per_worker_bytes >> 20} MB"
        )
        raise ConfigError(
            f"{option} {value:,} is more than this machine can run ({why}); use {option} "
            f"{limit} or fewer{hint}"
        )
    return value
