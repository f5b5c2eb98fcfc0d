"""The MODE comparison: joint vs sequential (factorised) gradient optimisation vs an Optuna
search, on one benchmark space — the objective reached against the showers simulated.

    python benchmarks/bench_mode.py [--trials 12] [--events 400] [--step-events 60]
        [--gradient-steps 4] [--seed 1] [--space benchmarks/spaces/pbscint-ecal.toml]
        [--out benchmarks/results/mode_study.json] [--keep DIR]

Every method runs a study of the same space with the same --trials, --events and --seed
(``calolab optimize run``): ``gradient`` (design and reconstruction trained together),
``gradient --sequential`` (design for a fixed calibrated sum) and ``tpe`` (Optuna).
Every measured design is measured the same way, with the reference simulator (the study's
per-layer calibration trained on half the showers, σ/E on the other half). The objective is
the mean of the space's resolution objectives; "best" is the best feasible trial's, with its
error; showers used = reference showers of the study's trials + torch showers of the
gradient steps (the search reaches its best after the showers counted up to that trial).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import calolab.optimization.gradient  # noqa: F401 - registers the method
from calolab.optimization import load_space, load_study, run_study


def summarise(directory: Path, objectives: list[str]) -> dict:
    import optuna

    from calolab.optimization.study import STUDY_NAME, storage_url

    res = load_study(directory)
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(directory))
    torch_sh = {t.number: int(t.user_attrs.get("torch_showers", 0)) for t in study.trials}
    rows, ref_used, torch_used = [], 0, 0
    for t in sorted(res.trials, key=lambda t: t.number):
        ref_used += t.showers
        torch_used = max(torch_used, torch_sh.get(t.number, 0))
        if not t.feasible:
            continue
        vals = [t.value(o) for o in objectives]
        errs = [t.error_of(o) for o in objectives]
        if not all(math.isfinite(v) for v in vals):
            continue
        mean = sum(vals) / len(vals)
        err = math.sqrt(sum(e * e for e in errs)) / len(errs)
        rows.append((t.number, mean, err, ref_used, torch_used, dict(t.params)))
    best = min(rows, key=lambda r: r[1])
    total_ref = sum(t.showers for t in res.trials)
    return {
        "best_trial": best[0],
        "objective": best[1],
        "objective_error": best[2],
        "reference_showers_at_best": best[3],
        "torch_showers_at_best": best[4],
        "reference_showers": total_ref,
        "torch_showers": torch_used,
        "params": best[5],
        "trials": len(res.trials),
        "history": [(r[0], r[1], r[2], r[3] + r[4]) for r in rows],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--space", default=str(Path(__file__).parent / "spaces" / "pbscint-ecal.toml"))
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--events", type=int, default=400)
    ap.add_argument("--step-events", type=int, default=60)
    ap.add_argument("--gradient-steps", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None)
    ap.add_argument("--keep", default=None, help="keep the study directories here")
    args = ap.parse_args()
    space = load_space(args.space)
    objectives = [o.name for o in space.objectives if o.metric == "resolution"]
    runs = {
        "joint (gradient)": (
            "gradient",
            {"steps_per_trial": args.gradient_steps, "step_events": args.step_events},
        ),
        "sequential (gradient --sequential)": (
            "gradient",
            {
                "steps_per_trial": args.gradient_steps,
                "step_events": args.step_events,
                "joint": False,
            },
        ),
        "Optuna search (tpe)": ("tpe", None),
    }
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-mode-"))
    out = {
        "space": space.name,
        "trials": args.trials,
        "events": args.events,
        "step_events": args.step_events,
        "gradient_steps": args.gradient_steps,
        "seed": args.seed,
        "objective": f"mean of {', '.join(objectives)}",
        "methods": {},
    }
    for i, (label, (method, opts)) in enumerate(runs.items()):
        d = base / f"study-{i}"
        t0 = time.perf_counter()
        run_study(
            space,
            d,
            trials=args.trials,
            events=args.events,
            seed=args.seed,
            method=method,
            method_options=opts,
        )
        s = summarise(d, objectives)
        s["wall_seconds"] = round(time.perf_counter() - t0, 1)
        out["methods"][label] = s
        print(
            f"{label:38s} best {s['objective']:.4f} ± {s['objective_error']:.4f} "
            f"(trial {s['best_trial']}) after {s['reference_showers_at_best']:,} reference + "
            f"{s['torch_showers_at_best']:,} torch showers; total "
            f"{s['reference_showers']:,} + {s['torch_showers']:,}; {s['wall_seconds']:.0f} s",
            flush=True,
        )
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
