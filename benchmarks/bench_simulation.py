"""Simulation throughput (issues 2 and 17): one process, 2 workers, no-write, sparse vs dense.

    python benchmarks/bench_simulation.py [--events 10000] [--large 100000] [--repeats 3]
                                          [--parts inprocess,cli,phases,layout,memory]

Everything for 50 GeV photons into ``muon_block`` (``--detector``), in one run:

* ``inprocess``: showers/s of the simulation alone (``FastSimulator.run``, binning into cells
  included, nothing written), median of ``--repeats`` runs of ``--inprocess-events`` after a
  warm-up, for the compiled (numba) kernel and the plain-numpy reference of the same physics;
  also for ``course_pbwo4``.
* ``cli``: ``calolab simulate`` as a child process, writing the file, ``--events`` showers
  (and ``--large`` showers unless 0): one process, and ``--workers 2`` (a local pool of
  worker processes, its start included), alternating, ``--repeats`` pairs; wall time (median)
  and CPU time of the whole process tree, and the ratio one process / 2 workers (paired runs).
  With ``--cli-baseline DIR`` the ``--workers 2`` runs of the calolab in ``DIR/src`` (e.g. a
  checkout before a scale-out change) join the alternation. One process is also run with
  ``--layout dense`` and ``--layout sparse`` (write speed and file size in situ).
* ``phases``: where a 2-worker campaign of ``--events`` showers spends its time (driver:
  warm-up, pool start, recording, streaming merge, commit, shutdown; workers: simulation,
  writing, start-up), from the campaign's own timings.
* ``layout``: sparse vs dense files of the same showers: bytes per event, CPU ms per event to
  write them (``ShowerWriter``) and to read them back (``read_cells``), and the occupancy scan
  behind the ``auto`` rule (digitised cells with noise thresholds from 0 to 4 σ).
* ``memory``: peak resident memory of ``calolab simulate`` streaming N showers to disk, for
  N = stream/10 and N = stream (memory should be flat in N).
* ``percore`` (issue 17, twice the showers per core): ``--events`` showers, one process,
  (a) ``calolab simulate`` writing its file (child process: wall, CPU) and (b) in process,
  digitised, nothing written (``FastSimulator.run`` after a warm-up, in the batches that
  ``simulate_to_file`` uses: CPU time); with
  ``--percore-baseline DIR`` the same runs of the calolab in ``DIR/src`` alternate with this
  tree's (ABBA, ``--repeats`` rounds) and the ratios of the medians are printed — against
  this tree's defaults and against this tree with ``--no-digitize`` (true cells only: the
  same work as a tree from before digitisation by default, e.g. 7d9fd2e, issue 13's "today").
* ``profile``: CPU time per shower of ``simulate_to_file`` (``--events`` showers, one process)
  split by phase — physics (per-event Python, the numba cascade and spot kernels), binning,
  digitisation, HDF5 writing, the rest — from wrappers around the functions of each phase
  (child processes; also for ``--percore-baseline DIR``).

Wall-clock numbers depend on what else the machine runs: the load average is recorded before
and after every part; CPU seconds and the ratios measured in the same run are the robust ones.
The 2-worker speed-up needs a quiet machine: with the kernel's ``sched_autogroup`` on (printed
at the start) CPU time is shared between sessions, so while other sessions load the machine
the two workers share this session's share and run no faster than one process.

With ``--baseline DIR`` (a checkout of an older calolab, e.g. the commit before a physics
change), instead: showers/s of 50 GeV photons in ``muon_block``, CPU time of one process, for
this tree and for ``DIR/src``, in interleaved pairs (ABBA, ``--pairs`` of them) so that a busy
machine slows both alike; the ratio of the medians is the number to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import child_peak_rss_mib, machine, median, save, timed  # noqa: E402

from calolab.geometry import preset  # noqa: E402
from calolab.simulation import ParticleGun  # noqa: E402
from calolab.simulation.em import EMShowerModel  # noqa: E402
from calolab.simulation.fast import FastSimulator  # noqa: E402

PARTS = ("inprocess", "cli", "phases", "layout", "memory", "percore", "profile")


def load_average() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError):
        return float("nan")


# --------------------------------------------------------------------------- in process
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


def part_inprocess(args: argparse.Namespace, results: dict) -> None:
    print("\n### In process, no file (FastSimulator.run), 50 GeV γ\n")
    print("| detector | kernel | showers/s (median) | ratio numba/numpy |")
    print("|---|---|---|---|")
    rows = []
    for det in dict.fromkeys((args.detector, "course_pbwo4")):
        numba = rate(det, "numba", args.inprocess_events, args.repeats)
        ref = rate(det, "numpy", max(args.inprocess_events // 4, 50), max(args.repeats // 2, 2))
        rows += [numba, ref]
        ratio = numba["median_rate"] / ref["median_rate"]
        print(f"| {det} | numba | {numba['median_rate']:.0f} | {ratio:.2f} |")
        print(f"| {det} | numpy reference | {ref['median_rate']:.0f} | 1 |")
    results["inprocess"] = rows


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


# --------------------------------------------------------------------------- CLI runs
def run_cli(det: str, n: int, out: Path, extra: list[str], src: Path | None = None) -> dict:
    """``calolab simulate`` in a child process (of the calolab in ``src``, default: this
    tree): wall seconds, CPU seconds of the process tree (the child, its workers), file
    size."""
    cmd = [sys.executable, "-m", "calolab.cli.main", "simulate", det, "--particle", "gamma"]
    cmd += ["--energy", "50", "-n", str(n), "-o", str(out), "-q", *extra]
    env = None if src is None else {**os.environ, "PYTHONPATH": str(src)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    size = out.stat().st_size
    out.unlink()
    return {"wall_s": wall, "cpu_s": cpu, "bytes": size}


def part_cli(args: argparse.Namespace, results: dict) -> None:
    det = args.detector
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        out = Path(tmp) / "s.h5"
        run_cli(det, 200, out, [])  # warm the numba cache and the page cache
        for n in [args.events] + ([args.large] if args.large else []):
            load0 = load_average()
            runs: dict[str, list[dict]] = {"one process": [], "2 workers": []}
            if args.cli_baseline:
                runs["2 workers, baseline tree"] = []
            for _ in range(args.repeats):  # alternating, so that load drifts hit both
                runs["one process"].append(run_cli(det, n, out, []))
                runs["2 workers"].append(run_cli(det, n, out, ["--workers", "2"]))
                if args.cli_baseline:
                    runs["2 workers, baseline tree"].append(
                        run_cli(det, n, out, ["--workers", "2"], args.cli_baseline / "src")
                    )
            for layout in ("dense", "sparse"):
                runs[f"one process, {layout}"] = [run_cli(det, n, out, ["--layout", layout])]
            row = {"events": n, "load_before": load0, "load_after": load_average(), "runs": runs}
            for k, v in runs.items():
                row[k] = {
                    "wall_s": median([r["wall_s"] for r in v]),
                    "cpu_s": median([r["cpu_s"] for r in v]),
                    "bytes_per_event": v[0]["bytes"] / n,
                }
            one, two = row["one process"], row["2 workers"]
            # paired ratios: run i of one process / run i of 2 workers
            row["speedup"] = median(
                [a["wall_s"] / b["wall_s"] for a, b in zip(runs["one process"], runs["2 workers"])]
            )
            row["cpu_ratio"] = two["cpu_s"] / one["cpu_s"]
            if args.cli_baseline:
                base = runs["2 workers, baseline tree"]
                row["speedup_baseline"] = median(
                    [a["wall_s"] / b["wall_s"] for a, b in zip(runs["one process"], base)]
                )
            rows.append(row)
    results["cli"] = rows
    print(f"\n### `calolab simulate {det}`, 50 GeV γ, written to disk (child processes)\n")
    print(
        "| showers | run | wall s (median) | showers/s | CPU s (process tree) | bytes/shower "
        "| load avg |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        n = row["events"]
        for k in row["runs"]:
            r = row[k]
            print(
                f"| {n:,} | {k} | {r['wall_s']:.1f} | {n / r['wall_s']:,.0f} | {r['cpu_s']:.1f} "
                f"| {r['bytes_per_event']:,.0f} | {row['load_before']:.1f}–{row['load_after']:.1f} |"
            )
    print("\n| showers | speed-up 2 workers / one process (paired, median) | CPU 2 w / 1 p |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['events']:,} | **{row['speedup']:.2f}** | {row['cpu_ratio']:.2f} |")
        if "speedup_baseline" in row:
            print(f"| {row['events']:,} | baseline tree: {row['speedup_baseline']:.2f} | |")


# --------------------------------------------------------------------------- phases
def part_phases(args: argparse.Namespace, results: dict) -> None:
    from calolab.simulation.campaign import Campaign, CampaignSpec, execute

    det, n = args.detector, args.events
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        c0, w0 = time.process_time(), time.perf_counter()
        spec = CampaignSpec(det, ParticleGun("gamma", 50.0), n, seed=1)
        spec.payload()  # the layout decision (its first events): the driver's warm-up
        setup = (time.process_time() - c0, time.perf_counter() - w0)
        camp = Campaign(Path(tmp) / "p.h5", spec, keep_chunks=True)
        load0 = load_average()
        t0 = time.perf_counter()
        execute([camp], workers=2)
        wall = time.perf_counter() - t0
    chunks = list(camp.done.values())
    t = camp.timings
    phases = {
        "driver: spec + layout decision (physics tables, first events)": setup,
        "driver: warm-up (kernels, one event per gun)": (t["warm_up_cpu"], t["warm_up"]),
        "driver: start of the 2-worker pool": (t["cluster_start_cpu"], t["cluster_start"]),
        "driver: recording chunks (manifest)": (t["record_cpu"], t["record"]),
        "driver: streaming merge (all chunks)": (t["merge_cpu"], t["merge"]),
        "driver: commit of the output (fsync, rename)": (t["commit_cpu"], t["commit"]),
        "driver: shutdown of the pool": (t["cluster_close_cpu"], t["cluster_close"]),
        "workers: start-up (first chunk of a spawned worker)": (
            sum(c["startup_cpu_seconds"] for c in chunks),
            None,
        ),
        "workers: simulation": (
            sum(
                c["cpu_seconds"] - c["write_cpu_seconds"] - c["startup_cpu_seconds"] for c in chunks
            ),
            None,
        ),
        "workers: writing chunk files (encode, compress, fsync)": (
            sum(c["write_cpu_seconds"] for c in chunks),
            None,
        ),
    }
    busy = sum(c["seconds"] for c in chunks)
    results["phases"] = {
        "events": n,
        "chunks": len(chunks),
        "chunk_size": spec.chunk_size,
        "layout": spec.resolved_layout,
        "execute_wall_s": wall,
        "busy_fraction": busy / (2 * wall),
        "load_before": load0,
        "load_after": load_average(),
        "phases": {k: {"cpu_s": v[0], "wall_s": v[1]} for k, v in phases.items()},
    }
    print(
        f"\n### Where a 2-worker campaign spends its time ({n:,} showers, {len(chunks)} chunks "
        f"of {spec.chunk_size}, {spec.resolved_layout} cells; load {load0:.1f})\n"
    )
    print("| phase | CPU s | wall s | CPU ms per shower |")
    print("|---|---|---|---|")
    for k, (cpu, w) in phases.items():
        ws = f"{w:.2f}" if w is not None else "–"
        print(f"| {k} | {cpu:.2f} | {ws} | {cpu / n * 1e3:.3f} |")
    print(
        f"\nexecute(): {wall:.1f} s wall; busy fraction (time inside chunks / (2 × wall)): "
        f"{busy / (2 * wall):.2f}"
    )


# --------------------------------------------------------------------------- per core
_NOWRITE = """
import sys, time
from calolab.geometry import preset
from calolab.simulation import ParticleGun
from calolab.simulation.fast import FastSimulator
from calolab.simulation.run import default_batch_size
try:  # the default readout of the tree (trees before it had none: true cells only)
    from calolab.simulation.digitize import DEFAULT_DIGITIZER
