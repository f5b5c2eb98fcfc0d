"""Simulation speed of hadrons and muons (issue 7).

    python benchmarks/bench_hadrons_muons.py [--repeats 5] [--scale 1.0]

Events per second, one process, median of ``--repeats`` runs after a warm-up run (numba
compilation and physics tables are excluded), for

* 50 GeV π+ in ``course_pbwo4``,
* 1 TeV and 8 TeV μ- in ``muon_block``,

and, in the same process as the comparison, 50 GeV photons in ``course_pbwo4`` and in
``muon_block`` (the EM rate of the foundation). Results go to
``benchmarks/results/hadrons_muons.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, median, save, timed  # noqa: E402

from calolab.geometry import preset  # noqa: E402
from calolab.simulation import ParticleGun  # noqa: E402
from calolab.simulation.fast import FastSimulator  # noqa: E402

CASES = [
    ("50 GeV γ (EM reference)", "course_pbwo4", "gamma", 50.0, 300),
    ("50 GeV γ (EM reference)", "muon_block", "gamma", 50.0, 300),
    ("50 GeV π+", "course_pbwo4", "pi+", 50.0, 200),
    ("1 TeV μ-", "muon_block", "mu-", 1000.0, 300),
    ("8 TeV μ-", "muon_block", "mu-", 8000.0, 150),
]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the event counts")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    print(f"machine: {machine()}; load average at start {load:.1f}")
    sims: dict[str, FastSimulator] = {}
    rows = []
    for label, det, particle, energy, n in CASES:
        sim = sims.setdefault(det, FastSimulator(preset(det)))
        gun = ParticleGun(particle, energy)
        events = max(10, int(n * args.scale))
        times = timed(
            lambda sim=sim, gun=gun, events=events: sim.run(gun, events, seed=1), args.repeats
        )
        rows.append(
            {
                "case": label,
                "detector": det,
                "particle": particle,
                "energy_gev": energy,
                "events": events,
                "seconds": times,
                "median_rate": events / median(times),
            }
        )
    ref = {r["detector"]: r["median_rate"] for r in rows if r["particle"] == "gamma"}
    print(
        "\n| case | detector | events × repeats | events/s (median) | range | ratio to 50 GeV γ, same detector |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        rates = [r["events"] / t for t in r["seconds"]]
        print(
            f"| {r['case']} | {r['detector']} | {r['events']} × {args.repeats} | "
            f"{r['median_rate']:.0f} | {min(rates):.0f}–{max(rates):.0f} | "
            f"{r['median_rate'] / ref[r['detector']]:.2f} |"
        )
    load_end = os.getloadavg()[0]
    print(f"\nload average at end {load_end:.1f}")
    out = save(
        "hadrons_muons",
        {"rows": rows, "load_average": [load, load_end], "repeats": args.repeats},
    )
    print(f"saved {out}")


if __name__ == "__main__":
    main()
