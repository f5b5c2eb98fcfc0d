"""Shared plumbing of the study examples: command-line options, the results file, checks.

Every example's ``run.py`` takes ``--quick`` (a few minutes on 2 cores; what CI runs) and
``--output DIR``, and writes ``DIR/results.json``::

    {"study": ..., "quick": true, "seconds": ..., "calolab_version": ..., "machine": ...,
     "numbers": {...},                      # everything measured, by name
     "comparisons": [{"quantity", "calolab", "study", "note"}],   # next to the study's
     "checks": [{"name", "value", "lo", "hi", "why", "passed"}],  # what it must reach
     "passed": true}

A check's bounds come from the sample size (standard errors) or from physics that must hold
at any size; a comparison with the study's own number is information, not a check — the
studies used other detectors, samples and full simulation. ``run.py`` exits with status 1
when a check fails; ``examples/check.py`` checks the results files of several examples.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from calolab.core.files import check_output_dir, write_json
from calolab.core.provenance import package_version

#: Warnings of ``calolab evaluate`` that mean the model itself is broken (its response or its
#: energy scale); the others (few events per bin, a poor a/√E ⊕ b/E ⊕ c fit of a mixture of
#: species, a bias correction too uncertain to apply) are about the measurement's statistics.
BROKEN_MODEL_WARNINGS = frozenset({"response", "energy-scale", "non-physical", "bias-slope"})


def broken_model_warnings(result: Any) -> list[str]:
    """The codes of ``result``'s warnings that flag a broken model."""
    return [w.code for w in result.warnings if w.code in BROKEN_MODEL_WARNINGS]


def options(description: str, name: str) -> argparse.Namespace:
    """The options every example takes."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="a small version that runs in a few minutes on 2 cores (what CI runs)",
    )
    ap.add_argument(
        "--output", default=f"build/examples/{name}", help="output directory [%(default)s]"
    )
    ap.add_argument("--device", default="cpu", help="torch device for training: cpu or cuda")
    ap.add_argument("--seed", type=int, default=1, help="seed of every random draw [1]")
    ap.add_argument("--threads", type=int, default=None, help="torch threads [all cores]")
    args = ap.parse_args()
    check_output_dir(args.output, what="--output")
    Path(args.output).mkdir(parents=True, exist_ok=True)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    return args


@dataclass(frozen=True)
class Check:
    """One number the example must reach: ``lo <= value <= hi`` (either bound may be None)."""

    name: str
    value: float
    lo: float | None
    hi: float | None
    why: str

    @property
    def passed(self) -> bool:
        if not math.isfinite(self.value):
            return False
        return (self.lo is None or self.value >= self.lo) and (
            self.hi is None or self.value <= self.hi
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


class Study:
    """Collects an example's numbers, comparisons and checks; :meth:`finish` writes them."""

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        self.name = name
        self.args = args
        self.out = Path(args.output)
        self.numbers: dict[str, Any] = {}
        self.comparisons: list[dict[str, Any]] = []
        self.checks: list[Check] = []
        self._t0 = time.perf_counter()

    def log(self, msg: str) -> None:
        print(f"[{self.name} {time.perf_counter() - self._t0:6.1f} s] {msg}", flush=True)

    def number(self, key: str, value: Any) -> Any:
        self.numbers[key] = value
        return value

    def compare(self, quantity: str, calolab: Any, study: Any, note: str = "") -> None:
        self.comparisons.append(
            {"quantity": quantity, "calolab": calolab, "study": study, "note": note}
        )

    def check(
        self,
        name: str,
        value: float,
        *,
        lo: float | None = None,
        hi: float | None = None,
        why: str,
    ) -> Check:
        c = Check(name, float(value), lo, hi, why)
        self.checks.append(c)
        return c

    def finish(self) -> int:
        passed = all(c.passed for c in self.checks)
        result = {
            "study": self.name,
            "quick": bool(self.args.quick),
            "seed": self.args.seed,
            "seconds": round(time.perf_counter() - self._t0, 1),
            "calolab_version": package_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}",
            "numbers": self.numbers,
            "comparisons": self.comparisons,
            "checks": [c.to_dict() for c in self.checks],
            "passed": passed,
        }
        path = write_json(self.out / "results.json", result)
        print(f"\n{self.name}: {len(self.checks)} checks, results in {path}")
        for c in self.checks:
            bounds = f"[{_fmt(c.lo)}, {_fmt(c.hi)}]"
            mark = "ok  " if c.passed else "FAIL"
            print(f"  {mark} {c.name} = {_fmt(c.value)} in {bounds}: {c.why}")
        if self.comparisons:
            print("  next to the study:")
            for cmp in self.comparisons:
                print(f"    {cmp['quantity']}: calolab {cmp['calolab']} | study {cmp['study']}")
        return 0 if passed else 1


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def run(main: Any) -> None:
    """Run ``main()`` and exit with its status (calolab's errors as one line, status 2)."""
    from calolab.core.errors import CalolabError

    try:
        sys.exit(main())
    except CalolabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


def train_and_evaluate(
    study: Study,
    label: str,
    model: str,
    train_file: Path,
    test_file: Path,
    *,
    options: dict[str, Any] | None = None,
    source: Any = None,
    test_source: Any = None,
    evaluate: dict[str, Any] | None = None,
    data_options: dict[str, Any] | None = None,
    max_events: int | None = None,
    data_kw: dict[str, Any] | None = None,
    **train_kw: Any,
) -> tuple[Any, Any, dict[str, Any] | None]:
    """Train ``model`` on ``train_file`` (calolab's defaults unless ``train_kw`` says
    otherwise) and evaluate it on ``test_file``; returns (train result, evaluation result,
    per-event predictions). ``data_options``: of the dataset (e.g. ``{"digitized": True}``);
    ``max_events``: train on the first events of the file only; ``data_kw``: further fields
    of :class:`~calolab.training.DataConfig` (``kind``, ``target``, ``classes``).
    Runs go to ``study.out/runs/label``."""
    from calolab.evaluation import evaluate_run
    from calolab.models import ModelConfig
    from calolab.report.compare import read_predictions
    from calolab.training import DataConfig, TrainConfig, load_run, train

    run_dir = study.out / "runs" / label
    eval_dir = study.out / "runs" / f"{label}-eval"
    for d in (run_dir, eval_dir):
        if d.exists():
            import shutil

            shutil.rmtree(d)
    cfg = TrainConfig(
        model=ModelConfig(model, options or {}),
        data=DataConfig(
            str(train_file), options=data_options or {}, max_events=max_events, **(data_kw or {})
        ),
        device=study.args.device,
        seed=study.args.seed,
        **train_kw,
    )
    t0 = time.perf_counter()
    trained = train(cfg, run_dir, source=source)
    t_train = time.perf_counter() - t0
    ev = evaluate_run(
        load_run(run_dir), str(test_file), eval_dir, source=test_source, **(evaluate or {})
    )
    study.log(f"{label}: trained in {t_train:.0f} s, evaluated on {ev.n_events} events")
    return trained, ev, read_predictions(eval_dir)