except ImportError:
    DEFAULT_DIGITIZER = None
if sys.argv[3] == "0":  # true cells only, like the trees before digitisation by default
    DEFAULT_DIGITIZER = None
det = preset(sys.argv[1])
sim = FastSimulator(det, digitizer=DEFAULT_DIGITIZER)
gun = ParticleGun("gamma", 50.0)
n, bs = int(sys.argv[2]), default_batch_size(det.n_channels)
try:  # batches as simulate_to_file runs them (buffers reused where the tree can)
    sim.run(gun, 40, seed=1, reuse_buffers=True)
    kw = {"reuse_buffers": True}
except TypeError:
    sim.run(gun, 40, seed=1)
    kw = {}
t = time.process_time()
for a in range(0, n, bs):
    sim.run(gun, min(bs, n - a), seed=2, start=a, **kw)
print(time.process_time() - t)
"""


def _nowrite_cpu(det: str, n: int, src: Path, digitise: bool = True) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, "-c", _NOWRITE, det, str(n), "1" if digitise else "0"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def part_percore(args: argparse.Namespace, results: dict) -> None:
    det, n = args.detector, args.events
    here = Path(__file__).resolve().parents[1] / "src"
    # label: (calolab source tree, extra CLI options, digitised in process)
    trees: dict[str, tuple[Path, list[str], bool]] = {"this tree": (here, [], True)}
    if args.percore_baseline:
        # the same work as a tree without digitisation by default: true cells only
        trees["this tree, --no-digitize"] = (here, ["--no-digitize"], False)
        trees["baseline"] = (args.percore_baseline / "src", [], True)
    runs: dict[str, dict[str, list]] = {t: {"write": [], "nowrite": []} for t in trees}
    load0 = load_average()
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        out = Path(tmp) / "p.h5"
        for src, _, _ in trees.values():
            run_cli(det, 100, out, [], src)  # numba caches of each tree
        names = list(trees)
        for i in range(args.repeats):
            order = names if i % 2 == 0 else names[::-1]  # ABBA
            for t in order:
                src, extra, _ = trees[t]
                runs[t]["write"].append(run_cli(det, n, out, extra, src))
            for t in order[::-1]:
                src, _, digitise = trees[t]
                runs[t]["nowrite"].append(_nowrite_cpu(det, n, src, digitise))
    rows = {}
    for t, r in runs.items():
        rows[t] = {
            "write_wall_s": median([x["wall_s"] for x in r["write"]]),
            "write_cpu_s": median([x["cpu_s"] for x in r["write"]]),
            "nowrite_cpu_s": median(r["nowrite"]),
            "bytes_per_event": r["write"][0]["bytes"] / n,
            "runs": r,
        }
    results["percore"] = {
        "events": n,
        "load_before": load0,
        "load_after": load_average(),
        "trees": {t: {"src": str(p), "options": e} for t, (p, e, _) in trees.items()},
        "rows": rows,
    }
    print(f"\n### Showers per core, {n:,} × 50 GeV γ in {det}, one process (load {load0:.1f})\n")
    print(
        "| tree | `calolab simulate` (writing): wall s | CPU s | showers per CPU-s "
        "| in process, no write: CPU s | showers per CPU-s | bytes/shower |"
    )
    print("|---|---|---|---|---|---|---|")
    for t, r in rows.items():
        print(
            f"| {t} | {r['write_wall_s']:.1f} | {r['write_cpu_s']:.1f} | "
            f"{n / r['write_cpu_s']:,.0f} | {r['nowrite_cpu_s']:.1f} | "
            f"{n / r['nowrite_cpu_s']:,.0f} | {r['bytes_per_event']:,.0f} |"
        )
    if "baseline" in rows:
        b = rows["baseline"]
        for t in ("this tree", "this tree, --no-digitize"):
            a = rows[t]
            print(
                f"\nbaseline / {t} (medians): writing, CPU "
                f"{b['write_cpu_s'] / a['write_cpu_s']:.2f}, wall "
                f"{b['write_wall_s'] / a['write_wall_s']:.2f}; no write, CPU "
                f"{b['nowrite_cpu_s'] / a['nowrite_cpu_s']:.2f}"
            )
    print(f"load average after: {load_average():.1f}")


_PROFILE = r"""
import collections, json, os, sys, time
import calolab.data.hdf5 as hdf5
import calolab.simulation.binning as binning
import calolab.simulation.digitize as digitize
import calolab.simulation.em as em
import calolab.simulation.fast as fast
import calolab.simulation.run as runmod
from calolab.simulation import ParticleGun

