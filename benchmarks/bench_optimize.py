"""Design optimisation (issue 14): the course study, its cost, and the physics it recovers.

    python benchmarks/bench_optimize.py [--part all|profile|rate|study|confirm|scans|analyze]
        [--trials 300] [--events 1000] [--confirm-factor 10] [--workers 2]
        [--workdir bench-optimize] [--rate-trials 12]

One command reproduces the full-size result (``--part all``, the defaults; about 2 h on the
2 quiet cores of the reference machine); every part can be run alone, and ``study`` and
``confirm`` resume where an interrupted run stopped (the study directory is
``<workdir>/course``).

``profile``
    One trial of the course measurement (e− and π+ at 10 and 50 GeV, 1,000 showers per
    point: 2 × 2,000 showers) on ``course_pbscint`` in this process, one core (BLAS limited
    to one thread, as in a trial): median of 3 of the time spent simulating, calibrating and
    fitting, after a warm-up; then one trial under cProfile, whose top functions say where
    the simulation spends its time.
``rate``
    Trials per hour of the course study on 2 cores: a fresh study of ``--rate-trials`` trials
    with 2 Dask workers, against the same study in one process (the comparison, same run).
``study``
    ``calolab optimize run course --trials N --events E --seed 1 --workers K`` into
    ``<workdir>/course`` (resumed if it exists): wall time and showers to reach the front.
``confirm``
    ``calolab optimize confirm`` with ``--confirm-factor`` times the events
    (``--confirm-designs beating``: only the front designs that beat a preset).
``scans``
    Controlled one-parameter scans made with the tool itself (``--method grid``, twice the
    events): the ECAL depth of ``course_pbscint`` for electrons, the depth of its last HCAL
    section for pions, everything else fixed.
``analyze``
    From the study: for each preset, the front designs that beat it (search and confirmed);
    the physics rules, fitted from all measured designs, and their plots
    (``docs/img/optimization/``): the EM stochastic term against the sampling rule
    2.7 % √(d/f_samp); σ/E of 50 GeV electrons against the ECAL depth in X0; σ/E of 50 GeV
    pions against the total depth in λI.

Results: ``benchmarks/results/optimize.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import math
import os
import pstats
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import RESULTS, machine, save  # noqa: E402

from calolab.core.files import write_bytes  # noqa: E402
from calolab.geometry import preset  # noqa: E402
from calolab.optimization import (  # noqa: E402
    confirm_study,
    load_space,
    load_study,
    measure,
    read_confirmation,
    run_study,
)
from calolab.optimization.objectives import single_threaded  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img" / "optimization"
SEED = 1


def load_average() -> str:
    try:
        return " ".join(os.getloadavg().__repr__().strip("()").split(", "))
    except OSError:  # pragma: no cover
        return "unknown"


def previous() -> dict:
    p = RESULTS / "optimize.json"
    return json.loads(p.read_text()) if p.exists() else {}


# ----------------------------------------------------------------------------- profile
def part_profile(events: int, repeats: int = 3) -> dict:
    space = load_space("course")
    det = preset("course_pbscint")
    objs = space.all_objectives
    measure(det, space.measurement, objs, events=50, seed=99)  # warm-up: numba, imports
    rows = []
    for k in range(repeats):
        t0 = time.perf_counter()
        m = measure(det, space.measurement, objs, events=events, seed=100 + k)
        rows.append({"wall": time.perf_counter() - t0, **m.timings, "showers": m.showers})
    med = {
        k: statistics.median(r[k] for r in rows)
        for k in ("wall", "cpu", "simulation", "calibration", "fit")
    }
    prof = cProfile.Profile()
    with single_threaded():
        prof.enable()
        measure(det, space.measurement, objs, events=events, seed=200)
        prof.disable()
    st = pstats.Stats(prof)
    total = max(st.total_tt, 1e-9)  # type: ignore[attr-defined]
    top = []
    for (fname, line, func), (_cc, nc, tt, _ct, _callers) in sorted(
        st.stats.items(), key=lambda kv: -kv[1][2]  # type: ignore[attr-defined]
    )[:12]:
        where = f"{Path(fname).parent.name}/{Path(fname).name}:{line}({func})"
        top.append(
            {"function": where, "self_seconds": tt, "self_fraction": tt / total, "calls": nc}
        )
    by_file: dict[str, float] = {}
    for (fname, _line, _func), (_cc, _nc, tt, _ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        key = (
            "numpy/python builtins"
            if fname == "~"
            else f"{Path(fname).parent.name}/{Path(fname).name}"
        )
        by_file[key] = by_file.get(key, 0.0) + tt
    files = sorted(by_file.items(), key=lambda kv: -kv[1])[:10]
    out = {
        "profile_self_time_by_file": [
            {"file": k, "self_seconds": v, "self_fraction": v / total} for k, v in files
        ],
        "detector": "course_pbscint",
        "showers_per_trial": rows[0]["showers"],
        "events_per_point": events,
        "repeats": rows,
        "median": med,
        "target_seconds": 15.0,
        "profile_total_seconds": total,
        "profile_top_self_time": top,
        "load_average": load_average(),
    }
    print(
        json.dumps({"median": med, "by_file": out["profile_self_time_by_file"]}, indent=1),
        flush=True,
    )
    return out


# ----------------------------------------------------------------------------- rate
def part_rate(workdir: Path, trials: int, events: int) -> dict:
    out = {}
    for label, workers in (("one process", None), ("2 Dask workers", 2)):
        d = workdir / f"rate-{'serial' if workers is None else workers}"
        shutil.rmtree(d, ignore_errors=True)
        t0 = time.perf_counter()
        run = run_study("course", d, trials=trials, events=events, seed=7, workers=workers)
        wall = time.perf_counter() - t0
        out[label] = {
            "trials": run.measured,
            "wall_seconds": wall,
            "trials_per_hour": 3600 * run.measured / wall,
            "showers": run.showers,
        }
        print(label, out[label], flush=True)
    out["ratio"] = out["2 Dask workers"]["trials_per_hour"] / out["one process"]["trials_per_hour"]
    out["load_average"] = load_average()
    return out


# ----------------------------------------------------------------------------- study
def part_study(workdir: Path, trials: int, events: int, workers: int | None) -> dict:
    d = workdir / "course"
    t0 = time.perf_counter()
    run = run_study(
        "course", d, trials=trials, events=events, seed=SEED, workers=workers, resume=True
    )
    results = load_study(d)
    counts: dict[str, int] = {}
    for t in results.trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    out = {
        "directory": str(d),
        "trials": trials,
        "events_per_point": events,
        "workers": workers,
        "states": counts,
        "showers_total": results.showers,
        "wall_seconds_total": results.wall_seconds,
        "sessions": results.info.get("sessions", []),
        "this_run_seconds": time.perf_counter() - t0,
        "front_size": len(results.front()),
        "load_average": load_average(),
    }
    print(json.dumps({k: v for k, v in out.items() if k != "sessions"}, indent=1), flush=True)
    del run
    return out


def part_confirm(workdir: Path, events: int, workers: int | None, designs: str) -> dict:
    d = workdir / "course"
    t0 = time.perf_counter()
    r = confirm_study(d, events=events, workers=workers, designs=designs)
    out = {
        "events_per_point": events,
        "which": designs,
        "designs": len(r.designs),
        "showers_this_run": r.showers,
        "wall_seconds_this_run": time.perf_counter() - t0,
        "load_average": load_average(),
    }
    print(out, flush=True)
    return out


# ----------------------------------------------------------------------------- scans
SCANS = {
    # name: (parameter, range, step, particle): one parameter of course_pbscint varied alone
    "ecal-depth": ("ecal.repeat", [10, 80], 10, "e-"),
    "hcal-depth": ("hcal3.repeat", [0, 60], 10, "pi+"),
}


def scan_space(name: str):
    """The course space reduced to one parameter of ``course_pbscint`` (a grid), without
    constraints: a controlled scan made with the tool itself (``--method grid``)."""
    from calolab.optimization import DesignSpace

    param, rng, step, particle = SCANS[name]
    course = load_space("course")
    point = course.references["course_pbscint"]
    table = json.loads(json.dumps(course.table))
    table["name"] = f"scan-{name}"
    table["constraints"] = {}
    table["references"] = {}
    table["objectives"] = [{"metric": "resolution", "particle": particle}]
    table["recorded"] = [{"metric": "leakage", "particle": particle}]
    table["measurement"]["particles"] = [particle]

    def fix(section: dict, key: str, pname: str) -> None:
        if isinstance(section.get(key), dict):
            section[key] = {"range": rng, "step": step} if pname == param else point[pname]

    for sec in table["sections"]:
        fix(sec, "repeat", f"{sec['name']}.repeat")
        fix(sec, "cell_size_cm", f"{sec['name']}.cell_size_cm")
        for layer in sec["layers"]:
            for key in ("material", "thickness_cm"):
                fix(layer, key, f"{sec['name']}.{layer['name']}.{key}")
        sec["layers"] = [la for la in sec["layers"] if la["material"] != "none"]
    return DesignSpace.from_table(table, source=f"scan-{name}")


def part_scans(workdir: Path, events: int, workers: int | None) -> dict:
    out = {}
    for name in SCANS:
        d = workdir / f"scan-{name}"
        t0 = time.perf_counter()
        run_study(
            scan_space(name),
            d,
            events=events,
            seed=SEED,
            method="grid",
            workers=workers,
            resume=True,
        )
        results = load_study(d)
        param = SCANS[name][0]
        rows = []
        for t in sorted(results.complete, key=lambda t: t.params[param]):
            rows.append(
                {
                    param: t.params[param],
                    "depth_x0_ecal": t.design.get("ecal.depth_x0"),
                    "depth_lambda_i": t.design.get("depth_lambda_i"),
                    **{
                        k: [v.value, v.error]
                        for k, v in t.values.items()
                        if k.startswith(("resolution", "leakage"))
                    },
                }
            )
        out[name] = {
            "events_per_point": events,
            "seconds": time.perf_counter() - t0,
            "points": rows,
        }
        print(name, json.dumps(rows, indent=1)[:2000], flush=True)
    return out


# ----------------------------------------------------------------------------- analysis
def _binned(x: np.ndarray, y: np.ndarray, edges: list[float]) -> list[dict]:
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (x >= lo) & (x < hi) & np.isfinite(y)
        if sel.sum() >= 3:
            rows.append(
                {
                    "lo": lo,
                    "hi": hi,
                    "n": int(sel.sum()),
                    "median": float(np.median(y[sel])),
                    "p16": float(np.percentile(y[sel], 16)),
                    "p84": float(np.percentile(y[sel], 84)),
                }
            )
    return rows


def part_analyze(workdir: Path) -> dict:
    from matplotlib.figure import Figure

    from calolab.report import plots

    d = workdir / "course"
    results = load_study(d)
    confirm = read_confirmation(d)
    perf = [o.name for o in results.performance_objectives]
    trials = [t for t in results.complete if t.duplicate_of is None]
    out: dict = {"measured_designs": len(trials)}
    # what it took to reach the front: showers and time until its last design was measured
    import datetime as dt

    front_numbers = {t.number for t in results.front()}
    last = max(front_numbers)
    first_start = min(dt.datetime.fromisoformat(t.started) for t in results.trials if t.started)
    last_done = dt.datetime.fromisoformat(results.trials[last].completed)
    out["front_reached"] = {
        "last_front_trial": last,
        "measured_trials_until_then": sum(1 for t in results.complete if t.number <= last),
        "showers_until_then": sum(t.showers for t in results.trials if t.number <= last),
        "wall_seconds_until_then": (last_done - first_start).total_seconds(),
        "showers_total": results.showers,
        "wall_seconds_total": results.wall_seconds,
    }

    # which presets are beaten, in the search and confirmed
    front = results.front()
    beats = {}
    for r in results.references():
        winners = [t for t in front if results.beats(t, r)]
        beats[r.reference] = {
            "cost_basis": results.space.constraints.cost,
            "cost": results.cost(r),
            "cost_chf": r.design.get("cost_chf"),
            "material_cost_chf": r.design.get("material_cost_chf"),
            "length_cm": r.design.get("length_cm"),
            "values": {n: [r.value(n), r.error_of(n)] for n in perf},
            "beaten_in_search_by": [t.number for t in winners],
        }
        if winners:
            cheapest = min(winners, key=results.cost)
            beats[r.reference]["cheapest_winner"] = {
                "trial": cheapest.number,
                "cost": results.cost(cheapest),
                "cost_chf": cheapest.design["cost_chf"],
                "length_cm": cheapest.design["length_cm"],
                "values": {n: [cheapest.value(n), cheapest.error_of(n)] for n in perf},
                "params": cheapest.params,
            }
        # the best each objective reaches on the front at no more than the preset's cost
        affordable = [t for t in front if results.cost(t) <= results.cost(r)]
        beats[r.reference]["best_affordable"] = {
            n: min((t.value(n) for t in affordable), default=math.nan) for n in perf
        }
    if confirm:
        for c in confirm["comparisons"]:
            beats[c["reference"]]["beaten_confirmed_by"] = c["beaten_by_confirmed"]
            beats[c["reference"]]["confirmed_candidates"] = [
                {
                    k: row[k]
                    for k in (
                        "trial",
                        "cost",
                        "beats_in_search",
                        "beats_confirmed",
                        "min_significance",
                    )
                }
                for row in c["candidates"]
            ]
    out["presets"] = beats

    IMG.mkdir(parents=True, exist_ok=True)
    # rule 1: EM stochastic term vs 2.7 % sqrt(d/f) (sampling ECALs)
    rule = np.array([t.design.get("ecal.rule_stochastic", np.nan) for t in trials])
    a = np.array([t.value("stochastic_e-") for t in trials])
    ae = np.array([t.error_of("stochastic_e-") for t in trials])
    x0 = np.array([t.design.get("ecal.depth_x0", np.nan) for t in trials])
    absorber = np.array([str(t.params.get("ecal.absorber.material")) for t in trials])
    plastic = np.array([t.params.get("ecal.active.material") == "polystyrene" for t in trials])
    ok = np.isfinite(rule) & np.isfinite(a) & (ae > 0) & (x0 >= 20) & plastic
    rules: dict = {}
    if ok.sum() >= 5:
        w = 1 / ae[ok] ** 2
        k = float(np.sum(w * rule[ok] * a[ok]) / np.sum(w * rule[ok] ** 2))
        k_err = float(1 / math.sqrt(np.sum(w * rule[ok] ** 2)))
        chi2 = float(np.sum(w * (a[ok] - k * rule[ok]) ** 2))
        corr = float(np.corrcoef(rule[ok], a[ok])[0, 1])
        # the same designs against sqrt(d_absorber / f_samp), the variable
        dabs = np.array([t.design.get("ecal.passive_mm", np.nan) for t in trials])[ok]
        fs = np.array([t.design.get("ecal.sampling_fraction", np.nan) for t in trials])[ok]
        alt = np.sqrt(dabs / fs)
        good = dabs > 0
        alt_corr = float(np.corrcoef(alt[good], a[ok][good])[0, 1]) if good.sum() > 2 else None
        rules["stochastic_vs_sampling_rule"] = {
            "designs": int(ok.sum()),
            "selection": "sampling ECAL (plastic scintillator active), ECAL >= 20 X0",
            "slope_measured_over_rule": k,
            "slope_error": k_err,
            "chi2_ndf": chi2 / max(1, ok.sum() - 1),
            "correlation": corr,
            "correlation_with_sqrt_dabsorber_over_f": alt_corr,
        }
        with plots.style():
            fig = Figure(figsize=(6.4, 4.6), layout="constrained")
            ax = fig.subplots()
            for k_mat, mat in enumerate(sorted(set(absorber[ok]))):
                m = ok & (absorber == mat)
                ax.errorbar(
                    100 * rule[m],
                    100 * a[m],
                    yerr=100 * ae[m],
                    fmt="o",
                    ms=3,
                    color=plots.COLOURS[k_mat],
                    label=f"absorber {mat}",
                )
            xx = np.linspace(0, 100 * np.nanmax(rule[ok]) * 1.05, 10)
            ax.plot(xx, xx, color="black", ls="--", label="2.7 % √(d/f) (PDG)")
            ax.plot(xx, k * xx, color=plots.COLOURS[3], label=f"fit: {k:.2f} × rule")
            ax.set_xlabel(r"2.7 % $\sqrt{d\,[\mathrm{mm}]/f_\mathrm{samp}}$ (%)")
            ax.set_ylabel(r"measured stochastic term $a$, e$^-$ (% $\sqrt{\mathrm{GeV}}$)")
            ax.set_xlim(0, None)
            ax.set_ylim(0, None)
            ax.legend(fontsize=9)
            write_bytes(IMG / "stochastic_vs_rule.png", plots.to_png(fig))
    # rule 2: electrons at 50 GeV vs ECAL depth
    scans: dict[str, list[tuple[float, float, float]]] = {}
    for name, attr, key, metric in (
        ("ecal-depth", "ecal.depth_x0", "electron_50GeV_vs_ecal_x0", "resolution_e-_50GeV"),
        ("hcal-depth", "depth_lambda_i", "pion_50GeV_vs_lambda", "resolution_pi+_50GeV"),
    ):
        sd = workdir / f"scan-{name}"
        if (sd / "study.db").exists():
            sr = load_study(sd)
            pts = sorted(
                (t.design[attr], t.value(metric), t.error_of(metric))
                for t in sr.complete
                if t.duplicate_of is None
            )
            scans[key] = pts
    r50e = np.array([t.value("resolution_e-_50GeV") for t in trials])
    edges = [0, 5, 10, 15, 20, 25, 30, 40, 80]
    rules["electron_50GeV_vs_ecal_x0"] = _binned(x0, r50e, edges)
    short, long_ = r50e[(x0 < 20) & np.isfinite(r50e)], r50e[(x0 >= 20) & np.isfinite(r50e)]
    if len(short) and len(long_):
        rules["electron_50GeV_penalty_below_20X0"] = float(np.median(short) / np.median(long_))
    # rule 3: pions at 50 GeV vs total depth in lambda_I
    lam = np.array([t.design.get("depth_lambda_i", np.nan) for t in trials])
    r50p = np.array([t.value("resolution_pi+_50GeV") for t in trials])
    rules["pion_50GeV_vs_lambda"] = _binned(lam, r50p, [3, 4, 5, 6, 7, 8, 9, 10, 12])
    s7, l7 = r50p[(lam < 7) & np.isfinite(r50p)], r50p[(lam >= 7) & np.isfinite(r50p)]
    if len(s7) and len(l7):
        rules["pion_50GeV_penalty_below_7lambda"] = float(np.median(s7) / np.median(l7))
    with plots.style():
        fig = Figure(figsize=(12, 4.4), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2)
        for ax, x, y, xl, yl, vline, key in (
            (
                ax1,
                x0,
                r50e,
                "ECAL depth ($X_0$)",
                r"$\sigma_E/E$, e$^-$ 50 GeV (%)",
                20,
                "electron_50GeV_vs_ecal_x0",
            ),
            (
                ax2,
                lam,
                r50p,
                r"total depth ($\lambda_I$)",
                r"$\sigma_E/E$, $\pi^+$ 50 GeV (%)",
                7,
                "pion_50GeV_vs_lambda",
            ),
        ):
            ax.scatter(x, 100 * y, s=8, color="#9a9a9a", label="measured designs")
            b = rules[key]
            if b:
                ax.errorbar(
                    [(r["lo"] + r["hi"]) / 2 for r in b],
                    [100 * r["median"] for r in b],
                    yerr=[
                        [100 * (r["median"] - r["p16"]) for r in b],
                        [100 * (r["p84"] - r["median"]) for r in b],
                    ],
                    xerr=[(r["hi"] - r["lo"]) / 2 for r in b],
                    fmt="o",
                    color=plots.COLOURS[0],
                    label="median (16-84 %)",
                )
            scan = scans.get(key)
            if scan:
                ax.errorbar(
                    [p[0] for p in scan],
                    [100 * p[1] for p in scan],
                    yerr=[100 * p[2] for p in scan],
                    fmt="s-",
                    color=plots.COLOURS[3],
                    ms=5,
                    label="course_pbscint, one depth varied",
                )
            ax.axvline(vline, color="black", ls=":", lw=1)
            ax.set_xlabel(xl)
            ax.set_ylabel(yl)
            finite = y[np.isfinite(y)]
            ax.set_ylim(0, 100 * float(np.percentile(finite, 98)) * 1.2 if finite.size else 1)
            ax.legend(fontsize=9)
        write_bytes(IMG / "depth_rules.png", plots.to_png(fig))
    rules["scans"] = {k: [list(p) for p in v] for k, v in scans.items()}
    out["rules"] = rules
    # the front itself, as the report draws it
    from calolab.report.optimization import pareto_figure

    write_bytes(IMG / "course_front.png", plots.to_png(pareto_figure(results, confirm)))
    print(json.dumps(out, indent=1, default=str)[:6000], flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--part",
        default="all",
        choices=["all", "profile", "rate", "study", "confirm", "scans", "analyze"],
    )
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--confirm-factor", type=int, default=10)
    ap.add_argument("--confirm-designs", choices=["front", "beating", "best"], default="front")
    ap.add_argument("--workers", type=int, default=2, help="0: one process")
    ap.add_argument("--rate-trials", type=int, default=12)
    ap.add_argument("--profile-repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("bench-optimize"))
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    workers = a.workers or None
    a.workdir.mkdir(parents=True, exist_ok=True)
    data = previous()
    data.update({"machine": machine(), "command": " ".join(sys.argv)})
    parts = (
        ["profile", "rate", "study", "confirm", "scans", "analyze"] if a.part == "all" else [a.part]
    )
    for part in parts:
        print(f"== {part}", flush=True)
        if part == "profile":
            data["profile"] = part_profile(a.events, a.profile_repeats)
        elif part == "rate":
            data["rate"] = part_rate(a.workdir, a.rate_trials, a.events)
        elif part == "study":
            data["study"] = part_study(a.workdir, a.trials, a.events, workers)
        elif part == "scans":
            data["scans"] = part_scans(a.workdir, 2 * a.events, workers)
        elif part == "confirm":
            data["confirm"] = part_confirm(
                a.workdir, a.confirm_factor * a.events, workers, a.confirm_designs
            )
        else:
            data["analyze"] = part_analyze(a.workdir)
        save("optimize", {k: v for k, v in data.items() if k not in ("machine", "python")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
