"""Scale-out of simulation campaigns (issue 5).

    python benchmarks/bench_campaign.py [--events 1200] [--repeats 3]

For 50 GeV photons in ``muon_block`` and ``course_pbwo4``, showers/s (median of ``--repeats``
runs of ``--events`` showers, written to HDF5) for:

* ``plain``: :func:`simulate_to_file`, one process, no Dask (the comparison run);
* ``chunked``: a campaign in this process (chunk files + manifest + merge, no Dask);
* ``dask-1`` / ``dask-2``: a campaign on a local Dask cluster with 1 / 2 worker processes,
  already started (warm workers);
* ``cold dask-2``: one run including the start of the cluster (what ``--workers 2`` costs).

All in one process run, so the ratios (2 workers / 1 worker; Dask / plain) are measured under
the same conditions. Because a shared machine makes wall-clock ratios noisy, the table also
gives the *busy fraction* of the Dask runs: the time the workers spent inside the chunk
function (simulating and writing) divided by wall time × workers; 1 − busy fraction is the
overhead of Dask, of the manifest and of the merge, whatever else the machine is doing.
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
from calolab.simulation.campaign import Campaign, CampaignSpec, dask_client, execute  # noqa: E402

TARGET = 1000.0  # showers/s, issue 2, 50 GeV photons on the 2-core machine


def rates(fn, events: int, repeats: int, workers: int = 1) -> dict:
    fn()  # warm-up (numba kernels, worker imports)
    seconds, busy = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        chunk_seconds = fn()
        seconds.append(time.perf_counter() - t0)
        if chunk_seconds is not None:
            busy.append(chunk_seconds / (seconds[-1] * workers))
    out = {"seconds": seconds, "median_rate": events / median(seconds)}
    if busy:
        out["busy_fraction"] = median(busy)
    return out


def load_average() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError):
        return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=1200)
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

        def chunked(det: str, client=None) -> float:
            """A campaign; returns the seconds spent inside the chunk function."""
            camp = Campaign(out, CampaignSpec(det, gun, n, seed=1), keep_chunks=True)
            execute([camp], client=client)
            busy = sum(e["seconds"] for e in camp.done.values())
            for p in camp.work_dir.iterdir():
                p.unlink()
            camp.work_dir.rmdir()
            return busy

        for det in args.detectors.split(","):
            row: dict = {"detector": det, "load_average_before": load_average()}
            row["plain"] = rates(lambda: plain(det), n, args.repeats)  # noqa: B023
            row["chunked"] = rates(lambda: chunked(det), n, args.repeats)  # noqa: B023
            for k in (1, 2):
                with dask_client(workers=k) as client:
                    row[f"dask-{k}"] = rates(
                        lambda: chunked(det, client), n, args.repeats, k  # noqa: B023
                    )
            t0 = time.perf_counter()
            with dask_client(workers=2) as client:
                chunked(det, client)
            row["cold dask-2"] = {"seconds": [time.perf_counter() - t0]}
            row["cold dask-2"]["median_rate"] = n / row["cold dask-2"]["seconds"][0]
            row["load_average_after"] = load_average()
            results["runs"].append(row)

    print(
        f"\n50 GeV photons, {n} showers per run, median of {args.repeats} "
        "(showers/s written to HDF5)\n"
    )
    print(
        "| detector | plain | chunked | dask-1 | dask-2 | cold dask-2 | 2 w / 1 w | "
        "dask-1 / plain | busy fraction dask-1, dask-2 | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results["runs"]:
        rate = {k: v["median_rate"] for k, v in r.items() if isinstance(v, dict)}
        r["scaling_2_over_1"] = rate["dask-2"] / rate["dask-1"]
        r["dask_over_plain"] = rate["dask-1"] / rate["plain"]
        r["reaches_target"] = rate["dask-2"] >= TARGET
        print(
            f"| {r['detector']} | {rate['plain']:.0f} | {rate['chunked']:.0f} | "
            f"{rate['dask-1']:.0f} | {rate['dask-2']:.0f} | {rate['cold dask-2']:.0f} | "
            f"{r['scaling_2_over_1']:.2f} | {r['dask_over_plain']:.2f} | "
            f"{r['dask-1']['busy_fraction']:.2f}, {r['dask-2']['busy_fraction']:.2f} | "
            f"{r['load_average_before']:.1f}–{r['load_average_after']:.1f} |"
        )
    for r in results["runs"]:
        verdict = "reaches" if r["reaches_target"] else "does NOT reach"
        print(f"{r['detector']}: 2 workers {verdict} the {TARGET:.0f} showers/s target")
    print(f"\nsaved {save('campaign', results)}")


if __name__ == "__main__":
    main()
