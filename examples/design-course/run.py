"""Study E: the calorimeter design course — ECAL + HCAL in 200 cm, 50 × 50 cm, 50,000 CHF.

Three of the course's designs (``course_pbwo4``: v1, 26 X0 PbWO4 + graded Fe/scintillator
HCAL; ``course_pbscint``: v2, 60 × (0.2 cm Pb + 0.2 cm scintillator) + graded HCAL;
``course_triple``: v4_2, Pb + scintillator + PbWO4 layers), e− and π+ of 1–100 GeV. For each
design: depth, materials cost against the course's budget (which counted materials only) and
the cost with readout channels; the course's baseline (the plain sum of the visible cell
energies: μ_rel, σ_rel) against a DNN trained on the digitised cells with calolab's defaults
(μ, σ, μ_rel, σ_rel, MAE, RMSE), per particle. The per-layer calibration is the reference
the DNN must not lose to.

    python examples/design-course/run.py --quick --output build/examples/design-course

``--quick``: two designs, 4,000 training and 1,000 test events per design (e−/π+ alternating)
in a few minutes on 2 cores; the default: three designs, 6,000 and 3,000. (With 2,000 the
DNN's 200 validation events cannot show that it beats the per-layer calibration it starts
from, so training keeps that start: an MSE-fitted linear calibration, biased in the 1–10 GeV
bin.) The DNN's raw response in the lowest bin is 1.2–1.3 ± 0.04 (regression to the mean at
the lower edge of the flat spectrum; 1.18 after the bias correction): evaluate flags a bin
only when it lies outside [0.8, 1.25] by more than two standard errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from study import (  # noqa: E402
    Study,
    broken_model_warnings,
    options,
    run,
    train_and_evaluate,
)

from calolab.data import Showers  # noqa: E402
from calolab.geometry import resolve_detector  # noqa: E402
from calolab.report.compare import paired_comparison  # noqa: E402
from calolab.simulation import ParticleGun, simulate_to_file  # noqa: E402

BUDGET_CHF, MAX_LENGTH_CM = 50_000.0, 200.0
#: Depth (cm) and materials cost (CHF) the course quoted for its designs v2 and v4_2.
COURSE_DESIGNS = {"course_pbscint": (198.6, 2300.0), "course_triple": (200.0, 47192.0)}
#: What the course reported (shared/STUDIES.md, study E).
STUDY = {
    "course_pbwo4": "DNN σ_rel 8.33 % (μ −0.08 GeV, σ 2.41 GeV); sum baseline μ_rel −35 %, σ_rel 38 %",
    "course_pbscint": "DNN σ_rel 14.1 %; sum baseline μ_rel −90 %",
    "course_triple": "DNN MAE 2.33 GeV, RMSE 4.27 GeV, σ_rel 13.7 %",
}


def _rel(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    d = pred - true
    r = d / true
    return {
        "mu_gev": float(d.mean()),
        "sigma_gev": float(d.std()),
        "mu_rel": float(r.mean()),
        "sigma_rel": float(r.std()),
        "mae_gev": float(np.abs(d).mean()),
        "rmse_gev": float(np.sqrt(np.mean(d**2))),
    }


def main() -> int:
    args = options(__doc__.split("\n")[0], "design-course")
    study = Study("design-course", args)
    designs = ["course_pbwo4", "course_pbscint"] + ([] if args.quick else ["course_triple"])
    n_train, n_test = (4000, 1000) if args.quick else (6000, 3000)
    study.number("n_train_per_design", n_train)
    study.number("n_test_per_design", n_test)
    guns = [ParticleGun("e-", "1:100"), ParticleGun("pi+", "1:100")]
    for name in ("course_pbwo4", "course_pbscint", "course_triple"):
        det = resolve_detector(name)
        study.number(
            f"{name} design",
            {
                "depth_cm": det.depth_cm,
                "material_cost_chf": det.material_cost_chf,
                "cost_chf_with_channels": det.cost_chf,
                "channels": det.n_channels,
            },
        )
        if name in COURSE_DESIGNS:
            depth, cost = COURSE_DESIGNS[name]
            study.compare(f"{name} depth (cm)", round(det.depth_cm, 1), depth)
            study.compare(f"{name} materials cost (CHF)", round(det.material_cost_chf), cost)
            study.check(
                f"{name} materials cost as the course's",
                det.material_cost_chf / cost - 1.0,
                lo=-0.02,
                hi=0.02,
                why="the cost model reproduces the course's cost tracker within 2 %",
            )
            study.check(
                f"{name} within the course's constraints",
                float(
                    len(det.check_constraints(budget_chf=None, max_depth_cm=MAX_LENGTH_CM))
                    + (det.material_cost_chf > BUDGET_CHF)
                ),
                hi=0,
                why="the course's designs fit in 200 cm and 50,000 CHF of materials",
            )
        else:
            study.compare(
                f"{name} against the constraints",
                f"{det.depth_cm:.1f} cm, materials {det.material_cost_chf:,.0f} CHF",
                "200 cm, 50,000 CHF (materials)",
                "PbWO4 crystals: over the budget, the reason for the later designs",
            )
    for i, name in enumerate(designs):
        train_file, test_file = study.out / f"{name}_train.h5", study.out / f"{name}_test.h5"
        study.log(f"{name}: simulating {n_train} + {n_test} e-/pi+ of 1-100 GeV")
        simulate_to_file(train_file, name, guns, n_train, seed=args.seed + 10 * i)
        simulate_to_file(test_file, name, guns, n_test, seed=args.seed + 10 * i + 5)
        test = Showers.load(test_file)
        digitised = {"digitized": True}
        _, ev_pl, p_pl = train_and_evaluate(
            study, f"{name}-per-layer", "per-layer", train_file, test_file, data_options=digitised
        )
        _, ev_mlp, p_mlp = train_and_evaluate(
            study, f"{name}-mlp", "mlp", train_file, test_file, data_options=digitised
        )
        assert p_mlp is not None and p_pl is not None
        pdg = np.asarray(test.pdg)[p_mlp["index"]]
        rows = {}
        for particle, code in (("e-", 11), ("pi+", 211)):
            m = pdg == code
            true = p_mlp["target"][m].astype(np.float64)
            vis = np.asarray(test.total())[p_mlp["index"][m]].astype(np.float64)
            rows[particle] = {
                "sum_baseline": _rel(vis, true),
                "dnn": _rel(p_mlp["prediction"][m].astype(np.float64), true),
                "n_events": int(m.sum()),
            }
        study.number(name, rows)
        both = _rel(p_mlp["prediction"].astype(np.float64), p_mlp["target"].astype(np.float64))
        base = np.asarray(test.total())[p_mlp["index"]].astype(np.float64)
        sb = _rel(base, p_mlp["target"].astype(np.float64))
        study.compare(
            f"{name}: e-/π+ mixture",
            f"DNN σ_rel {100 * both['sigma_rel']:.1f} %, MAE {both['mae_gev']:.2f} GeV, "
            f"RMSE {both['rmse_gev']:.2f} GeV; sum baseline μ_rel {100 * sb['mu_rel']:.0f} %, "
            f"σ_rel {100 * sb['sigma_rel']:.0f} %",
            STUDY[name],
        )
        cmp = paired_comparison(p_mlp, p_pl)
        assert cmp is not None
        study.number(
            f"{name} dnn vs per-layer", {"ratio": cmp.ratio, "significance": cmp.significance}
        )
        study.check(
            f"{name}: DNN not worse than the per-layer calibration",
            cmp.significance,
            lo=-3.0,
            why="paired mean squared relative error on the same test events, in standard errors",
        )
        study.number(f"{name} dnn warnings", [w.code for w in ev_mlp.warnings])
        study.check(
            f"{name}: DNN not flagged as broken",
            float(len(broken_model_warnings(ev_mlp))),
            hi=0,
            why="evaluate's response and energy-scale checks pass in every bin",
        )
        # the course's baseline is the plain visible sum: far below 1 in a sampling design
        study.check(
            f"{name}: sum baseline below the DNN",
            sb["mu_rel"],
            hi=-0.05,
            why="the plain sum of visible energies misses the invisible energy (course: −35 % "
            "and −90 %)",
        )
    return study.finish()


if __name__ == "__main__":
    run(main)
