"""Helpers for the benchmarks: machine description, repeated timing, peak memory of a child."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

# where results land: benchmarks/results (the numbers of BENCHMARKS.md), or
# $CALOLAB_BENCH_RESULTS (run_all.py --quick points it elsewhere, so smoke runs never
# overwrite the published numbers)
RESULTS = Path(
    os.environ.get("CALOLAB_BENCH_RESULTS") or Path(__file__).resolve().parent / "results"
)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, Python {platform.python_version()}"


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls (after one warm-up call)."""
    fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def child_peak_rss_mib(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; return (peak resident memory in MiB, wall seconds) of that command alone.

    A fresh intermediate interpreter waits for the command, so the RUSAGE_CHILDREN maximum it
    reports belongs to this command only.
    """
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *cmd], check=True, capture_output=True, text=True
    )
    rss_kib, wall = out.stdout.split()
    return int(rss_kib) / 1024.0, float(wall)


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    p = RESULTS / f"{name}.json"
    data = {"machine": machine(), "python": sys.version.split()[0], **data}
    from calolab.core.files import write_text

    write_text(p, json.dumps(data, indent=2) + "\n", what="benchmark result")
    return p
