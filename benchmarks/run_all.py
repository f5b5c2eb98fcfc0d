"""Run the benchmarks of BENCHMARKS.md one after the other (what ``make bench`` runs).

    python benchmarks/run_all.py [--quick] [--only NAME ...]

Each benchmark runs in its own process with its default (BENCHMARKS.md) settings, or a
reduced sample with ``--quick`` (a smoke run: its numbers are not the published ones, and its
results go to a temporary directory instead of ``benchmarks/results``). Results land in
``benchmarks/results/*.json``; a failing benchmark is reported and the others still run; the
exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name: (full arguments, quick arguments)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "simulation": (
        [],
        ["--events", "400", "--large", "0", "--repeats", "1", "--inprocess-events", "100"]
        + ["--layout-events", "60", "--stream", "2000"],
    ),
    "hadrons_muons": ([], ["--repeats", "2", "--scale", "0.2"]),
    "campaign": (["--events", "3000"], ["--events", "300", "--repeats", "1"]),
    "regression": (["--part", "all"], ["--part", "cheap", "--scale", "0.1"]),
    "events": ([], ["--quick"]),
    "gpu": ([], ["--events", "300", "--epochs", "2"]),
    "demo": ([], ["--skip-full"]),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small samples (smoke run)")
    ap.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    a = ap.parse_args(argv)
    failed = []
    env = dict(os.environ)
    if a.quick:
        env["CALOLAB_BENCH_RESULTS"] = tempfile.mkdtemp(prefix="calolab-bench-quick-")
        print(f"smoke run: results in {env['CALOLAB_BENCH_RESULTS']}", flush=True)
    for name in a.only or BENCHMARKS:
        full, quick = BENCHMARKS[name]
        cmd = [sys.executable, str(HERE / f"bench_{name}.py"), *(quick if a.quick else full)]
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(cmd, env=env)
        print(f"== {name}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