T = collections.defaultdict(float)
inner = []


def wrap(owner, name, label):
    f = getattr(owner, name, None)
    if f is None:  # a phase of another tree (the baseline's or this one's)
        return

    def g(*a, **k):
        t0 = time.process_time()
        inner.append(0.0)
        try:
            return f(*a, **k)
        finally:
            dt = time.process_time() - t0
            T[label] += dt - inner.pop()  # exclusive of the wrapped calls inside
            if inner:
                inner[-1] += dt

    setattr(owner, name, g)


PHASES = [
    (fast.FastSimulator, "__init__", "set-up: simulator and physics tables (once)"),
    (fast, "event_rng", "physics: random generators of the events (SeedSequence)"),
    (em.EMShowerModel, "cascade", "physics: first generations (numba cascade, its uniforms)"),
    # this tree: sub-showers planned per batch of events, then deposited per event
    (em.EMShowerModel, "plan", "physics: per-event Python (sub-shower parameters)"),
    (em.EMShowerModel, "deposit", "physics: the spots' random numbers (and straggling)"),
    # trees before 2026-12-05: one event at a time
    (em.EMShowerModel, "develop_into", "physics: per-event Python (sub-shower parameters)"),
    (em.EMShowerModel, "_convert_photons", "physics: per-event Python (sub-shower parameters)"),
    (em.EMShowerModel, "_seed_scales", "physics: per-event Python (sub-shower parameters)"),
    (em.EMShowerModel, "_lepton_starts", "physics: per-event Python (sub-shower parameters)"),
    (binning.Binner, "bin", "cell binning"),
    (digitize.Digitizer, "apply_sparse", "digitisation"),
    (digitize.Digitizer, "apply", "digitisation"),
    (hdf5.ShowerWriter, "append", "HDF5 writing (sparse encoding, deflate)"),
]
for owner, name, label in PHASES:
    wrap(owner, name, label)
