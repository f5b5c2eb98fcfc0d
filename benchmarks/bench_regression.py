"""Energy-regression benchmarks of issue 3 (numbers quoted in BENCHMARKS.md and docs/regression.md).

Parts (each runs on its own; ``--part all`` runs them in order):

``photons``  γ 50–500 GeV, θ = 20°, in ``endcap_photon`` (study A): resolution table of the sum
             of cells (plain and MIP-calibrated), α·sum+β, per-layer calibration (init 0 and 1),
             the MLP and the 3D CNN.
``course``   e− and π+ 1–100 GeV in ``course_pbwo4`` and ``course_pbscint`` (study E): μ/σ table
             of the MLP vs the sum-of-cells baseline, per design and particle.
``muons``    μ− 50 GeV–8 TeV (log-uniform) in ``muon_block`` (study D): relative resolution vs
             energy of the sum, the high-level-feature MLP and the CNN + high-level features,
             alone and combined with a tracker of σ/E = 20 % × E/TeV.
``cheap``    the demo's workload (issue 6) in one process through the Python API: e−/π+ in
             both course designs, sum, α·sum+β, per-layer and MLP, wall time of every step.

In the first three parts every model is trained and evaluated with the command line
(``calolab train`` / ``calolab evaluate``) in its own process, so the peak memory
(``ru_maxrss``) is per model. Training throughput is the median over epochs of (training
events / training seconds); the inference rate is the median of 3 in-process passes over the
test set after a warm-up (features in memory, grids read from the file); the ratio column
compares with the sum-of-cells baseline measured in the same run. Simulated files and finished
runs are cached in ``--workdir`` (delete it to start from scratch).

Usage::

    python benchmarks/bench_regression.py --part photons [--scale 1] [--workdir DIR]
    python benchmarks/bench_regression.py --part all --markdown results.md

Results: ``benchmarks/results/regression.json`` (one key per part). ``--scale`` multiplies
every sample size (0.1 for a quick check).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, machine  # noqa: E402

from calolab.core.errors import ConfigError
from calolab.core.files import write_text
from calolab.geometry import resolve_detector
from calolab.simulation import ParticleGun, simulate_to_file
from calolab.simulation.fast import simulator_for

ROOT = Path(__file__).resolve().parents[1]

# sample sizes at --scale 1 (training events, test events)
SIZES = {
    "photons": (6000, 3000),
    "course": (4000, 1500),  # training per design (mixed particles), test per particle
    "muons": (4000, 2000),
}


# ----------------------------------------------------------------------------- helpers
def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def simulate_cached(path: Path, detector: str, guns: list[ParticleGun], n: int, seed: int) -> float:
    """Simulate into ``path`` unless it exists; returns the seconds spent (0 if cached)."""
    if path.exists():
        return 0.0
    log(f"simulate {n} events → {path.name}")
    t0 = time.perf_counter()
    simulate_to_file(path, detector, guns, n, seed=seed)
    return time.perf_counter() - t0


def supported(detector: str, particle: str) -> bool:
    """Whether the fast simulator can shoot ``particle`` (π+ and μ arrive with issue 7)."""
    try:
        simulator_for(resolve_detector(detector)).check_gun(ParticleGun(particle, 10.0))
        return True
    except ConfigError as exc:
        log(f"skip {particle} in {detector}: {exc}")
        return False


def calolab(*args: str, threads: int) -> None:
    cmd = [sys.executable, "-m", "calolab.cli.main", *args, "--threads", str(threads), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr}")


def time_inference(run_dir: Path, test_file: Path, threads: int, repeats: int = 3) -> dict:
    """Median over ``repeats`` of the time to predict every event of ``test_file`` (the
    feature pass that opens the file is not included; grids are read inside the loop)."""
    import torch

    from calolab.training import load_run

    torch.set_num_threads(threads)
    run = load_run(run_dir)
    with run.open_data(test_file) as src:
        n = src.n_events
        run.predict(src)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run.predict(src)
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"events": n, "seconds": times, "median_seconds": med, "events_per_second": n / med}


def train_and_evaluate(
    work: Path,
    name: str,
    train_file: Path,
    test_files: dict[str, Path],
    train_args: list[str],
    *,
    threads: int,
    tracker: bool = False,
    repeats: int = 3,
) -> dict[str, Any]:
    """Run ``calolab train`` (unless the run is finished) and ``calolab evaluate``."""
    run = work / "runs" / name
    if not (run / "summary.json").exists():
        log(f"train {name}: {' '.join(train_args)}")
        calolab(
            "train",
            "--data",
            str(train_file),
            *train_args,
            "--output",
            str(run),
            *(["--resume"] if (run / "config.json").exists() else []),
            threads=threads,
        )
    summary = json.loads((run / "summary.json").read_text())
    history = list(csv.DictReader(open(run / "history.csv")))
    rates = [float(r["samples_per_second"]) for r in history if r.get("samples_per_second")]
    out: dict[str, Any] = {
        "name": name,
        "train_args": train_args,
        "epochs": len(history),
        "train_seconds": summary["train_seconds"],
        "train_samples_per_second_median": statistics.median(rates) if rates else None,
        "train_peak_memory_mb": summary["peak_memory_mb"],
        "n_parameters": summary["members"][0]["n_parameters"],
        "fit_params": summary["members"][0].get("fit_params", {}),
        "eval": {},
    }
    for label, test in test_files.items():
        ev = work / "eval" / name / label
        log(f"evaluate {name} on {label}")
        calolab(
            "evaluate",
            str(run),
            "--data",
            str(test),
            "--output",
            str(ev),
            *(["--tracker"] if tracker else []),
            threads=threads,
        )
        out["eval"][label] = flat(json.loads((ev / "metrics.json").read_text()))
    first = next(iter(test_files.values()))
    log(f"time inference of {name} ({repeats} repeats)")
    out["inference"] = time_inference(run, first, threads, repeats)
    return out


def flat(metrics: dict[str, Any]) -> dict[str, Any]:
    """The numbers of a ``metrics.json`` (format 2) under the keys the tables read: the raw
    measurement at the top level, plus ``corrected``, ``tracker``, ``warnings`` and the peak
    memory."""
    return {
        **metrics["raw"],
        "corrected": metrics.get("corrected"),
        "tracker": metrics.get("tracker"),
        "warnings": metrics.get("warnings", []),
        "peak_memory_mb": metrics.get("peak_memory_mb") or 0.0,
    }


def pct(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}"


def num(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}g}"


def fit_str(fit: dict[str, float] | None) -> str:
    if not fit:
        return "–"
    return (
        f"{100 * fit['a']:.1f}±{100 * fit['a_err']:.1f} % / "
        f"{fit['b']:.2f}±{fit['b_err']:.2f} / {100 * fit['c']:.2f}±{100 * fit['c_err']:.2f} %"
    )


def bin_at(metrics: dict[str, Any], energy: float) -> dict[str, Any]:
    return min(metrics["bins"], key=lambda b: abs(b["e_mean"] - energy))


# ----------------------------------------------------------------------------- photons
PHOTON_MODELS = [
    ("sum", "--model sum"),
    ("sum-mip", "--model sum --calibration mip"),
    ("linear", "--model linear --calibration mip"),
    ("per-layer", "--model per-layer"),  # the default: from its closed-form solution
    (
        "per-layer-init0",
        "--model per-layer --init 0 --loss mse --lr 0.01 --schedule none "
        "--epochs 60 --patience 10",
    ),
    (
        "per-layer-init1",
        "--model per-layer --init 1 --loss mse --lr 0.01 --schedule none "
        "--epochs 60 --patience 10",
    ),
    (
        "mlp",
        "--model mlp --features layers --dropout 0 --loss rel --epochs 100 --patience 20 "
        "--lr 3e-3",
    ),
    (
        "cnn3d",
        "--model cnn3d --channels 4,8,16 --pool-first 2,4,4 --scalars layers+highlevel "
        "--loss rel --epochs 8 --batch-size 64 --lr 1e-3",
    ),
]


def part_photons(work: Path, scale: float, threads: int) -> dict[str, Any]:
    n_train, n_test = (max(200, int(n * scale)) for n in SIZES["photons"])
    gun = ParticleGun("gamma", "50:500", theta_deg=20.0, phi_deg=0.0)
    tr = work / f"photons_train_{n_train}.h5"
    te = work / f"photons_test_{n_test}.h5"
    sim = simulate_cached(tr, "endcap_photon", [gun], n_train, seed=301)
    sim += simulate_cached(te, "endcap_photon", [gun], n_test, seed=302)
    rows = [
        train_and_evaluate(work, f"photons-{name}", tr, {"test": te}, args.split(), threads=threads)
        for name, args in PHOTON_MODELS
    ]
    return {"n_train": n_train, "n_test": n_test, "simulation_seconds": sim, "models": rows}


def md_photons(res: dict[str, Any]) -> str:
    base = next(r for r in res["models"] if r["name"] == "photons-sum")
    base_rate = base["inference"]["events_per_second"]
    lines = [
        f"Photons 50–500 GeV, θ = 20°, `endcap_photon`; {res['n_train']} training / "
        f"{res['n_test']} test events. σ/E from Gaussian-core fits of E_pred/E_true in 10 bins "
        "(raw predictions); a/√E ⊕ b/E ⊕ c fitted to them (a in %·√GeV, b in GeV). "
        "Training rate: median over epochs; inference: median of 3 passes over the test "
        "set, ratio to the sum of cells.",
        "",
        "| model | params | RMSE [GeV] | MSE [GeV²] | μ_rel | σ_rel | σ/E at 75 GeV | σ/E at 475 GeV "
        "| a / b / c | train [samples/s] | inference [ev/s] (× sum) | peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["models"]:
        m = r["eval"]["test"]
        lo, hi = bin_at(m, 75), bin_at(m, 475)
        rate = r["inference"]["events_per_second"]
        lines.append(
            f"| {r['name'].removeprefix('photons-')} | {r['n_parameters']} | {m['rmse']:.2f} | "
            f"{m['rmse'] ** 2:.1f} | {pct(m['mu_rel'])} % | {pct(m['sigma_rel'])} % | "
            f"{pct(lo['resolution'])} ± {pct(lo['resolution_err'])} % | "
            f"{pct(hi['resolution'])} ± {pct(hi['resolution_err'])} % | {fit_str(m['fit'])} | "
            f"{num(r['train_samples_per_second_median'], 3)} | {rate:,.0f} ({rate / base_rate:.2g}) | "
            f"{max(r['train_peak_memory_mb'], m['peak_memory_mb']):.0f} |"
        )
    lin = next(r for r in res["models"] if r["name"] == "photons-linear")
    fp = lin.get("fit_params") or {}
    lines += [
        "",
        f"α·sum+β, closed form, on the MIP-calibrated sum: α = {num(fp.get('alpha'), 4)}, "
        f"β = {num(fp.get('beta'), 3)} GeV (study A: α ≈ 1.01, β ≈ 0, MSE ≈ 7.68 GeV² on its "
        "calibrated hits).",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- course
# the design-course DNN (study E): 256-128-64, GELU, dropout 0.2, Softplus, AdamW 1e-3,
# weight decay 1e-5, relative loss, batch 256, early stopping, gradient clipping
COURSE_MLP = (
    "--model mlp --features layers --hidden 256,128,64 --dropout 0.2 --loss rel "
    "--optimizer adamw --lr 1e-3 --weight-decay 1e-5 --epochs 80 --patience 15 "
    "--schedule cosine --batch-size 256 --grad-clip 1.0"
)


def part_course(work: Path, scale: float, threads: int) -> dict[str, Any]:
    n_train, n_test = (max(200, int(n * scale)) for n in SIZES["course"])
    out: dict[str, Any] = {"n_train": n_train, "n_test": n_test, "designs": {}}
    for d_i, design in enumerate(("course_pbwo4", "course_pbscint")):
        particles = [p for p in ("e-", "pi+") if supported(design, p)]
        guns = [ParticleGun(p, "1:100") for p in particles]
        tag = "-".join(p.replace("+", "p").replace("-", "m") for p in particles)
        tr = work / f"{design}_{tag}_train_{n_train}.h5"
        simulate_cached(tr, design, guns, n_train, seed=400 + d_i)
        tests = {}
        for p_i, (p, g) in enumerate(zip(particles, guns)):
            te = work / f"{design}_{p.replace('+', 'p').replace('-', 'm')}_test_{n_test}.h5"
            simulate_cached(te, design, [g], n_test, seed=410 + 10 * d_i + p_i)
            tests[p] = te
        if len(particles) > 1:  # the particles alternating event by event, like the training
            te = work / f"{design}_{tag}_test_{n_test}.h5"
            simulate_cached(te, design, guns, n_test, seed=430 + d_i)
            tests["+".join(particles)] = te
        rows = [
            train_and_evaluate(
                work, f"{design}-{tag}-sum", tr, tests, ["--model", "sum"], threads=threads
            ),
            train_and_evaluate(
                work,
                f"{design}-{tag}-mlp",
                tr,
                tests,
                COURSE_MLP.split(),
                threads=threads,
            ),
        ]
        out["designs"][design] = {"particles": particles, "models": rows}
    return out


def md_course(res: dict[str, Any]) -> str:
    lines = [
        f"e− and π+ 1–100 GeV; per design one model trained on {res['n_train']} events (the "
        f"available particles alternating), tested on {res['n_test']} events per particle and "
        f"on {res['n_test']} events of the mixture. "
        "μ = ⟨E_pred − E_true⟩, σ = std(E_pred − E_true), relative: divided by E_true.",
        "",
        "| design | particle | model | μ [GeV] | σ [GeV] | μ_rel | σ_rel | RMSE [GeV] | MAE [GeV] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for design, d in res["designs"].items():
        for r in d["models"]:
            for p, m in r["eval"].items():
                lines.append(
                    f"| {design} | {p} | {r['name'].rsplit('-', 1)[-1]} | {m['mu']:.2f} | "
                    f"{m['sigma']:.2f} | {pct(m['mu_rel'], 1)} % | {pct(m['sigma_rel'], 1)} % | "
                    f"{m['rmse']:.2f} | {m['mae']:.2f} |"
                )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- muons
def part_muons(work: Path, scale: float, threads: int) -> dict[str, Any]:
    if not supported("muon_block", "mu-"):
        return {"skipped": "the simulator does not shoot muons yet (issue 7)"}
    n_train, n_test = (max(200, int(n * scale)) for n in SIZES["muons"])
    gun = ParticleGun("mu-", "log:50:8000")
    tr = work / f"muons_train_{n_train}.h5"
    te = work / f"muons_test_{n_test}.h5"
    simulate_cached(tr, "muon_block", [gun], n_train, seed=501)
    simulate_cached(te, "muon_block", [gun], n_test, seed=502)
    models = [
        ("sum", "--model sum"),
        (
            "mlp-highlevel",
            "--model mlp --features highlevel --dropout 0 --loss huber-frac "
            "--epochs 100 --patience 20 --lr 3e-3",
        ),
        (
            "cnn3d-highlevel",
            "--model cnn3d --channels 4,8,16 --pool-first 2,4,4 "
            "--scalars highlevel --loss huber-frac --epochs 8 --batch-size 64 --lr 1e-3",
        ),
    ]
    rows = [
        train_and_evaluate(
            work, f"muons-{n}", tr, {"test": te}, a.split(), threads=threads, tracker=True
        )
        for n, a in models
    ]
    return {"n_train": n_train, "n_test": n_test, "models": rows}


def md_muons(res: dict[str, Any]) -> str:
    if "skipped" in res:
        return f"Skipped: {res['skipped']}."
    models = res["models"]
    names = [r["name"].removeprefix("muons-") for r in models]
    lines = [
        f"μ− 50 GeV–8 TeV (log-uniform) in `muon_block`; {res['n_train']} training / "
        f"{res['n_test']} test events. σ/E: Gaussian-core width of E/E_true after the bias "
        "correction (fitted on the validation predictions). ⊕ trk: the ideal inverse-variance "
        "combination with a tracker of σ/E = 20 % × E/TeV, 1/√(1/σ_c² + 1/σ_t²); "
        "(per event): the truth-free per-event weighted average with a toy tracker, "
        "Gaussian-core width (its response in brackets).",
        "",
        "| E [GeV] | tracker | "
        + " | ".join(f"{n} σ/E | {n} ⊕ trk | {n} ⊕ trk (per event)" for n in names)
        + " |",
        "|---|---|" + "---|" * (3 * len(names)),
    ]
    bins = [m["eval"]["test"]["tracker"]["bins"] for m in models]
    for i, b0 in enumerate(bins[0]):
        cells = []
        for b in bins:
            cells += [
                pct(b[i]["calo"], 1) + " %",
                pct(b[i]["expected"], 1) + " %",
                f"{pct(b[i]['combined'], 1)} % ({b[i]['combined_response']:.2f})",
            ]
        lines.append(
            f"| {b0['e_mean']:.0f} | {pct(b0['tracker_nominal'], 1)} % | "
            + " | ".join(cells)
            + " |"
        )
    lines += [
        "",
        "| model | params | σ/E fit a / b / c (corrected) | train [samples/s] | inference [ev/s] "
        "| peak MB |",
        "|---|---|---|---|---|---|",
    ]
    for r, n in zip(models, names):
        m = r["eval"]["test"]
        c = m["corrected"] or m
        lines.append(
            f"| {n} | {r['n_parameters']} | {fit_str(c['fit'])} | "
            f"{num(r['train_samples_per_second_median'])} | "
            f"{r['inference']['events_per_second']:,.0f} | "
            f"{max(r['train_peak_memory_mb'], m['peak_memory_mb']):.0f} |"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- cheap models
def part_cheap(work: Path, scale: float, threads: int) -> dict[str, Any]:
    """The demo's workload (issue 6), in one process through the Python API: e−/π+ 1–100 GeV
    in both course designs; sum, α·sum+β, per-layer and MLP trained on one shared feature
    pass and evaluated with plots. Reports the wall time of every step."""
    import shutil

    import torch

    from calolab.evaluation import evaluate_run
    from calolab.models import ModelConfig
    from calolab.training import DataConfig, TrainConfig, load_run, open_source, train

    torch.set_num_threads(threads)
    n_train, n_test = max(200, int(2000 * scale)), max(200, int(1000 * scale))
    out: dict[str, Any] = {"n_train": n_train, "n_test": n_test, "designs": {}}
    models = [
        ("sum", {}, {}),
        ("linear", {}, {}),
        ("per-layer", {}, {"epochs": 60, "loss": "mse"}),
        (
            "mlp",
            {"hidden": [256, 128, 64], "dropout": 0.2},
            {"loss": "rel", "epochs": 60, "patience": 15, "schedule": "cosine"},
        ),
    ]
    base = work / "cheap"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    t_all = time.perf_counter()
    for d_i, design in enumerate(("course_pbwo4", "course_pbscint")):
        particles = [p for p in ("e-", "pi+") if supported(design, p)]
        guns = [ParticleGun(p, "1:100") for p in particles]
        steps: dict[str, float] = {}
        t0 = time.perf_counter()
        simulate_to_file(base / f"{design}_train.h5", design, guns, n_train, seed=600 + d_i)
        simulate_to_file(base / f"{design}_test.h5", design, guns, n_test, seed=610 + d_i)
        steps["simulate"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        data = DataConfig(str(base / f"{design}_train.h5"))
        src = open_source(data, ("layers",), "regression")
        test = open_source(DataConfig(str(base / f"{design}_test.h5")), ("layers",), "regression")
        steps["feature pass"] = time.perf_counter() - t0
        metrics = {}
        for name, opts, kw in models:
            t0 = time.perf_counter()
            cfg = TrainConfig(model=ModelConfig(name, opts), data=data, device="cpu", **kw)
            train(cfg, base / f"{design}-{name}", source=src)
            steps[f"train {name}"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            r = evaluate_run(
                load_run(base / f"{design}-{name}"),
                str(base / f"{design}_test.h5"),
                base / f"{design}-{name}-eval",
                source=test,
            )
            steps[f"evaluate {name}"] = time.perf_counter() - t0
            assert r.raw is not None
            metrics[name] = {
                k: getattr(r.raw, k) for k in ("mu", "sigma", "mu_rel", "sigma_rel", "rmse")
            }
        src.close()
        test.close()
        out["designs"][design] = {"particles": particles, "seconds": steps, "metrics": metrics}
    out["total_seconds"] = time.perf_counter() - t_all
    return out


def md_cheap(res: dict[str, Any]) -> str:
    lines = [
        f"The demo's workload in one process: per design {res['n_train']} training and "
        f"{res['n_test']} test events (e−/π+ alternating, 1–100 GeV), four cheap models "
        "trained on one shared feature pass and evaluated with plots. Wall seconds per step:",
        "",
    ]
    designs = list(res["designs"])
    steps = list(res["designs"][designs[0]]["seconds"])
    lines.append("| step | " + " | ".join(designs) + " |")
    lines.append("|---|" + "---|" * len(designs))
    for st in steps:
        lines.append(
            f"| {st} | "
            + " | ".join(f"{res['designs'][d]['seconds'][st]:.1f}" for d in designs)
            + " |"
        )
    lines += ["", f"Total: {res['total_seconds']:.0f} s (budget of the demo: 600 s)."]
    return "\n".join(lines)


PARTS = {
    "photons": (part_photons, md_photons),
    "course": (part_course, md_course),
    "muons": (part_muons, md_muons),
    "cheap": (part_cheap, md_cheap),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=[*PARTS, "all"], default="all")
    ap.add_argument("--workdir", default="/tmp/calolab-bench-regression")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every sample size")
    ap.add_argument("--threads", type=int, default=2, help="torch threads per process [2]")
    ap.add_argument(
        "--json",
        default=str(RESULTS / "regression.json"),
        help="results file; each part run updates its own key [benchmarks/results/regression.json]",
    )
    ap.add_argument("--markdown", help="write the tables to this Markdown file")
    args = ap.parse_args(argv)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    parts = list(PARTS) if args.part == "all" else [args.part]
    out_json = Path(args.json)
    results: dict[str, Any] = json.loads(out_json.read_text()) if out_json.exists() else {}
    md = []
    for part in parts:
        t0 = time.perf_counter()
        load0 = os.getloadavg()[0]
        run, fmt = PARTS[part]
        res = run(work, args.scale, args.threads)
        res["wall_seconds"] = time.perf_counter() - t0
        res["load_average"] = [load0, os.getloadavg()[0]]
        res["machine"] = machine()
        res["threads"] = args.threads
        res["scale"] = args.scale
        results[part] = res
        out_json.parent.mkdir(parents=True, exist_ok=True)
        write_text(out_json, json.dumps(results, indent=1, default=str) + "\n")
        md.append(
            f"### {part}\n\n{fmt(res)}\n\n(wall time of the part: {res['wall_seconds']:.0f} s, "
            f"load average {res['load_average'][0]:.1f} → {res['load_average'][1]:.1f}, "
            f"{args.threads} torch thread(s))"
        )
        log(f"part {part} done in {res['wall_seconds']:.0f} s")
    text = "\n\n".join(md)
    print(text)
    if args.markdown:
        write_text(args.markdown, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
