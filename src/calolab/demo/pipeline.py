"""``calolab demo``: the whole pipeline on a small default, ending in an HTML report.

It reproduces the workflow of the calorimeter design course (study E of the project):
electrons and charged pions of 1–100 GeV in two designs, ``course_pbwo4`` (PbWO4 crystal
ECAL) and ``course_pbscint`` (Pb/scintillator sampling ECAL), each followed by the same
graded Fe/scintillator HCAL; four regressions of the energy (sum of cells, α·sum + β,
per-layer calibration, MLP) trained with :mod:`calolab.training` on both species together,
as a calorimeter that does not know the particle; response and resolution in bins of energy
with the fit σ/E = a/√E ⊕ b/E ⊕ c by :mod:`calolab.evaluation`, per species; an e/π
classifier; the two designs compared, including their cost.

Layout of the output directory::

    data/<design>/train.h5, test_<particle>.h5, mixed_test.h5 (all test particles)
    runs/<design>/<model>/        calolab train run directories (config, history, summary)
    eval/<design>/<model>/<particle>/metrics.json   calolab evaluate outputs
    demo.json        the configuration, timings and the resolution table
    report.html      the report (calolab report on the whole directory)
    plots/           every plot of the report as a PNG file

Re-running with the same configuration reuses the simulated files and trained runs whose
configuration matches, so an interrupted demo resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calolab.core import files
from calolab.core.config import check_int
from calolab.core.errors import ConfigError, OutputError
from calolab.core.files import check_output_dir
from calolab.simulation.digitize import Digitizer

if TYPE_CHECKING:
    from calolab.simulation.request import SimulationRequest

log = logging.getLogger(__name__)

#: A progress-bar factory: ``progress(description, total)`` is a context manager yielding
#: ``advance(n)`` (``calolab.cli.common.progress_bar`` is one).
ProgressFactory = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]

#: The regressions of the demo, in the order of the course.
MODELS = ("sum", "linear", "per-layer", "mlp")

#: The demo's digitisation: each design's own readout (part of its detector description: the
#: course presets read their scintillator with SiPMs, as the CALICE AHCAL, and the PbWO4
#: crystals with APDs, as the CMS ECAL — see :mod:`calolab.geometry.readout`), with cells
#: calibrated to the EM scale (divided by the EM sampling fraction of their layer), so that
#: the sum of cells estimates the energy of electrons in either design.
DEMO_DIGITIZER = Digitizer(calibration="em")


@contextlib.contextmanager
def _no_progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    yield lambda n: None


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs.

    Parameters
    ----------
    designs:
        Detector presets to compare.
    particles:
        Particle species; the regressions of each design are trained on all of them together
        and evaluated on each separately.
    energy:
        Energy spectrum of the particle gun (GeV), as for ``calolab simulate --energy``.
    n_train, n_test:
        Events per particle species and design.
    models:
        Regressions to train (subset of :data:`MODELS`).
    mlp_hidden, mlp_epochs, mlp_patience:
        The MLP (the design course's regressor: GELU, dropout 0.2, Softplus output, AdamW,
        relative loss): hidden widths, most epochs and early-stopping patience.
    classifier:
        Also train and evaluate an e/π classifier (an MLP on the layer energies) when there
        are at least two particle species.
    digitizer:
        Readout model applied to the simulated cells; training and evaluation use the
        digitised energies (``None``: the true visible energies).
    n_bins:
        Energy bins of the evaluation.
    seed:
        Seed of the whole demo: simulated samples and trainings derive their seeds from it.
    """

    designs: tuple[str, ...] = ("course_pbwo4", "course_pbscint")
    particles: tuple[str, ...] = ("e-", "pi+")
    energy: str = "1:100"
    n_train: int = 5000
    n_test: int = 2500
    models: tuple[str, ...] = MODELS
    mlp_hidden: tuple[int, ...] = (256, 128, 64)
    mlp_epochs: int = 150
    mlp_patience: int = 20
    classifier: bool = True
    digitizer: Digitizer | None = DEMO_DIGITIZER
    n_bins: int = 10
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
        for name, minimum in (
            ("n_train", 50),
            ("n_test", 50),
            ("mlp_epochs", 1),
            ("mlp_patience", 1),
            ("n_bins", 2),
            ("seed", 0),
        ):
            v = check_int(name, getattr(self, name), minimum=minimum, where="demo")
            object.__setattr__(self, name, v)
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models:
            raise ConfigError(
                f"demo models {list(self.models)} must be a non-empty subset of "
                f"{', '.join(MODELS)}"
            )

    @classmethod
    def quick(cls) -> DemoConfig:
        """A smaller demo for tests: a fifth of the events, a smaller and shorter MLP."""
        return cls(
            n_train=1500,
            n_test=1000,
            mlp_hidden=(128, 64),
            mlp_epochs=60,
            mlp_patience=10,
            n_bins=6,
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["digitizer"] = self.digitizer.to_dict() if self.digitizer else None
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its outputs and what it measured.

    ``table`` has one row per design, model and test particle: ``resolution_10``,
    ``resolution_50`` (σ/E at 10 and 50 GeV), ``sigma_rel``, ``mu_rel`` (after the bias
    correction), ``ratio_to_sum`` and ``ratio_err`` (see
    :func:`calolab.report.resolution_ratio`). ``timings`` are seconds.
    """

    output: Path
    report: Path
    table: tuple[dict[str, Any], ...]
    timings: dict[str, float]
    costs: dict[str, float]
    classification: dict[str, dict[str, Any]] = field(default_factory=dict)


def _sample_seed(base: int, design: int, particle: int, split: int) -> int:
    """A distinct seed per sample, so that train and test events never coincide."""
    return base * 1000 + design * 100 + particle * 10 + split


def _simulate(
    path: Path,
    design: str,
    request: SimulationRequest,
    progress: ProgressFactory,
    label: str,
) -> None:
    """Simulate ``request`` into ``path`` unless a file with the same provenance is there."""
    from calolab.core.errors import DataError
    from calolab.data.hdf5 import ShowerFile
    from calolab.geometry.presets import resolve_detector

    det = resolve_detector(design)
    want = request.provenance(det)["config_hash"]
    n = request.n_events
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
        request.run(path, det, progress=advance)


def _mix(paths: list[Path], out: Path) -> None:
    """All test events of a design in one file (for the classifier; cells and truth), streamed
    batch by batch so that memory stays that of one batch; skipped when already up to date."""
    from calolab.data.hdf5 import ShowerFile, ShowerWriter

    if out.exists() and out.stat().st_mtime >= max(p.stat().st_mtime for p in paths):
        return
    with ShowerFile(paths[0]) as first:
        det, prov = first.detector, dict(first.provenance)
    prov["mixed_from"] = [p.name for p in paths]
    with ShowerWriter(out, det, prov, inputs=paths) as writer:
        for p in paths:
            with ShowerFile(p) as f:
                for batch in f.iter_batches(512):
                    # species-specific extras and records (e.g. the π0 decays of hadronic
                    # showers) differ between the files: keep cells and truth only
                    writer.append(dataclasses.replace(batch, extras={}, records={}))


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads, restoring the previous number afterwards: the
    demo's networks are small, and on a busy 2-core machine more threads only add overhead."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train_config(cfg: DemoConfig, model: str, train_path: Path, seed: int) -> Any:
    """The :class:`~calolab.training.TrainConfig` of one of the demo's models."""
    from calolab.models import ModelConfig
    from calolab.training import DataConfig, TrainConfig

    data_opts = {"digitized": cfg.digitizer is not None}
    common: dict[str, Any] = {"device": "cpu", "amp": False, "seed": seed}
    if model == "classifier":
        return TrainConfig(
            model=ModelConfig("mlp", {"hidden": (64, 32), "dropout": 0.1}),
            data=DataConfig(
                str(train_path), target="particle", classes=cfg.particles, options=data_opts
            ),
            task="classification",
            loss="cross-entropy",
            epochs=min(cfg.mlp_epochs, 40),
            patience=min(cfg.mlp_patience, 8),
            **common,
        )
    data = DataConfig(str(train_path), options=data_opts)
    if model == "mlp":
        return TrainConfig(
            model=ModelConfig(
                "mlp",
                {
                    "features": "layers+highlevel",
                    "hidden": cfg.mlp_hidden,
                    "dropout": 0.2,
                },
            ),
            data=data,
            loss="rel",
            optimizer="adamw",
            lr=1e-3,
            weight_decay=1e-5,
            schedule="none",
            epochs=cfg.mlp_epochs,
            patience=cfg.mlp_patience,
            **common,
        )
    if model == "per-layer":
        return TrainConfig(
            model=ModelConfig("per-layer"),
            data=data,
            loss="mse",
            epochs=min(cfg.mlp_epochs, 60),
            patience=min(cfg.mlp_patience, 10),
            **common,
        )
    return TrainConfig(model=ModelConfig(model), data=data, loss="mse", epochs=1, **common)


def _epoch_hooks(advance: Callable[[int], None]) -> Any:
    """Training hooks that advance a progress bar by one step per finished epoch."""
    from calolab.training import TrainHooks

    class EpochHooks(TrainHooks):
        done = 0

        def on_member_start(self, member: int, n_members: int, epochs: int, start: int) -> None:
            if start:  # resumed: the epochs already run count as done
                advance(start)
                self.done += start

        def on_epoch_end(self, member: int, row: Mapping[str, Any]) -> None:
            advance(1)
            self.done += 1

    return EpochHooks()


def _train(config: Any, run_dir: Path, progress: ProgressFactory, label: str) -> None:
    """Train one run, resuming a run of the same configuration; a run of another
    configuration left in the demo's directory (e.g. by ``--quick``) is replaced."""
    from calolab.training import train
    from calolab.training.checkpoint import read_json

    resume = False
    if (run_dir / "config.json").exists():
        try:
            stored = read_json(run_dir / "config.json").get("config")
        except Exception:  # a damaged run of the demo's own: train again
            stored = None
        if stored == json.loads(json.dumps(config.to_dict())):
            resume = True
        else:
            shutil.rmtree(run_dir)
    with progress(label, config.epochs) as advance:
        h = _epoch_hooks(advance)
        with _threads(1):
            train(config, run_dir, resume=resume, hooks=h)
        advance(config.epochs - h.done)


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
    from calolab.evaluation import EvaluationResult, evaluate_run
    from calolab.geometry.presets import resolve_detector
    from calolab.report import ReportOptions, build_report, resolution_at, resolution_ratio
    from calolab.report.compare import paired_comparison, read_predictions
    from calolab.simulation import ParticleGun
    from calolab.simulation.request import SimulationRequest
    from calolab.training import load_run

    cfg = config or DemoConfig()
    prog = progress or _no_progress
    out = check_output_dir(output, what="demo output directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the demo directory '{out}': {exc}") from None
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    classify = cfg.classifier and len(cfg.particles) >= 2

    # 1. simulate
    t0 = time.perf_counter()
    guns = tuple(ParticleGun(p, cfg.energy) for p in cfg.particles)
    for di, design in enumerate(cfg.designs):
        ddir = out / "data" / design
        _simulate(
            ddir / "train.h5",
            design,
            SimulationRequest(
                guns,
                cfg.n_train * len(guns),
                seed=_sample_seed(cfg.seed, di, 0, 0),
                digitizer=cfg.digitizer,
            ),
            prog,
            f"simulate {' + '.join(cfg.particles)} → {design} (training)",
        )
        for pi, (p, g) in enumerate(zip(cfg.particles, guns)):
            _simulate(
                ddir / f"test_{p}.h5",
                design,
                SimulationRequest(
                    (g,),
                    cfg.n_test,
                    seed=_sample_seed(cfg.seed, di, pi + 1, 1),
                    digitizer=cfg.digitizer,
                ),
                prog,
                f"simulate {p} → {design} (test)",
            )
        if classify:
            _mix([ddir / f"test_{p}.h5" for p in cfg.particles], ddir / "mixed_test.h5")
    timings["simulate"] = time.perf_counter() - t0

    # 2. train
    t0 = time.perf_counter()
    trainings = [m for m in cfg.models] + (["classifier"] if classify else [])
    for di, design in enumerate(cfg.designs):
        train_path = out / "data" / design / "train.h5"
        for model in trainings:
            tc = _train_config(cfg, model, train_path, cfg.seed * 100 + di)
            _train(tc, out / "runs" / design / model, prog, f"train {_title(model)} on {design}")
    timings["train"] = time.perf_counter() - t0

    # 3. evaluate
    t0 = time.perf_counter()
    metrics: dict[tuple[str, str, str], EvaluationResult] = {}
    classified: dict[str, EvaluationResult] = {}
    n_evals = len(cfg.designs) * (len(cfg.models) * len(cfg.particles) + int(classify))
    with prog("evaluate response, resolution and e/π separation", n_evals) as advance:
        for design in cfg.designs:
            ddir = out / "data" / design
            for model in cfg.models:
                for p in cfg.particles:
                    metrics[(design, model, p)] = evaluate_run(
                        load_run(out / "runs" / design / model),
                        ddir / f"test_{p}.h5",
                        out / "eval" / design / model / p,
                        n_bins=cfg.n_bins,
                        plots=False,
                    )
                    advance(1)
            if classify:
                classified[design] = evaluate_run(
                    load_run(out / "runs" / design / "classifier"),
                    ddir / "mixed_test.h5",
                    out / "eval" / design / "classifier",
                    plots=False,
                )
                advance(1)
    timings["evaluate"] = time.perf_counter() - t0

    # 4. compare
    costs = {d: resolve_detector(d).cost_chf for d in cfg.designs}
    table = []
    for (design, model, p), m in metrics.items():
        ref = metrics.get((design, "sum", p))
        ratio = resolution_ratio(m, ref) if ref is not None and model != "sum" else None
        paired = None
        if model != "sum" and (design, "sum", p) in metrics:
            a = read_predictions(out / "eval" / design / model / p)
            b = read_predictions(out / "eval" / design / "sum" / p)
            paired = paired_comparison(a, b) if a is not None and b is not None else None
        best = m.best
        at10, at50 = resolution_at(m, 10.0), resolution_at(m, 50.0)
        assert m.raw is not None and best is not None
        table.append(
            {
                "design": design,
                "model": model,
                "particle": p,
                "rmse_rel": m.raw.rmse_rel,
                "mu_rel": best.mu_rel,
                "sigma_rel": best.sigma_rel,
                "core_resolution": m.core_resolution,
                "resolution_10": at10[0] if at10 else None,
                "resolution_50": at50[0] if at50 else None,
                "fit": best.fit.to_dict() if best.fit else None,
                "warnings": [str(w) for w in m.warnings],
                "rmse_ratio_to_sum": paired.ratio if paired else None,
                "msre_diff_to_sum": paired.diff if paired else None,
                "msre_diff_err": paired.error if paired else None,
                "resolution_ratio_to_sum": ratio.ratio if ratio else None,
                "resolution_ratio_err": ratio.error if ratio else None,
                "cost_chf": costs[design],
            }
        )
    classification: dict[str, dict[str, Any]] = {}
    for design, res in classified.items():
        c = res.classification
        assert c is not None
        classification[design] = {
            "accuracy": c.accuracy,
            "auc": {p.name: p.auc for p in c.pairs},
            "rejection": {
                p.name: {f"{w.efficiency:g}": w.rejection_text() for w in p.working_points}
                for p in c.pairs
            },
        }
    timings["total_before_report"] = time.perf_counter() - t_all
    summary = {
        "config": cfg.to_dict(),
        "timings_s": timings,
        "costs_chf": costs,
        "table": table,
        "classification": classification,
    }

    # 5. report
    t0 = time.perf_counter()
    report = out / "report.html"
    title = (
        "calolab demo: two calorimeter designs, "
        + " and ".join(_PARTICLE_WORDS.get(p, p) for p in cfg.particles)
        + f" of {cfg.energy.replace(':', '–')} GeV"
    )
    with prog("write report.html", 1) as advance:
        build_report(
            [out],
            report,
            ReportOptions(
                title=title,
                plots_dir=out / "plots",
                event_files=("test_*.h5",),
                preface_html=_preface(cfg, table, costs, timings),
            ),
        )
        advance(1)
    timings["report"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    summary["timings_s"] = timings
    files.write_json(out / "demo.json", summary, what="demo summary")
    return DemoResult(out, report, tuple(table), timings, costs, classification)


_PARTICLE_WORDS = {
    "e-": "electrons",
    "e+": "positrons",
    "pi+": "π+",
    "pi-": "π−",
    "gamma": "photons",
}


def _title(model: str) -> str:
    from calolab.report.compare import model_title

    return "e/π classifier" if model == "classifier" else model_title(model)


def _preface(
    cfg: DemoConfig, table: list[dict[str, Any]], costs: dict[str, float], timings: dict[str, float]
) -> str:
    """The demo's introduction and verdict, as HTML for the report's summary."""
    parts = [
        '<p class="lead">The workflow of a calorimeter design course, end to end: '
        f"{' and '.join(html.escape(p) for p in cfg.particles)} of "
        f"{html.escape(cfg.energy.replace(':', '–'))} GeV "
        f"({cfg.n_train:,} training and {cfg.n_test:,} test events per particle and design) "
        f"simulated in {', '.join(html.escape(d) for d in cfg.designs)} and digitised; four "
        "energy regressions trained on all particles together, as a calorimeter that does "
        "not know the particle; response and resolution evaluated per particle in bins of "
        f"energy. Simulation, training and evaluation took {timings['total_before_report']:.0f} s."
        "</p>"
    ]
    verdicts = []
    for row in table:
        if row["model"] != "mlp" or row["rmse_ratio_to_sum"] is None:
            continue
        better = row["msre_diff_to_sum"] + 3 * row["msre_diff_err"] < 0.0
        verdicts.append(
            f"<li><b>{html.escape(row['design'])}</b>, {html.escape(row['particle'])}: "
            f"MLP RMSE_rel {100 * row['rmse_rel']:.1f}% vs sum of cells "
            f"{100 * row['rmse_rel'] / row['rmse_ratio_to_sum']:.1f}% "
            f"(ratio {row['rmse_ratio_to_sum']:.2f}; ⟨r²⟩ lower by "
            f"{-row['msre_diff_to_sum'] / row['msre_diff_err']:.0f} standard errors) "
            + (
                '<span class="badge good">MLP better</span>'
                if better
                else '<span class="badge warn">not significantly better</span>'
            )
            + "</li>"
        )
    if verdicts:
        parts.append(f'<div class="callout good"><ul class="notes">{"".join(verdicts)}</ul></div>')
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for row in table:
        key = (row["design"], row["particle"])
        r = row["rmse_rel"]
        if r is not None and (key not in best or r < best[key]["rmse_rel"]):
            best[key] = row
    if len(costs) >= 2 and best:
        items = "".join(
            f"<li><b>{html.escape(d)}</b>, {costs[d]:,.0f} CHF: "
            + ", ".join(
                f"{html.escape(p)} RMSE_rel {100 * row['rmse_rel']:.1f}%, σ/E at 10 GeV "
                f"{100 * (row['resolution_10'] or math.nan):.1f}% "
                f"({html.escape(_title(row['model']))})"
                for (dd, p), row in best.items()
                if dd == d
            )
            + "</li>"
            for d in cfg.designs
        )
        parts.append(
            '<div class="callout"><b>Designs</b>: the best model per particle'
            f'<ul class="notes">{items}</ul></div>'
        )
    return "".join(parts)
