"""ML regressors against their closed-form baselines with the command line's defaults (issue 12).

For every case — e− and π+ of 1–100 GeV in ``course_pbwo4``, ``course_pbscint`` and
``course_triple``, and photons of 50–500 GeV at θ = 20° in ``endcap_photon`` (studies E and
A) — one training file and one test file are simulated, and four models are trained and
evaluated on the *same* files with nothing but the defaults::

    calolab train --data train.h5 --model {sum,linear,per-layer,mlp} --output RUN
    calolab evaluate RUN --data test.h5 --output EVAL

(equal-population bins, bias correction where it passes its checks). The table compares the
MLP with the per-layer calibration: the mean over the bins of the Gaussian-core σ/E, the
ratio of the two resolutions over matching bins with its standard error
(:func:`calolab.report.resolution_ratio`), the RMSE, and the paired difference of the
per-event squared relative errors (:func:`calolab.report.compare.paired_comparison`). The
MLP is "at least as good" when its resolution ratio is below 1 + 2 standard errors and its
mean squared relative error is not above the per-layer one by more than 2 standard errors.
The last column checks that the per-layer default ends at its closed-form solution: its best
validation MSE over that of the closed-form start (``summary.json``).

Usage::

    python benchmarks/bench_defaults.py                     # full size (4000 / 2000 events)
    python benchmarks/bench_defaults.py --scale 0.5         # half (state it when you quote)
    python benchmarks/bench_defaults.py --cases course_pbwo4:e- --markdown table.md

Results: ``benchmarks/results/defaults.json``; simulated files and runs are cached in
``--workdir`` (delete it to start again; a changed physics model needs a fresh workdir).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, machine  # noqa: E402

#: (design, particle, energy range, θ in degrees or None)
CASES = (
    ("course_pbwo4", "e-", "1:100", None),
    ("course_pbwo4", "pi+", "1:100", None),
    ("course_pbscint", "e-", "1:100", None),
    ("course_pbscint", "pi+", "1:100", None),
    ("course_triple", "e-", "1:100", None),
    ("course_triple", "pi+", "1:100", None),
    ("endcap_photon", "gamma", "50:500", 20.0),
)
MODELS = ("sum", "linear", "per-layer", "mlp")
#: events at --scale 1 (training, test) per case
SIZES = (4000, 2000)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def calolab(*args: str, threads: int, allow: tuple[int, ...] = (0,)) -> None:
    cmd = [sys.executable, "-m", "calolab.cli.main", *args]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode not in allow:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")


def simulate(
    path: Path,
    design: str,
    particle: str,
    energy: str,
    theta: float | None,
    n: int,
    seed: int,
    threads: int,
) -> None:
    if path.exists():
        return
    log(f"simulate {n} {particle} in {design} → {path.name}")
    args = [
        "simulate",
        design,
        "--particle",
        particle,
        "--energy",
        energy,
        "--events",
        str(n),
        "--seed",
        str(seed),
        "--output",
        str(path),
        "--quiet",
    ]
    if theta is not None:
        args += ["--theta", f"{theta:g}"]
    calolab(*args, threads=threads)


def run_case(
    work: Path, case: tuple[str, str, str, float | None], k: int, scale: float, threads: int
) -> dict[str, Any]:
    from calolab.evaluation import EvaluationResult
    from calolab.report import resolution_ratio
    from calolab.report.compare import paired_comparison, read_predictions

    design, particle, energy, theta = case
    n_train, n_test = (max(200, int(round(n * scale))) for n in SIZES)
    tag = f"{design}_{particle.replace('+', 'p').replace('-', 'm')}"
    train_file = work / f"{tag}_train_{n_train}.h5"
    test_file = work / f"{tag}_test_{n_test}.h5"
    simulate(train_file, design, particle, energy, theta, n_train, 7000 + 10 * k, threads)
    simulate(test_file, design, particle, energy, theta, n_test, 7001 + 10 * k, threads)
    results: dict[str, EvaluationResult] = {}
    seconds: dict[str, float] = {}
    val: dict[str, tuple[float | None, float | None]] = {}
    for model in MODELS:
        run = work / "runs" / f"{tag}_{n_train}" / model
        ev = work / "eval" / f"{tag}_{n_train}" / model
        t0 = time.perf_counter()
        if not (run / "summary.json").exists():
            log(f"train {model} on {tag}")
            calolab(
                "train",
                "--data",
                str(train_file),
                "--model",
                model,
                "--output",
                str(run),
                "--threads",
                str(threads),
                "--quiet",
                "--device",
                "cpu",
                *(["--resume"] if (run / "config.json").exists() else []),
                threads=threads,
            )
        seconds[model] = time.perf_counter() - t0
        calolab(
            "evaluate",
            str(run),
            "--data",
            str(test_file),
            "--output",
            str(ev),
            "--threads",
            str(threads),
            "--quiet",
            "--no-plots",
            threads=threads,
        )
        results[model] = EvaluationResult.from_json(ev / "metrics.json")
        member = json.loads((run / "summary.json").read_text())["members"][0]
        val[model] = (member.get("best_val_loss"), member.get("initial_val_loss"))
    mlp, pl = results["mlp"], results["per-layer"]
    ratio = resolution_ratio(mlp, pl)
    pm = read_predictions(work / "eval" / f"{tag}_{n_train}" / "mlp")
    pp = read_predictions(work / "eval" / f"{tag}_{n_train}" / "per-layer")
    paired = paired_comparison(pm, pp) if pm is not None and pp is not None else None
    ok_res = ratio is None or ratio.ratio <= 1 + 2 * ratio.error
    ok_mse = paired is None or paired.diff <= 2 * paired.error
    rows = {}
    for model, r in results.items():
        best = r.best
        fit = best.fit if best is not None else None
        rows[model] = {
            "rmse": r.raw.rmse if r.raw else None,
            "rmse_rel": r.raw.rmse_rel if r.raw else None,
            "core_resolution": r.core_resolution,
            "corrected": r.corrected is not None,
            "a": fit.a if fit and "a" in fit.terms else None,
            "a_err": fit.a_err if fit and "a" in fit.terms else None,
            "c": fit.c if fit and "c" in fit.terms else None,
            "c_err": fit.c_err if fit and "c" in fit.terms else None,
            "chi2_ndf": fit.chi2_ndf if fit else None,
            "warnings": [str(w) for w in r.warnings],
            "train_seconds": seconds[model],
            "best_val_loss": val[model][0],
            "initial_val_loss": val[model][1],
        }
    return {
        "design": design,
        "particle": particle,
        "energy": energy,
        "theta_deg": theta,
        "n_train": n_train,
        "n_test": n_test,
        "models": rows,
        "mlp_vs_per_layer": {
            "resolution_ratio": ratio.ratio if ratio else None,
            "resolution_ratio_err": ratio.error if ratio else None,
            "rmse_rel_ratio": paired.ratio if paired else None,
            "msre_diff": paired.diff if paired else None,
            "msre_diff_err": paired.error if paired else None,
            "at_least_as_good": bool(ok_res and ok_mse),
        },
    }


def pct(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}"


def markdown(res: dict[str, Any]) -> str:
    c0 = res["cases"][0]
    lines = [
        f"Every model trained with `calolab train --data TRAIN --model M` and evaluated with "
        f"`calolab evaluate RUN --data TEST` — no other option — on the same files per case: "
        f"{c0['n_train']} training and {c0['n_test']} test events (--scale {res['scale']:g}). "
        "σ/E: mean over the 10 equal-population bins of the Gaussian-core σ/E (after the bias "
        "correction where it was applied); a, c: the fit σ/E = a/√E ⊕ b/E ⊕ c (a in %·√GeV); "
        "MLP ÷ per-layer: weighted mean over the bins of the ratio of the two σ/E ± its "
        "standard error, and the ratio of the RMSE_rel (paired, same events).",
        "",
        "| design | particle | sum σ/E | linear σ/E | per-layer σ/E | MLP σ/E | per-layer a / c "
        "| MLP a / c | RMSE per-layer / MLP [GeV] | MLP ÷ per-layer σ/E | MLP ÷ per-layer RMSE_rel "
        "| MLP ≥ per-layer | per-layer val. MSE ÷ closed form | flags (sum, linear, per-layer, "
        "MLP) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in res["cases"]:
        m = c["models"]
        v = c["mlp_vs_per_layer"]

        def ac(r: dict[str, Any]) -> str:
            return f"{pct(r['a'], 1)} / {pct(r['c'], 2)}"

        ratio = (
            f"{v['resolution_ratio']:.3f} ± {v['resolution_ratio_err']:.3f}"
            if v["resolution_ratio"] is not None
            else "–"
        )
        flags = ", ".join(str(len(m[k]["warnings"])) for k in MODELS)
        best, start = m["per-layer"].get("best_val_loss"), m["per-layer"].get("initial_val_loss")
        cf = f"{best / start:.4f}" if best and start else "–"
        lines.append(
            f"| {c['design']} | {c['particle']} | "
            + " | ".join(f"{pct(m[k]['core_resolution'])} %" for k in MODELS)
            + f" | {ac(m['per-layer'])} | {ac(m['mlp'])} | "
            f"{m['per-layer']['rmse']:.3g} / {m['mlp']['rmse']:.3g} | {ratio} | "
            f"{v['rmse_rel_ratio']:.3f} | {'yes' if v['at_least_as_good'] else '**no**'} | "
            f"{cf} | {flags} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the sample sizes [1]")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process [1]")
    ap.add_argument("--workdir", default="/tmp/calolab-bench-defaults")
    ap.add_argument(
        "--cases", help="comma-separated design:particle subset (default: all seven cases)"
    )
    ap.add_argument("--json", default=str(RESULTS / "defaults.json"))
    ap.add_argument("--markdown", help="also write the table to this file")
    args = ap.parse_args(argv)
    if not args.scale > 0:
        ap.error(f"--scale {args.scale} must be > 0")
    cases = list(CASES)
    if args.cases:
        want = {tuple(c.split(":", 1)) for c in args.cases.split(",")}
        cases = [c for c in CASES if (c[0], c[1]) in want]
        if not cases:
            ap.error(f"--cases {args.cases}: none of {[(c[0], c[1]) for c in CASES]}")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    out = []
    for case in cases:
        k = CASES.index(case)
        out.append(run_case(work, case, k, args.scale, args.threads))
        log(f"{case[0]} {case[1]}: {out[-1]['mlp_vs_per_layer']}")
    res = {
        "scale": args.scale,
        "threads": args.threads,
        "machine": machine(),
        "wall_seconds": time.perf_counter() - t0,
        "load_average": [load0, os.getloadavg()[0]],
        "cases": out,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=1) + "\n")
    text = markdown(res)
    print(text)
    print(
        f"\n(wall time {res['wall_seconds']:.0f} s, load average {load0:.1f} → "
        f"{res['load_average'][1]:.1f}, {args.threads} torch thread(s); {res['machine']})"
    )
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0 if all(c["mlp_vs_per_layer"]["at_least_as_good"] for c in out) else 1


if __name__ == "__main__":
    sys.exit(main())
