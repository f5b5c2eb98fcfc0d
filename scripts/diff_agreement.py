"""Agreement table of the torch backend with the reference simulator (docs/differentiable.md).

    python scripts/diff_agreement.py [--out benchmarks/results/diff_agreement.json]

The cases and estimators of tests/differentiable/test_simulator.py, printed as a Markdown
table: mean visible energy, σ/E (standard deviation; for pions also the core, half the
16-84 % interval), and the largest per-layer deviation over layers holding >= 1 % of the
energy, with its statistical error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "differentiable"))

from test_simulator import (  # noqa: E402
    AGREEMENT,
    _compare,
    _reference,
    _torch,
    fe_scint,
)

from calolab.core.files import write_text  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/diff_agreement.json")
    args = ap.parse_args()
    rows = []
    for make, particle, energy, n in [*AGREEMENT, (fe_scint, "pi+", 20.0, 2000)]:
        det = make()
        ref, new = _reference(det, particle, energy, n), _torch(det, particle, energy, n)
        c = _compare(ref, new)
        v1, v2 = ref.sum(1), new.sum(1)
        rows.append(
            {
                "design": det.name,
                "particle": particle,
                "energy_gev": energy,
                "events": n,
                "numba_mean": float(v1.mean()),
                "torch_mean": float(v2.mean()),
                "numba_sigma_over_e": float(v1.std() / v1.mean()),
                "torch_sigma_over_e": float(v2.std() / v2.mean()),
                **c,
            }
        )
        r = rows[-1]
        print(
            f"| {r['design']} | {particle} {energy:g} GeV | {n} | {r['numba_mean']:.4f} | "
            f"{r['torch_mean']:.4f} | {100 * r['mean']:+.2f} % | {r['numba_sigma_over_e']:.4f} | "
            f"{r['torch_sigma_over_e']:.4f} | {100 * r['sigma']:+.1f} % "
            f"(core {100 * r['core_sigma']:+.1f} %) | {100 * r['profile']:.1f} % "
            f"(± {100 * r['profile_err']:.1f} %) |",
            flush=True,
        )
    write_text(args.out, json.dumps(rows, indent=2) + "\n", what="agreement table")


if __name__ == "__main__":
    main()
