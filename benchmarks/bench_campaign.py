"""Scale-out of simulation campaigns (issue 5).

    python benchmarks/bench_campaign.py [--events 2000] [--repeats 3]

For 50 GeV photons in ``muon_block`` and ``course_pbwo4``, showers/s (median of ``--repeats``
runs of ``--events`` showers, written to HDF5) for:

* ``plain``: :func:`simulate_to_file`, one process, no Dask (the comparison run);
* ``chunked``: :func:`run_campaign` in this process (chunk files + manifest + merge, no Dask);
* ``dask-1`` / ``dask-2``: :func:`run_campaign` on a local Dask cluster with 1 / 2 worker
  processes, already started (warm workers);
* ``cold dask-2``: one run including the start of the cluster (what ``--workers 2`` costs).

All in one process run, so the ratios (2 workers / 1 worker; Dask / plain) are measured under
the same conditions.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, median, save  # noqa: E402

from calolab.simulation import ParticleGun, simulate_to_file  # noqa: E402
from calolab.simulation.campaign import dask_client, run_campaign  # noqa: E402

TARGET = 1000.0  # showers/s, issue 2, 50 GeV photons on the 2-core machine


def rates(fn, events: int, repeats: int) -> dict:
    fn()  # warm-up (numba kernels, worker imports)
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t0)
    return {"seconds": seconds, "median_rate": events / median(seconds)}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--detectors", default="muon_block,course_pbwo4")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    gun = ParticleGun("gamma", 50.0)
    n = args.events
    print(f"machine: {machine()}")
    results: dict = {"events": n, "repeats": args.repeats, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.h5"

        def plain(det: str) -> None:
            simulate_to_file(out, det, gun, n, seed=1)

        def chunked(det: str, client=None) -> None:
            run_campaign(out, det, gun, n, seed=1, client=client)

        for det in args.detectors.split(","):
            row: dict = {"detector": det}
            row["plain"] = rates(lambda: plain(det), n, args.repeats)  # noqa: B023
            row["chunked"] = rates(lambda: chunked(det), n, args.repeats)  # noqa: B023
            for k in (1, 2):
                with dask_client(workers=k) as client:
                    row[f"dask-{k}"] = rates(
                        lambda: chunked(det, client), n, args.repeats  # noqa: B023
                    )
            t0 = time.perf_counter()
            run_campaign(out, det, gun, n, seed=1, workers=2)
            row["cold dask-2"] = {"seconds": [time.perf_counter() - t0]}
            row["cold dask-2"]["median_rate"] = n / row["cold dask-2"]["seconds"][0]
            results["runs"].append(row)

    print(
        f"\n50 GeV photons, {n} showers per run, median of {args.repeats} "
        "(showers/s written to HDF5)\n"
    )
    print(
        "| detector | plain | chunked | dask-1 | dask-2 | cold dask-2 | 2 w / 1 w | dask-1 / plain |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results["runs"]:
        rate = {k: v["median_rate"] for k, v in r.items() if isinstance(v, dict)}
        r["scaling_2_over_1"] = rate["dask-2"] / rate["dask-1"]
        r["dask_over_plain"] = rate["dask-1"] / rate["plain"]
        r["reaches_target"] = rate["dask-2"] >= TARGET
        print(
            f"| {r['detector']} | {rate['plain']:.0f} | {rate['chunked']:.0f} | "
            f"{rate['dask-1']:.0f} | {rate['dask-2']:.0f} | {rate['cold dask-2']:.0f} | "
            f"{r['scaling_2_over_1']:.2f} | {r['dask_over_plain']:.2f} |"
        )
    for r in results["runs"]:
        verdict = "reaches" if r["reaches_target"] else "does NOT reach"
        print(f"{r['detector']}: 2 workers {verdict} the {TARGET:.0f} showers/s target")
    print(f"\nsaved {save('campaign', results)}")


if __name__ == "__main__":
    main()
