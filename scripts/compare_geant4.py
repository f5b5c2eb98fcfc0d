"""Classifier AUC of the fast simulation against every Geant4 e−/γ reference point (V1–V5).

    # 1. simulate each reference beam with the calolab on PYTHONPATH; keep the per-event layer
    #    energies and the escaping energy in the reference files' own format (.npz:
    #    layers_visible, e_visible, e_escaped in MeV)
    python scripts/compare_geant4.py simulate --out fast/ [--seed 1]
    # 2. compare each point with `calolab compare`'s metrics and write the table
    python scripts/compare_geant4.py compare --fast fast/ [--label after] \
        [--fast old/ --label before] --json auc.json --markdown auc.md

Step 1 writes the same arrays as the Geant4 files (so any calolab version that can simulate
can produce them: that is how the "before" column was made, with the code of the parent
commit). Step 2 trains, for each point, the gradient-boosted classifier (3 trainings with
different splits: mean, Hanley–McNeil error, spread) and the CaloChallenge DNN (1 training)
on the *longitudinal* features (the layer energies over E_inc and E_tot/E_inc) and on the total
alone (E_tot/E_inc), in the sampling stacks the GBDT on both again with the fast showers' mean
response matched to the reference's (``calolab compare --match-response``: one factor,
reported; the GBDT part is ``calolab validate --classifier``'s), and the GBDT on each depth
window alone (``calolab compare --depth``: the
layers holding the reference's first 10 %, middle 80 % and last 10 % of the energy). The
reference files hold no per-event cells, so these are the features both samples share.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _references() -> list:
    from calolab.simulation.validation import find_references

    return [r for r in find_references() if r.particle in ("e-", "e+", "gamma")]


def cmd_simulate(args: argparse.Namespace) -> int:
    from calolab.physics.versions import MODEL_VERSIONS
    from calolab.simulation import ParticleGun
    from calolab.simulation.run import simulate

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for ref in _references():
        if args.only and ref.path.stem not in args.only.split(","):
            continue
        with np.load(ref.path) as d:
            n = len(d["e_visible"])
        layers, total, escaped = [], [], []
        for a in range(0, n, 100):
            s = simulate(
                ref.preset,
                ParticleGun(ref.particle, ref.energy_gev),
                min(100, n - a),
                seed=args.seed,
                first_event=a,
            )
            layers.append(s.layer_energies() * 1000.0)
            total.append(s.total() * 1000.0)
            escaped.append(np.asarray(s.truth["leaked"]) * 1000.0)
        meta = {
            "config": ref.config,
            "particle": ref.particle,
            "energy_GeV": ref.energy_gev,
            "events": n,
            "seed": args.seed,
            "simulator": "calolab fast",
            "model_versions": MODEL_VERSIONS,
        }
        np.savez_compressed(
            out / f"{ref.path.stem}.npz",
            meta=np.array(json.dumps(meta)),
            layers_visible=np.concatenate(layers),
            e_visible=np.concatenate(total),
            e_escaped=np.concatenate(escaped),
        )
        print(f"{ref.path.stem}: {n} events", flush=True)
    return 0


def _compare_one(ref, fast_file: Path, seed: int) -> dict:
    from calolab.evaluation.reference_classifier import classify_samples
    from calolab.evaluation.shower_compare import (
        DEPTH_BOUNDS,
        depth_window_features,
        depth_windows,
        feature_matrix,
        train_classifier,
    )
    from calolab.evaluation.shower_features import load_geant4_npz

    g4 = load_geant4_npz(ref.path, name="Geant4")
    fast = load_geant4_npz(fast_file, name="calolab")
    row: dict = {"sample": ref.label, "events": [len(g4), len(fast)]}
    # the GBDT (3 trainings) on the longitudinal features and the total alone, and in the
    # sampling stacks the same with the response matched (calolab validate --classifier)
    cls = classify_samples(g4, fast, label=ref.label, seed=seed)
    row["gbdt_longitudinal"] = cls.longitudinal.to_dict()
    row["gbdt_total"] = cls.total.to_dict()
    if cls.response_match is not None:
        assert cls.longitudinal_matched is not None and cls.total_matched is not None
        row["response_match"] = cls.response_match.to_dict()
        row["gbdt_longitudinal_matched"] = cls.longitudinal_matched.to_dict()
        row["gbdt_total_matched"] = cls.total_matched.to_dict()
    # the CaloChallenge DNN (1 training) on the same features
    for features in ("longitudinal", "total"):
        r = train_classifier(
            feature_matrix(g4, features, ())[0],
            feature_matrix(fast, features, ())[0],
            classifier="dnn",
            features=features,
            seed=seed,
        )
        row[f"dnn_{features}"] = r.to_dict()
    # where along the shower: the GBDT on each depth window alone (calolab compare --depth)
    row["gbdt_depth"] = []
    for w in depth_windows(g4, DEPTH_BOUNDS):
        r = train_classifier(
            depth_window_features(g4, w),
            depth_window_features(fast, w),
            classifier="gbdt",
            features=w.features,
            seed=seed,
            repeats=3,
        )
        row["gbdt_depth"].append({**w.to_dict(), "auc": r.auc, "auc_err": r.auc_err})
    row["visible_over_e"] = [
        float(np.mean(g4.total / g4.energy)),
        float(np.mean(fast.total / fast.energy)),
    ]
    return row


def cmd_compare(args: argparse.Namespace) -> int:
    labels = args.label or [f"run{i}" for i in range(len(args.fast))]
    if len(labels) != len(args.fast):
        print("give one --label per --fast directory", file=sys.stderr)
        return 2
    results: dict[str, list[dict]] = {}
    for label, d in zip(labels, args.fast):
        rows = []
        for ref in _references():
            f = Path(d) / f"{ref.path.stem}.npz"
            if not f.exists():
                print(f"{label}: no {f}, skipped", file=sys.stderr)
                continue
            rows.append(_compare_one(ref, f, args.seed))
            r = rows[-1]
            print(
                f"{label:>8} {ref.label:<26} long. gbdt {r['gbdt_longitudinal']['auc']:.3f} "
                f"dnn {r['dnn_longitudinal']['auc']:.3f} | total gbdt {r['gbdt_total']['auc']:.3f} "
                f"dnn {r['dnn_total']['auc']:.3f} | "
                + (
                    f"matched x{r['response_match']['factor']:.4f}: "
                    f"long. {r['gbdt_longitudinal_matched']['auc']:.3f} "
                    f"total {r['gbdt_total_matched']['auc']:.3f} | "
                    if "response_match" in r
                    else ""
                )
                + "depth "
                + " ".join(f"{w['auc']:.3f}" for w in r["gbdt_depth"]),
                flush=True,
            )
        results[label] = rows
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown(results))
    return 0


def _cell(r: dict) -> str:
    return f"{r['auc']:.3f} ± {r['auc_err']:.3f}"


def markdown(results: dict[str, list[dict]]) -> str:
    """One table: per sample, the AUCs of each labelled run (GBDT mean ± error; DNN)."""
    labels = list(results)
    head = ["sample"]
    for lab in labels:
        head += [
            f"{lab}: longitudinal (GBDT / DNN)",
            f"{lab}: total (GBDT / DNN)",
            f"{lab}: response matched: factor; longitudinal / total (GBDT)",
            f"{lab}: depth windows (GBDT; layers)",
        ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    samples = [r["sample"] for r in results[labels[0]]]
    for s in samples:
        row = [s]
        for lab in labels:
            r = next((x for x in results[lab] if x["sample"] == s), None)
            if r is None:
                row += ["—", "—", "—", "—"]
                continue
            for f in ("longitudinal", "total"):
                row.append(f"{_cell(r[f'gbdt_{f}'])} / {r[f'dnn_{f}']['auc']:.3f}")
            m = r.get("response_match")
            row.append(
                f"{m['factor']:.4f} ± {m['error']:.4f}; "
                f"{_cell(r['gbdt_longitudinal_matched'])} / {_cell(r['gbdt_total_matched'])}"
                if m
                else "—"
            )
            windows = r.get("gbdt_depth", [])
            row.append(
                " / ".join(f"{w['auc']:.3f}" for w in windows)
                + " ("
                + ", ".join(w["features"].split(" ")[-1] for w in windows)
                + ")"
                if windows
                else "—"
            )
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("simulate")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--only", help="comma-separated file stems, e.g. V1_e-_20GeV")
    s.set_defaults(func=cmd_simulate)
    c = sub.add_parser("compare")
    c.add_argument("--fast", action="append", required=True)
    c.add_argument("--label", action="append")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--json")
    c.add_argument("--markdown")
    c.set_defaults(func=cmd_compare)
    args = ap.parse_args()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