KERNEL = "physics: spot kernel (numba: depth, radius, far tail, albedo, cell)"
init = em.EMShowerModel.__init__


def init_and_wrap(self, *a, **k):
    init(self, *a, **k)
    kernel = self.kernel

    def timed_kernel(*args):
        t0 = time.process_time()
        try:
            return kernel(*args)
        finally:
            dt = time.process_time() - t0
            T[KERNEL] += dt
            if inner:
                inner[-1] += dt

    self.kernel = timed_kernel


em.EMShowerModel.__init__ = init_and_wrap
n, out = int(sys.argv[1]), sys.argv[2]
t0 = time.process_time()
runmod.simulate_to_file(out, sys.argv[3], ParticleGun("gamma", 50.0), n, seed=1)
T["total"] = time.process_time() - t0
print(json.dumps(T))
"""


def part_profile(args: argparse.Namespace, results: dict) -> None:
    det, n = args.detector, args.events
    here = Path(__file__).resolve().parents[1] / "src"
    trees = {"this tree": here}
    if args.percore_baseline:
        trees["baseline"] = args.percore_baseline / "src"
    load0 = load_average()
    prof = {}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for t, src in trees.items():
            out = Path(tmp) / "prof.h5"
            run_cli(det, 100, out, [], src)  # numba cache of the tree
            env = {**os.environ, "PYTHONPATH": str(src)}
            res = subprocess.run(
                [sys.executable, "-c", _PROFILE, str(n), str(out), det],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            prof[t] = json.loads(res.stdout.strip().splitlines()[-1])
            out.unlink()
    results["profile"] = {
        "events": n,
        "load_before": load0,
        "load_after": load_average(),
        "cpu_s": prof,
    }
    labels = list(dict.fromkeys(k for p in prof.values() for k in p if k != "total"))
    print(f"\n### CPU ms per shower by phase, simulate_to_file of {n:,} × 50 GeV γ in {det}\n")
    print("| phase | " + " | ".join(prof) + " |")
    print("|---|" + "---|" * len(prof))
    for k in labels:
        print(
            f"| {k} | " + " | ".join(f"{p.get(k, 0.0) / n * 1e3:.3f}" for p in prof.values()) + " |"
        )
    rest = {t: p["total"] - sum(v for k, v in p.items() if k != "total") for t, p in prof.items()}
    print(
        "| everything else (event loop, truth, gun, layout) | "
        + " | ".join(f"{r / n * 1e3:.3f}" for r in rest.values())
        + " |"
    )
    print(
        "| **total** | "
        + " | ".join(f"**{p['total'] / n * 1e3:.3f}**" for p in prof.values())
        + " |"
    )
    print(f"\nload average {load0:.1f} → {load_average():.1f}")


# --------------------------------------------------------------------------- layouts
def _write_read(showers, path: Path, layout: str, repeats: int) -> dict:
    from calolab.data.hdf5 import ShowerFile, ShowerWriter

    writes, reads = [], []
    for _ in range(repeats):
        path.unlink(missing_ok=True)
        c0 = time.process_time()
        with ShowerWriter(path, showers.detector, {}, layout=layout) as w:
            w.append(showers)
        writes.append(time.process_time() - c0)
        c0 = time.process_time()
        with ShowerFile(path) as f:
            f.read_cells(0, len(f))
        reads.append(time.process_time() - c0)
    n = len(showers)
    return {
        "bytes_per_event": path.stat().st_size / n,
        "write_ms_per_event": statistics.median(writes) / n * 1e3,
        "read_ms_per_event": statistics.median(reads) / n * 1e3,
    }


def part_layout(args: argparse.Namespace, results: dict) -> None:
    import dataclasses

    import numpy as np

    from calolab.data.sparse import occupancy
    from calolab.simulation import simulate

    n = args.layout_events
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        path = Path(tmp) / "l.h5"
        for det in dict.fromkeys((args.detector, "course_pbwo4", "endcap_photon")):
            s = simulate(det, ParticleGun("gamma", 50.0), n, seed=1)
            row = {"detector": det, "cells": s.n_cells, "occupancy": occupancy(s.cells, n_events=n)}
            for layout in ("dense", "sparse"):
                row[layout] = _write_read(s, path, layout, args.repeats)
            rows.append(row)
        # occupancy scan: Gaussian noise of σ in every cell, zero-suppressed at k σ (what a
        # digitiser does; drawn here so that the scan does not depend on its options)
        det = args.detector
        scan = []
        base = simulate(det, ParticleGun("gamma", 50.0), max(n // 4, 50), seed=2)
        rng = np.random.default_rng(3)
        sigma = 2e-4  # GeV
        noise = rng.normal(0.0, sigma, base.cells.shape).astype(np.float32)
        for k in (4.0, 3.0, 2.0, 1.5, 1.0, 0.5, 0.0):
            cells = base.cells + noise
            if k > 0:
                cells[cells < k * sigma] = 0.0
            s = dataclasses.replace(base, cells=cells)
            row = {"threshold_sigma": k, "occupancy": occupancy(s.cells, n_events=len(s))}
            for layout in ("dense", "sparse"):
                row[layout] = _write_read(s, path, layout, 1)
            scan.append(row)
    results["layout"] = {"events": n, "detectors": rows, "occupancy_scan": scan}
    print(f"\n### Sparse vs dense files, 50 GeV γ ({n} showers; CPU ms per shower)\n")
    print(
        "| detector | cells | occupancy | bytes/shower dense → sparse (ratio) | write ms dense → "
        "sparse (ratio) | read ms dense → sparse (ratio) |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        d, s = r["dense"], r["sparse"]
        print(
            f"| {r['detector']} | {r['cells']:,} | {r['occupancy']:.1%} | "
            f"{d['bytes_per_event']:,.0f} → {s['bytes_per_event']:,.0f} "
            f"({s['bytes_per_event'] / d['bytes_per_event']:.2f}) | "
            f"{d['write_ms_per_event']:.3f} → {s['write_ms_per_event']:.3f} "
            f"({s['write_ms_per_event'] / d['write_ms_per_event']:.2f}) | "
            f"{d['read_ms_per_event']:.3f} → {s['read_ms_per_event']:.3f} "
            f"({s['read_ms_per_event'] / d['read_ms_per_event']:.2f}) |"
        )
    print(f"\nOccupancy scan ({det}, cells + noise of σ = 0.2 MeV, zero-suppressed at k σ):\n")
    print("| threshold | occupancy | bytes/shower dense | sparse | sparse / dense |")
    print("|---|---|---|---|---|")
    for r in scan:
        d, s = r["dense"]["bytes_per_event"], r["sparse"]["bytes_per_event"]
        print(
            f"| {r['threshold_sigma']:g} σ | {r['occupancy']:.1%} | {d:,.0f} | {s:,.0f} | "
            f"{s / d:.2f} |"
        )


# --------------------------------------------------------------------------- memory
def part_memory(args: argparse.Namespace, results: dict) -> None:
    rows = []
    print("\n| N streamed (course_pbwo4, 50 GeV γ) | peak RSS (MiB) | wall (s) | file (MB) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for n in (args.stream // 10, args.stream):
            out = Path(tmp) / f"s{n}.h5"
            cmd = [sys.executable, "-m", "calolab.cli.main", "simulate", "course_pbwo4"]
            cmd += ["--particle", "gamma", "--energy", "50", "-n", str(n), "-o", str(out), "-q"]
            rss, wall = child_peak_rss_mib(cmd)
            size = out.stat().st_size / 1e6
            rows.append({"n": n, "peak_rss_mib": rss, "wall_s": wall, "file_mb": size})
            print(f"| {n:,} | {rss:.0f} | {wall:.0f} | {size:.0f} |")
            out.unlink()
    results["memory"] = rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--detector", default="muon_block")
    ap.add_argument(
        "--events",
        type=int,
        default=10_000,
        help="showers of the CLI runs (of each --baseline run)",
    )
    ap.add_argument("--large", type=int, default=100_000, help="a second CLI size (0: none)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--inprocess-events", type=int, default=400)
    ap.add_argument("--layout-events", type=int, default=400)
    ap.add_argument("--stream", type=int, default=100_000, help="largest N for the memory test")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"any of {','.join(PARTS)}")
    ap.add_argument("--tmp", default=None, help="directory for the files (default: $TMPDIR)")
    ap.add_argument("--baseline", type=Path, help="checkout of an older calolab to compare with")
    ap.add_argument(
        "--cli-baseline",
        type=Path,
        help="checkout of an older calolab whose '--workers 2' runs join the cli part",
    )
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument(
        "--percore-baseline",
        type=Path,
        help="checkout of an older calolab whose runs alternate with this tree's in the "
        "percore and profile parts",
    )
    args = ap.parse_args()
    if args.baseline is not None:
        res = baseline_rates(args.baseline, args.detector, args.events, args.pairs)
        print(f"machine: {machine()}")
        print(f"this tree: {res['rates']['this']}")
        print(f"baseline:  {res['rates']['baseline']}")
        print(f"ratio of medians (this / baseline): {res['ratio_of_medians']:.2f}")
        print(f"saved {save('simulation_vs_baseline', res)}")
        return
    parts = [p for p in args.parts.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        ap.error(f"unknown parts {unknown}; choose from {', '.join(PARTS)}")
    try:
        autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip()
    except OSError:
        autogroup = "n/a"
    print(
        f"machine: {machine()}; load average {load_average():.1f}; {os.cpu_count()} CPUs; "
        f"sched_autogroup {autogroup}"
    )
    results: dict = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    }
    for part in parts:
        globals()[f"part_{part}"](args, results)
    # the per-core and layout parts have their own files: a run of them alone must not
    # overwrite the scale-out numbers of simulation.json
    name = "simulation"
    if set(parts) <= {"percore", "profile"}:
        name = "simulation_percore"
    elif set(parts) <= {"layout"}:
        name = "simulation_layout"
    print(f"\nsaved {save(name, results)}")
    print(json.dumps({"load_average_end": load_average()}))


if __name__ == "__main__":
    main()
