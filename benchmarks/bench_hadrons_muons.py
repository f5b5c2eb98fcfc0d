"""Benchmark of the fast backend for hadrons and muons (issue 7).

Measures events per second, single process, for

* 50 GeV photons in ``course_pbwo4`` (the EM reference, measured in the same process),
* 50 GeV π+ in ``course_pbwo4``,
* 1 TeV and 8 TeV μ- in ``muon_block``,

each as the median of ``--repeats`` timed runs of ``--events`` events after a warm-up run
(numba compilation and table building are excluded). Prints a Markdown table with the
ratio of each rate to the photon rate; ``--json`` also writes the numbers.

Usage::

    python benchmarks/bench_hadrons_muons.py [--repeats 5] [--scale 1.0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

from calolab.geometry import preset
from calolab.simulation import ParticleGun
from calolab.simulation.fast import FastSimulator

CASES = [
    ("50 GeV γ, course_pbwo4 (EM reference)", "course_pbwo4", "gamma", 50.0, 300),
    ("50 GeV π+, course_pbwo4", "course_pbwo4", "pi+", 50.0, 200),
    ("1 TeV μ-, muon_block", "muon_block", "mu-", 1000.0, 300),
    ("8 TeV μ-, muon_block", "muon_block", "mu-", 8000.0, 150),
]


def rate(sim: FastSimulator, gun: ParticleGun, n: int, repeats: int) -> tuple[float, list[float]]:
    sim.run(gun, max(3, n // 20), seed=12345)  # warm-up: compilation, tables, caches
    rates = []
    for r in range(repeats):
        t0 = time.perf_counter()
        sim.run(gun, n, seed=1000 + r, start=0)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates), rates


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the event counts")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    sims: dict[str, FastSimulator] = {}
    rows = []
    for label, det, particle, energy, n in CASES:
        sim = sims.setdefault(det, FastSimulator(preset(det)))
        n_ev = max(10, int(n * args.scale))
        med, all_rates = rate(sim, ParticleGun(particle, energy), n_ev, args.repeats)
        rows.append({"case": label, "events": n_ev, "median_per_s": med, "rates": all_rates})
    ref = rows[0]["median_per_s"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load:.1f}; python {sys.version.split()[0]}"
    )
    print(
        f"command: python benchmarks/bench_hadrons_muons.py --repeats {args.repeats}"
        f" --scale {args.scale:g}\n"
    )
    print("| case | events × repeats | events/s (median) | min–max | ratio to EM photons |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['events']} × {args.repeats} | {r['median_per_s']:.0f} | "
            f"{min(r['rates']):.0f}–{max(r['rates']):.0f} | {r['median_per_s'] / ref:.2f} |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load_average": load, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
