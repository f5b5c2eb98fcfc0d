"""The muon study's 3D CNN on the first N training events of a full-size run's files.

    python examples/muon-tev/run.py --output RUN          # the full-size files first
    python benchmarks/muon_cnn_subset.py RUN --sizes 16000 --output OUT

Trains ``examples/muon-tev``'s CNN (same options and training settings) on the first N
events of ``RUN/train.h5`` for every N of ``--sizes``, evaluates it on ``RUN/test.h5`` and
writes ``OUT/cnn.json`` (σ/E per energy bin, RMSE_rel, evaluate's warnings, seconds) after
each size. docs/tutorials.md quotes its 16,000-event run (CPU, one thread).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "examples" / "muon-tev"))

import run as muon  # noqa: E402
from study import Study, options, train_and_evaluate  # noqa: E402

from calolab.evaluation import EnergyBinning  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path, help="output directory of a full-size muon-tev run")
    ap.add_argument("--sizes", default="16000", help="training sizes, comma-separated [16000]")
    ap.add_argument("--output", type=Path, default=Path("build/muon-cnn"))
    ap.add_argument("--threads", type=int, default=1)
    known = ap.parse_args()
    sys.argv = [sys.argv[0], "--output", str(known.output), "--threads", str(known.threads)]
    study = Study("muon-cnn", options("muon CNN on a subset", "muon-cnn"))
    ev_opts = {"tracker": True, "binning": EnergyBinning("log", 6)}
    out: dict[int, dict[str, object]] = {}
    for n in (int(x) for x in known.sizes.split(",")):
        t0 = time.time()
        _, ev, _ = train_and_evaluate(
            study,
            f"cnn3d-{n}",
            "cnn3d",
            known.run / "train.h5",
            known.run / "test.h5",
            options=muon.CNN,
            evaluate=ev_opts,
            max_events=n,
            **muon.CNN_TRAIN,
        )
        res = ev.corrected or ev.raw
        out[n] = {
            "bins": muon._bins(ev),
            "rmse_rel": res.rmse_rel,
            "core": res.core_resolution,
            "warnings": [w.code for w in ev.warnings],
            "seconds": time.time() - t0,
        }
        (known.output / "cnn.json").write_text(json.dumps(out, indent=1))
        print(n, json.dumps(out[n]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
