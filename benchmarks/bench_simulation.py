"""Simulation speed and memory (issue 2).

    python benchmarks/bench_simulation.py [--events 400] [--repeats 5] [--stream 100000]

* showers/s for 50 GeV photons in ``muon_block`` and ``course_pbwo4``, one process: median of
  ``--repeats`` runs of ``--events`` showers; the comparison in the same process is the
  plain-numpy implementation of the same per-spot physics (``kernel="numpy"``).
* peak resident memory of ``calolab simulate`` streaming N showers to disk, for N = stream/10
  and N = stream (memory should be flat in N).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import child_peak_rss_mib, machine, median, save, timed  # noqa: E402

from calolab.geometry import preset  # noqa: E402
from calolab.simulation import ParticleGun  # noqa: E402
from calolab.simulation.em import EMShowerModel  # noqa: E402
from calolab.simulation.fast import FastSimulator  # noqa: E402


def rate(det: str, kernel: str, events: int, repeats: int) -> dict:
    sim = FastSimulator(preset(det))
    sim.em = EMShowerModel(sim.stack, kernel=kernel)
    gun = ParticleGun("gamma", 50.0)
    times = timed(lambda: sim.run(gun, events, seed=1), repeats)
    return {
        "detector": det,
        "kernel": kernel,
        "events": events,
        "seconds": times,
        "median_rate": events / median(times),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--stream", type=int, default=100_000, help="largest N for the memory test")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    results: dict = {"rates": [], "memory": []}
    print("\n| detector | kernel | showers/s (median) | ratio numba/numpy |")
    print("|---|---|---|---|")
    for det in ("muon_block", "course_pbwo4"):
        numba = rate(det, "numba", args.events, args.repeats)
        ref = rate(det, "numpy", max(args.events // 4, 50), max(args.repeats // 2, 2))
        results["rates"] += [numba, ref]
        print(
            f"| {det} | numba | {numba['median_rate']:.0f} | {numba['median_rate'] / ref['median_rate']:.2f} |"
        )
        print(f"| {det} | numpy reference | {ref['median_rate']:.0f} | 1 |")
    if not args.skip_memory:
        print("\n| N streamed (course_pbwo4, 50 GeV γ) | peak RSS (MiB) | wall (s) | file (MB) |")
        print("|---|---|---|---|")
        with tempfile.TemporaryDirectory() as tmp:
            for n in (args.stream // 10, args.stream):
                out = Path(tmp) / f"s{n}.h5"
                cmd = [
                    sys.executable,
                    "-m",
                    "calolab.cli.main",
                    "simulate",
                    "course_pbwo4",
                    "--particle",
                    "gamma",
                    "--energy",
                    "50",
                    "-n",
                    str(n),
                    "-o",
                    str(out),
                    "-q",
                ]
                rss, wall = child_peak_rss_mib(cmd)
                size = out.stat().st_size / 1e6
                results["memory"].append(
                    {"n": n, "peak_rss_mib": rss, "wall_s": wall, "file_mb": size}
                )
                print(f"| {n:,} | {rss:.0f} | {wall:.0f} | {size:.0f} |")
                out.unlink()
    print(f"\nsaved {save('simulation', results)}")


if __name__ == "__main__":
    main()
