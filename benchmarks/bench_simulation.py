"""Simulation speed and memory (issue 2).

    python benchmarks/bench_simulation.py [--events 400] [--repeats 5] [--stream 100000]

* showers/s for 50 GeV photons in ``muon_block`` and ``course_pbwo4``, one process: median of
  ``--repeats`` runs of ``--events`` showers; the comparison in the same process is the
  plain-numpy implementation of the same per-spot physics (``kernel="numpy"``).
* peak resident memory of ``calolab simulate`` streaming N showers to disk, for N = stream/10
  and N = stream (memory should be flat in N).
* with ``--baseline DIR`` (a checkout of an older calolab, e.g. the commit before a physics
  change): showers/s of 50 GeV photons in ``muon_block``, CPU time of one process, for this
  tree and for ``DIR/src``, in interleaved pairs (ABBA, ``--pairs`` of them) so that a busy
  machine slows both alike; the ratio of the medians is the number to quote.
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


_RATE = """
import sys, time
from calolab.geometry import preset
from calolab.simulation import ParticleGun
from calolab.simulation.fast import FastSimulator
sim = FastSimulator(preset(sys.argv[1])); gun = ParticleGun("gamma", 50.0)
sim.run(gun, 40, seed=1)
t = time.process_time(); sim.run(gun, int(sys.argv[2]), seed=2)
print(int(sys.argv[2]) / (time.process_time() - t))
"""


def baseline_rates(baseline: Path, det: str, events: int, pairs: int) -> dict:
    """Showers/s (CPU time) of this tree and of ``baseline/src``, interleaved ABBA."""
    import os
    import subprocess

    here = Path(__file__).resolve().parents[1] / "src"
    runs: dict[str, list[float]] = {"this": [], "baseline": []}
    for i in range(2 * pairs):
        order = ("baseline", "this") if i % 2 == 0 else ("this", "baseline")
        for which in order:
            src = here if which == "this" else baseline / "src"
            env = {**os.environ, "PYTHONPATH": str(src)}
            out = subprocess.run(
                [sys.executable, "-c", _RATE, det, str(events)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            runs[which].append(float(out.stdout.strip().splitlines()[-1]))
    return {
        "detector": det,
        "events": events,
        "rates": runs,
        "ratio_of_medians": median(runs["this"]) / median(runs["baseline"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--stream", type=int, default=100_000, help="largest N for the memory test")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--baseline", type=Path, help="checkout of an older calolab to compare with")
    ap.add_argument("--pairs", type=int, default=4)
    args = ap.parse_args()
    if args.baseline is not None:
        res = baseline_rates(args.baseline, "muon_block", args.events, args.pairs)
        print(f"machine: {machine()}")
        print(f"this tree: {res['rates']['this']}")
        print(f"baseline:  {res['rates']['baseline']}")
        print(f"ratio of medians (this / baseline): {res['ratio_of_medians']:.2f}")
        print(f"saved {save('simulation_vs_baseline', res)}")
        return
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
