"""Study D: multi-TeV muon energy from radiative losses (Kieseler et al., EPJC 82 (2022) 79).

Muons of 50 GeV – 8 TeV (log-uniform) along the axis of ``muon_block`` (PbWO4, 2032 × 120 ×
120 mm, 50 × 32 × 32 cells). The calorimeter measures a muon's energy through its radiative
losses, whose mean grows with the energy; the resolution improves with the energy, where a
tracker's (σ/E ∝ E) degrades, so the two combine. Measured here: σ/E per energy bin of the
sum of cells and of an MLP on high-level features (bias-corrected, Gaussian core), alone and
combined with a tracker of 20 % at 1 TeV; and a learning curve — the resolution against the
number of training events (4k, 16k, 64k, 250k at full size) — to see where it stops improving,
against the paper's claim of "better than 20 % for ultra-TeV muons" (its 3D CNN, ~850k events).

    python examples/muon-tev/run.py --quick --output build/examples/muon-tev

``--quick``: 8,000 training and 2,000 test muons, learning curve at 1,000 and 8,000 (40
epochs), a few minutes on 2 cores. ``--cnn`` adds the 3D CNN with high-level features (use ``--device cuda``).

**Information bound.** A calorimeter sees a muon only through its energy losses, so no
reconstruction of its cells can beat an estimator that knows the losses themselves. The
simulation records every discrete loss (``radiative_losses``: process, energy); a
gradient-boosted regression of ln E on the spectrum of those losses (counts above 0.1–1000 GeV,
energy per process, the largest losses; :func:`loss_features`), trained on the same events as
the MLP and bias-corrected the same way, gives the resolution such an estimator reaches — the
bound the learning curve is compared with (it is itself limited by the training size, and
by leaving out the continuous ionisation, which depends on E only through the relativistic
rise).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import h5py  # noqa: E402
import numpy as np  # noqa: E402
from study import Study, options, run, train_and_evaluate  # noqa: E402

from calolab.evaluation import EnergyBinning, fit_bias_correction, measure_regression  # noqa: E402
from calolab.simulation import ParticleGun, simulate_to_file  # noqa: E402

DETECTOR = "muon_block"
MLP = {"features": "highlevel", "dropout": 0.0}
MLP_TRAIN = {"loss": "huber-frac", "epochs": 100, "patience": 20, "lr": 3e-3}
CNN = {"channels": [4, 8, 16], "pool_first": [2, 4, 4], "scalars": "highlevel"}
CNN_TRAIN = {"loss": "huber-frac", "epochs": 8, "batch_size": 64, "lr": 1e-3}


def _bins(ev, which: str = "corrected") -> list[dict[str, float | None]]:
    res = getattr(ev, which) or ev.raw
    return [
        {"e_lo": b.e_lo, "e_hi": b.e_hi, "sigma_over_e": b.resolution, "err": b.resolution_err}
        for b in res.bins
    ]


LOSS_THRESHOLDS_GEV = (0.1, 1.0, 10.0, 100.0, 1000.0)


def loss_features(path: Path, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-event features of the true discrete losses of the first ``stop`` muons of a file,
    and their true energies (GeV): log(1 + count) of losses above each threshold, log(1 +
    energy) lost by each process, and the logs of the three largest losses."""
    with h5py.File(path, "r") as f:
        e_true = np.asarray(f["calolab/truth/energy"][:stop], dtype=np.float64)
        rec = f["calolab/records/radiative_losses"]
        off = np.asarray(rec["offsets"][: stop + 1], dtype=np.int64)
        energy = np.asarray(rec["energy"][off[0] : off[-1]], dtype=np.float64)
        kind = np.asarray(rec["type"][off[0] : off[-1]], dtype=np.int64)
    off = off - off[0]
    n_kinds = int(kind.max()) + 1 if kind.size else 1
    feats = np.zeros((stop, len(LOSS_THRESHOLDS_GEV) + n_kinds + 3))
    for i in range(stop):
        e, k = energy[off[i] : off[i + 1]], kind[off[i] : off[i + 1]]
        col = 0
        for t in LOSS_THRESHOLDS_GEV:
            feats[i, col] = np.log1p(np.count_nonzero(e > t))
            col += 1
        feats[i, col : col + n_kinds] = np.log1p(np.bincount(k, weights=e, minlength=n_kinds))
        col += n_kinds
        top = np.sort(e)[::-1][:3]
        feats[i, col : col + top.size] = np.log1p(top)
    return feats, e_true


