"""``calolab demo``: the whole pipeline on a small default, ending in an HTML report.

It reproduces the workflow of the calorimeter design course (study E of the project):
electrons (and charged pions, when the fast simulation has them) of 1–100 GeV in two designs,
``course_pbwo4`` (PbWO4 crystal ECAL) and ``course_pbscint`` (Pb/scintillator sampling ECAL),
each followed by the same graded Fe/scintillator HCAL; four regressions of the energy (sum of
cells, α·sum + β, per-layer calibration, MLP); response and resolution in bins of energy with
the fit σ/E = a/√E ⊕ b/E ⊕ c; the two designs compared, including their cost.

Layout of the output directory::

    data/<design>/train.h5, data/<design>/test_<particle>.h5
    runs/<design>/<model>/{config.json, history.csv, summary.json, model.*}
    eval/<design>/<model>/<particle>/metrics.json
    demo.json        the configuration, timings and the resolution table
    report.html      the report (calolab report on the whole directory)
    plots/           every plot of the report as a PNG file

Re-running with the same configuration reuses the simulated files whose provenance matches,
so an interrupted demo resumes where it stopped (files are written atomically).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calolab.demo import regression
from calolab.errors import ConfigError, OutputError
from calolab.simulation.digitize import Digitizer

log = logging.getLogger(__name__)

#: A progress-bar factory: ``progress(description, total)`` is a context manager yielding
#: ``advance(n)`` (``calolab.cli.common.progress_bar`` is one).
ProgressFactory = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


@contextlib.contextmanager
def _no_progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    yield lambda n: None


#: The demo's readout, the same for both designs. Cells are calibrated to the EM scale
#: (divided by the EM sampling fraction of their layer), so that the sum of cells estimates
#: the energy of electrons in either design. Photo-statistics of 4.5 photoelectrons per MeV
#: of visible energy, as in the CMS PbWO4 crystals with APDs (CMS, JINST 3 (2008) S08004,
#: sec. 4.1); electronic noise of 7.5 MeV per cell (CMS: about 40 MeV per crystal, here
#: spread over the 30 longitudinal slices that replace one crystal: 40/√30 ≈ 7.3 MeV), and
#: zero suppression at 4σ (30 MeV).
DEMO_DIGITIZER = Digitizer(
    photoelectrons_per_gev=4500.0, noise_gev=0.0075, threshold_gev=0.03, calibration="em"
)


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs.

    Parameters
    ----------
    designs:
        Detector presets to compare.
    particles:
        Particle species; the regression of each design is trained on all of them together
        and evaluated on each separately.
    energy:
        Energy spectrum of the particle gun (GeV), as for ``calolab simulate --energy``.
    n_train, n_test:
        Events per particle species and design.
    models:
        Regressions to train (subset of ``sum``, ``linear``, ``per-layer``, ``mlp``).
    mlp:
        Hyper-parameters of the MLP.
    digitizer:
        Readout model applied to the simulated cells; the regressions use the digitised
        energies (``None``: the true visible energies).
    max_bins:
        Most energy bins of the evaluation.
    seed:
        Seed of the whole demo; each simulated sample uses its own seed derived from it.
    """

    designs: tuple[str, ...] = ("course_pbwo4", "course_pbscint")
    particles: tuple[str, ...] = ("e-",)
    energy: str = "1:100"
    n_train: int = 6000
    n_test: int = 3000
    models: tuple[str, ...] = regression.MODELS
    mlp: regression.MLPConfig = field(default_factory=regression.MLPConfig)
    digitizer: Digitizer | None = DEMO_DIGITIZER
    max_bins: int = 12
    seed: int = 1

    def __post_init__(self) -> None:
        from calolab.geometry.presets import resolve_detector
        from calolab.simulation import ParticleGun

        if not self.designs:
            raise ConfigError("demo designs is empty; give at least one detector")
        for d in self.designs:
            resolve_detector(d)
        if not self.particles:
            raise ConfigError("demo particles is empty; give at least one particle")
        for p in self.particles:
            ParticleGun(p, self.energy)
        for name in ("n_train", "n_test"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 50:
                raise ConfigError(f"demo {name} {v!r} must be an integer >= 50")
        unknown = [m for m in self.models if m not in regression.MODELS]
        if unknown or not self.models:
            raise ConfigError(
                f"demo models {list(self.models)} must be a non-empty subset of "
                f"{', '.join(regression.MODELS)}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"demo seed {self.seed!r} must be an integer >= 0")

    @classmethod
    def quick(cls) -> DemoConfig:
        """A smaller demo for tests (about a tenth of the events, shorter training)."""
        return cls(
            n_train=1200,
            n_test=1000,
            mlp=regression.MLPConfig(max_epochs=60, patience=12),
            max_bins=6,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mlp"]["hidden"] = list(self.mlp.hidden)
        d["digitizer"] = self.digitizer.to_dict() if self.digitizer else None
        return d


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its outputs and what it measured.

    ``table`` has one row per design, model and test particle: ``resolution_10``,
    ``resolution_50`` (σ/E at 10 and 50 GeV), ``sigma_rel``, ``mu_rel``, ``ratio_to_sum``
    and ``ratio_err`` (see :func:`calolab.report.resolution_ratio`). ``timings`` are seconds.
    """

    output: Path
    report: Path
    table: tuple[dict[str, Any], ...]
    timings: dict[str, float]
    costs: dict[str, float]


def _sample_seed(base: int, design: int, particle: int, split: int) -> int:
    """A distinct seed per sample, so that train and test events never coincide."""
    return base * 1000 + design * 100 + particle * 10 + split


def _simulate(
    path: Path,
    design: str,
    guns: list[Any],
    n: int,
    seed: int,
    digitizer: Digitizer | None,
    progress: ProgressFactory,
    label: str,
) -> None:
    """Simulate into ``path`` unless a file with the same provenance is already there."""
    from calolab.data.hdf5 import ShowerFile
    from calolab.errors import DataError
    from calolab.geometry.presets import resolve_detector
    from calolab.physics.sampling import DEFAULT_SAMPLING
    from calolab.simulation import simulate_to_file
    from calolab.simulation.run import provenance

    det = resolve_detector(design)
    want = provenance(
        det,
        guns,
        n_events=n,
        seed=seed,
        backend="fast",
        digitizer=digitizer,
        sampling=DEFAULT_SAMPLING,
    )["config_hash"]
    if path.exists():
        try:
            with ShowerFile(path) as f:
                if f.provenance.get("config_hash") == want and len(f) == n:
                    log.info("reusing %s", path)
                    with progress(f"{label} (reused)", n) as advance:
                        advance(n)
                    return
        except DataError:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    with progress(label, n) as advance:
        simulate_to_file(path, det, guns, n, seed=seed, digitizer=digitizer, progress=advance)


def _load(path: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """Layer energies (GeV, (N, L); digitised when the file has them), true energies (GeV,
    (N,)) and the hash of the file's configuration."""
    from calolab.data.hdf5 import ShowerFile

    with ShowerFile(path) as f:
        sh = f.read()
        data_hash = str(f.provenance.get("config_hash", ""))
    layers = sh.layer_energies(digitized=sh.digitized is not None)
    return layers, sh.energy.astype(np.float64), data_hash


def run_demo(
    output: str | Path = "calolab-demo",
    config: DemoConfig | None = None,
    *,
    progress: ProgressFactory | None = None,
) -> DemoResult:
    """Run the demo and write its outputs and ``report.html`` into ``output``.

    Parameters
    ----------
    output:
        Output directory (created if missing).
    config:
        :class:`DemoConfig` (default: the full demo).
    progress:
        Progress-bar factory (default: none).
    """
    from calolab.geometry.presets import resolve_detector
    from calolab.report import ReportOptions, build_report, resolution_at, resolution_ratio
    from calolab.simulation import ParticleGun

    cfg = config or DemoConfig()
    prog = progress or _no_progress
    out = Path(output)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the demo directory '{out}': {exc}") from None
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    # 1. simulate
    t0 = time.perf_counter()
    guns = [ParticleGun(p, cfg.energy) for p in cfg.particles]
    for di, design in enumerate(cfg.designs):
        ddir = out / "data" / design
        _simulate(
            ddir / "train.h5",
            design,
            guns,
            cfg.n_train * len(guns),
            _sample_seed(cfg.seed, di, 0, 0),
            cfg.digitizer,
            prog,
            f"simulate {' + '.join(cfg.particles)} → {design} (training)",
        )
        for pi, (p, g) in enumerate(zip(cfg.particles, guns)):
            _simulate(
                ddir / f"test_{p}.h5",
                design,
                [g],
                cfg.n_test,
                _sample_seed(cfg.seed, di, pi + 1, 1),
                cfg.digitizer,
                prog,
                f"simulate {p} → {design} (test)",
            )
    timings["simulate"] = time.perf_counter() - t0

    # 2. train
    t0 = time.perf_counter()
    for di, design in enumerate(cfg.designs):
        train_path = out / "data" / design / "train.h5"
        layers, energy, data_hash = _load(train_path)
        for model in cfg.models:
            steps = cfg.mlp.max_epochs if model == "mlp" else 1
            mlp = regression.MLPConfig(**{**asdict(cfg.mlp), "seed": cfg.seed + di})
            with prog(f"train {regression_title(model)} on {design}", steps) as advance:
                regression.train(
                    model,
                    layers,
                    energy,
                    out / "runs" / design / model,
                    detector=design,
                    data=str(train_path.relative_to(out)),
                    data_hash=data_hash,
                    mlp=mlp,
                    progress=advance,
                )
    timings["train"] = time.perf_counter() - t0

    # 3. evaluate
    t0 = time.perf_counter()
    metrics: dict[tuple[str, str, str], dict[str, Any]] = {}
    n_evals = len(cfg.designs) * len(cfg.models) * len(cfg.particles)
    with prog("evaluate response and resolution", n_evals) as advance:
        for design in cfg.designs:
            for p in cfg.particles:
                test_path = out / "data" / design / f"test_{p}.h5"
                layers, energy, _ = _load(test_path)
                for model in cfg.models:
                    pred = regression.predict(out / "runs" / design / model, layers)
                    m = regression.evaluate(
                        pred,
                        energy,
                        model=model,
                        dataset=str(Path("data") / design / f"test_{p}.h5"),
                        detector=design,
                        particles=p,
                        max_bins=cfg.max_bins,
                    )
                    edir = out / "eval" / design / model / p
                    edir.mkdir(parents=True, exist_ok=True)
                    (edir / "metrics.json").write_text(json.dumps(m, indent=2))
                    metrics[(design, model, p)] = m
                    advance(1)
    timings["evaluate"] = time.perf_counter() - t0

    # 4. compare
    costs = {d: resolve_detector(d).cost_chf for d in cfg.designs}
    table = []
    for (design, model, p), m in metrics.items():
        ref = metrics.get((design, "sum", p))
        ratio = resolution_ratio(m, ref) if ref is not None and model != "sum" else None
        table.append(
            {
                "design": design,
                "model": model,
                "particle": p,
                "resolution_10": resolution_at(m, 10.0),
                "resolution_50": resolution_at(m, 50.0),
                "sigma_rel": m["sigma_rel"],
                "mu_rel": m["mu_rel"],
                "fit": m.get("fit"),
                "ratio_to_sum": ratio.ratio if ratio else None,
                "ratio_err": ratio.error if ratio else None,
                "ratio_bins": ratio.n_bins if ratio else None,
                "cost_chf": costs[design],
            }
        )

    # 5. report
    t0 = time.perf_counter()
    timings["total_before_report"] = time.perf_counter() - t_all
    summary = {
        "config": cfg.to_dict(),
        "timings_s": timings,
        "costs_chf": costs,
        "table": table,
    }
    (out / "demo.json").write_text(json.dumps(summary, indent=2))
    report = out / "report.html"
    with prog("write report.html", 1) as advance:
        build_report(
            [out],
            report,
            ReportOptions(
                title="calolab demo: two calorimeter designs, electrons"
                + (" and pions" if any(p.startswith("pi") for p in cfg.particles) else "")
                + " 1–100 GeV",
                plots_dir=out / "plots",
                event_files=("test_*.h5",),
                preface_html=_preface(cfg, table, costs, timings),
            ),
        )
        advance(1)
    timings["report"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    summary["timings_s"] = timings
    (out / "demo.json").write_text(json.dumps(summary, indent=2))
    return DemoResult(out, report, tuple(table), timings, costs)


def regression_title(model: str) -> str:
    from calolab.report.compare import model_title

    return model_title(model)


def _preface(
    cfg: DemoConfig, table: list[dict[str, Any]], costs: dict[str, float], timings: dict[str, float]
) -> str:
    """The demo's introduction and verdict, as HTML for the report's summary."""
    import html

    parts = [
        '<p class="lead">The workflow of a calorimeter design course, end to end: '
        f"{' and '.join(html.escape(p) for p in cfg.particles)} of "
        f"{html.escape(cfg.energy.replace(':', '–'))} GeV "
        f"({cfg.n_train:,} training and {cfg.n_test:,} test events per particle and design) "
        f"simulated in {', '.join(html.escape(d) for d in cfg.designs)}; four energy "
        "regressions trained on each; response and resolution evaluated in bins of energy. "
        f"Simulation, training and evaluation took {timings['total_before_report']:.0f} s.</p>"
    ]
    verdicts = []
    for row in table:
        if row["model"] != "mlp" or row["ratio_to_sum"] is None:
            continue
        better = row["ratio_to_sum"] + 3 * row["ratio_err"] < 1.0
        verdicts.append(
            f"<li><b>{html.escape(row['design'])}</b>, {html.escape(row['particle'])}: "
            f"MLP resolution = {row['ratio_to_sum']:.3f} ± {row['ratio_err']:.3f} × that of the "
            f"sum of cells over {row['ratio_bins']} energy bins "
            + (
                '<span class="badge good">MLP better</span>'
                if better
                else '<span class="badge warn">not significantly better</span>'
            )
            + "</li>"
        )
    if verdicts:
        parts.append(f'<div class="callout good"><ul class="notes">{"".join(verdicts)}</ul></div>')
    best: dict[str, dict[str, Any]] = {}
    for row in table:
        r = row["resolution_10"]
        if r is not None and (
            row["design"] not in best or r < best[row["design"]]["resolution_10"]
        ):
            best[row["design"]] = row
    if len(best) >= 2:
        items = "".join(
            f"<li><b>{html.escape(d)}</b>: {costs[d]:,.0f} CHF, best σ/E at 10 GeV "
            f"{100 * row['resolution_10']:.2f}% ({html.escape(regression_title(row['model']))}, "
            f"{html.escape(row['particle'])})</li>"
            for d, row in best.items()
        )
        parts.append(f'<div class="callout"><b>Designs</b><ul class="notes">{items}</ul></div>')
    return "".join(parts)