def information_bound(
    train_file: Path, test_file: Path, n_train: int, n_test: int, seed: int
) -> tuple[object, float]:
    """Resolution of a gradient-boosted regression on the true losses (see the module
    docstring): trained on 80 % of the first ``n_train`` events, bias-corrected on the other
    20 %, measured on the test file in the example's energy bins. Returns the
    :class:`~calolab.evaluation.RegressionResult` and the training time (s)."""
    import time

    from sklearn.ensemble import HistGradientBoostingRegressor

    x, e = loss_features(train_file, n_train)
    n_fit = int(0.8 * len(e))
    t0 = time.perf_counter()
    model = HistGradientBoostingRegressor(
        max_iter=500, learning_rate=0.1, early_stopping=True, random_state=seed
    ).fit(x[:n_fit], np.log(e[:n_fit]))
    t_fit = time.perf_counter() - t0
    bias = fit_bias_correction(e[n_fit:], np.exp(model.predict(x[n_fit:])))
    x_test, e_test = loss_features(test_file, n_test)
    pred = bias.apply(np.exp(model.predict(x_test)))
    edges = EnergyBinning("log", 6).edges_for(e_test)
    return measure_regression(e_test, pred, edges), t_fit


def main() -> int:
    import argparse

    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--cnn", action="store_true")
    known, rest = extra.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    args = options(__doc__.split("\n")[0], "muon-tev")
    study = Study("muon-tev", args)
    sizes = [1000, 8000] if args.quick else [4000, 16000, 64000, 250000]
    mlp_train = {**MLP_TRAIN, "epochs": 40, "patience": 10} if args.quick else MLP_TRAIN
    n_test = 2000 if args.quick else 20000
    gun = ParticleGun("mu-", "log:50:8000")
    train_file, test_file = study.out / "train.h5", study.out / "test.h5"
    study.log(f"simulating {sizes[-1]} + {n_test} muons in {DETECTOR}")
    simulate_to_file(train_file, DETECTOR, [gun], sizes[-1], seed=args.seed)
    simulate_to_file(test_file, DETECTOR, [gun], n_test, seed=args.seed + 1000)
    ev_opts = {"tracker": True, "binning": EnergyBinning("log", 6)}

    _, ev_sum, _ = train_and_evaluate(study, "sum", "sum", train_file, test_file, evaluate=ev_opts)
    study.number("sum", {"bins": _bins(ev_sum)})
    curve = []
    last = None
    for n in sizes:
        _, ev, _ = train_and_evaluate(
            study,
            f"mlp-highlevel-{n}",
            "mlp",
            train_file,
            test_file,
            options=MLP,
            evaluate=ev_opts,
            max_events=n,
            **mlp_train,
        )
        res = ev.corrected or ev.raw
        point = {
            "n_train": n,
            "core_sigma_over_e": res.core_resolution,
            "rmse_rel": res.rmse_rel,
            "bins": _bins(ev),
            "warnings": [w.code for w in ev.warnings],
        }
        if ev.tracker is not None:
            point["with_tracker"] = [
                {k: getattr(b, k) for k in ("e_lo", "e_hi", "calo", "combined")}
                for b in ev.tracker.bins
            ]
        curve.append(point)
        last = ev
        study.log(f"learning curve: {n} events -> mean core sigma/E {res.core_resolution}")
        bound, t_fit = information_bound(train_file, test_file, n, n_test, args.seed)
        point["information_bound"] = [
            {"e_lo": b.e_lo, "e_hi": b.e_hi, "sigma_over_e": b.resolution, "err": b.resolution_err}
            for b in bound.bins
        ]
        study.log(f"information bound at {n} events: trained in {t_fit:.0f} s")
    study.number("learning_curve", curve)
    if known.cnn:
        _, ev_cnn, _ = train_and_evaluate(
            study,
            "cnn3d-highlevel",
            "cnn3d",
            train_file,
            test_file,
            options=CNN,
            evaluate=ev_opts,
            **CNN_TRAIN,
        )
        study.number("cnn3d", {"bins": _bins(ev_cnn)})

    assert last is not None
    top = _bins(last)[-1]
    study.compare(
        f"σ/E of the MLP at {top['e_lo']:.0f}–{top['e_hi']:.0f} GeV ({sizes[-1]} training events)",
        None if top["sigma_over_e"] is None else round(100 * top["sigma_over_e"], 1),
        "better than 20 % for ultra-TeV muons (3D CNN, ~850k training events)",
    )
    # checks that hold at any size: the measurement works in every bin, more training data
    # help; whether the resolution improves with the energy (the paper's observation, with a
    # 3D CNN and ~850k events) is what the full-size learning curve is for, and is reported
    for label, ev in (("sum", ev_sum), ("MLP", last)):
        sig = [b["sigma_over_e"] for b in _bins(ev)]
        study.check(
            f"{label} σ/E measured in every bin",
            float(sum(s is not None for s in sig)),
            lo=float(len(sig)),
            why="a Gaussian core is fitted in every energy bin",
        )
    sig = [b["sigma_over_e"] for b in _bins(last)]
    study.number("mlp sigma_over_e lowest/highest bin", [sig[0], sig[-1]])
    # the learning curve where the calorimeter measures: the highest-energy bin (at low
    # energies a model that regresses to the mean has a deceptively narrow core)
    b0, b1 = curve[0]["bins"][-1], curve[-1]["bins"][-1]
    if b0["sigma_over_e"] is not None and b1["sigma_over_e"] is not None:
        err = ((b0["err"] or 0.0) ** 2 + (b1["err"] or 0.0) ** 2) ** 0.5
        study.check(
            f"learning curve: {sizes[-1]} training events not worse than {sizes[0]} at the "
            "highest energies",
            (b0["sigma_over_e"] - b1["sigma_over_e"]) / err if err > 0 else 0.0,
            lo=-3.0,
            why="σ/E in the highest-energy bin, difference in standard errors",
        )
    # the calorimeter cannot know more than the losses it sees: the MLP on cells must not beat
    # the regression on the true losses by more than its errors (a check that the measurement
    # does not flatter), at the largest training size
    mb, bb = curve[-1]["bins"][-1], curve[-1]["information_bound"][-1]
    if mb["sigma_over_e"] is not None and bb["sigma_over_e"] is not None:
        err = ((mb["err"] or 0.0) ** 2 + (bb["err"] or 0.0) ** 2) ** 0.5
        study.check(
            "MLP on cells not better than the information bound (true losses) at the highest "
            "energies",
            (mb["sigma_over_e"] - bb["sigma_over_e"]) / err if err > 0 else 0.0,
            lo=-3.0,
            why="σ/E(MLP) − σ/E(bound) in standard errors, highest-energy bin",
        )
        study.compare(
            f"σ/E of the information bound at {bb['e_lo']:.0f}–{bb['e_hi']:.0f} GeV",
            round(100 * bb["sigma_over_e"], 1),
            "—",
            "regression on the true losses: no reconstruction from cells can do better",
        )
    study.number("mlp warnings", [w.code for w in last.warnings])
    return study.finish()


if __name__ == "__main__":
    run(main)
