"""Assemble the report: one self-contained HTML page from :class:`ReportInputs`.

The page needs no network access: CSS and JavaScript are inlined, plots are embedded as
base64 PNG, and the event display is plain JavaScript on a ``<canvas>`` with its data in a
JSON ``<script>`` block. Each section is built independently; a section without inputs is
listed among the omitted ones with the reason, and a section that fails to build is replaced
by a note — a damaged input never stops the report.
"""

from __future__ import annotations

import base64
import datetime as _dt
import fnmatch
import html
import logging
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from calolab.core import files
from calolab.core.files import check_output, check_output_dir, dumps_json
from calolab.evaluation.regression import RegressionResult
from calolab.report import plots
from calolab.report.compare import (
    choose_best,
    model_order,
    model_title,
    paired_comparison,
    read_predictions,
    reference_energies,
    resolution_at,
)
from calolab.report.events import check_payload, event_payload, select_events
from calolab.report.inputs import EvalInput, Note, ReportInputs, collect
from calolab.report.optimization import section as section_optimization
from calolab.report.readout import section_readout
from calolab.report.showers import section_showers

log = logging.getLogger(__name__)

#: Section ids and titles, in page order.
SECTIONS = (
    ("summary", "Summary"),
    ("optimization", "Design optimisation"),
    ("events", "Event display"),
    ("performance", "Response and resolution"),
    ("classification", "Classification"),
    ("training", "Training"),
    ("showers", "Shower comparisons"),
    ("datasets", "Datasets"),
    ("readout", "Readout and digitisation"),
    ("detectors", "Detectors"),
    ("notes", "Notes"),
)


@dataclass(frozen=True)
class ReportOptions:
    """How the report is built.

    Parameters
    ----------
    title:
        Page title.
    events_per_species:
        Events shown per particle species and dataset in the event display.
    event_energy:
        Energy (GeV) near which displayed events are chosen (default 50 GeV, or the median
        of a sample that does not reach it).
    max_events:
        Most events in the event display.
    event_files:
        Glob patterns of dataset file names to take displayed events from (default: all).
    plots_dir:
        Also write every plot as a PNG file into this directory.
    preface_html:
        Trusted HTML inserted at the top of the summary (used by ``calolab demo``).
    """

    title: str = "calolab report"
    events_per_species: int = 1
    event_energy: float | None = None
    max_events: int = 8
    event_files: tuple[str, ...] = ()
    plots_dir: Path | None = None
    preface_html: str = ""

    def __post_init__(self) -> None:
        from calolab.core.errors import ConfigError

        for name in ("events_per_species", "max_events"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"report option {name} {v!r} must be an integer >= 0")
        if self.event_energy is not None and not (
            isinstance(self.event_energy, int | float) and self.event_energy > 0
        ):
            raise ConfigError(f"report option event_energy {self.event_energy!r} must be > 0 GeV")


@dataclass(frozen=True)
class ReportResult:
    """What was written: the file, the sections present and omitted, and the notes."""

    path: Path
    sections: tuple[str, ...]
    omitted: tuple[tuple[str, str], ...]
    notes: tuple[Note, ...]
    n_plots: int
    n_events: int
    size_bytes: int


@dataclass
class _Page:
    options: ReportOptions
    notes: list[Note]
    plots: list[tuple[str, bytes]] = field(default_factory=list)
    n_events: int = 0

    def figure(self, slug: str, fig: Any, caption: str, alt: str) -> str:
        """Render a figure, remember it for ``plots_dir`` and return its ``<figure>``."""
        png = plots.to_png(fig)
        slug = _slug(slug)
        base, k = slug, 2
        while any(s == slug for s, _ in self.plots):
            slug, k = f"{base}-{k}", k + 1
        self.plots.append((slug, png))
        return (
            f'<figure class="plot"><img alt="{_e(alt)}" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode()}"><figcaption>{caption}</figcaption></figure>'
        )


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", text).strip("-").lower() or "plot"


def _fmt(x: object, digits: int = 3, pct: bool = False) -> str:
    if isinstance(x, int | float) and not isinstance(x, bool) and math.isinf(float(x)):
        return "∞" if x > 0 else "−∞"
    if not isinstance(x, int | float) or isinstance(x, bool) or not math.isfinite(float(x)):
        return "–"
    v = 100 * float(x) if pct else float(x)
    return f"{v:.{digits}g}%" if pct else f"{v:.{digits}g}"


def _pm(v: object, err: object, digits: int = 3, scale: float = 1.0) -> str:
    """``v ± err`` (both times ``scale``) with the value rounded like the error (two
    significant digits); just the value when there is no usable error."""
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(float(v)):
        return "–"
    x = float(v) * scale
    if not isinstance(err, int | float) or not math.isfinite(float(err)) or float(err) <= 0:
        return f"{x:.{digits}g}"
    e = float(err) * scale
    dec = max(0, 1 - math.floor(math.log10(e)))
    return f"{x:.{dec}f} ± {e:.{dec}f}"


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    numeric: Sequence[int] = (),
    row_classes: Sequence[str] | None = None,
) -> str:
    num = set(numeric)
    head = "".join(
        f'<th class="num">{_e(h)}</th>' if i in num else f"<th>{_e(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{row_classes[r]}"' if row_classes and row_classes[r] else ""
        cells = "".join(
            f'<td class="num">{_cell(v)}</td>' if i in num else f"<td>{_cell(v)}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table></div>'
    )


class _Html(str):
    """A string that is already HTML (not escaped again by :func:`_table`)."""


def _cell(v: object) -> str:
    return str(v) if isinstance(v, _Html) else _e(v)


# ---------------------------------------------------------------------------- sections
def _section_detectors(found: ReportInputs, page: _Page) -> str | None:
    dets = found.all_detectors()
    if not dets:
        return None
    out = [
        '<p class="lead">Designs: material stack, depth in cm, radiation lengths X0 and '
        "nuclear interaction lengths λI, readout channels and cost (materials plus readout "
        "channels).</p>"
    ]
    rows = [
        [
            d.name,
            f"{d.transverse_size_cm[0]:g} × {d.transverse_size_cm[1]:g}",
            f"{d.depth_cm:.1f}",
            f"{d.depth_x0:.1f}",
            f"{d.depth_lambda_i:.2f}",
            d.n_readout_layers,
            f"{d.n_channels:,}",
            f"{d.mass_kg:,.0f}",
            f"{d.material_cost_chf:,.0f}",
            f"{d.channel_cost_chf:,.0f}",
            f"{d.cost_chf:,.0f}",
        ]
        for d in dets
    ]
    out.append(
        _table(
            [
                "detector",
                "face (cm)",
                "depth (cm)",
                "X0",
                "λI",
                "readout layers",
                "channels",
                "mass (kg)",
                "materials (CHF)",
                "channels (CHF)",
                "cost (CHF)",
            ],
            rows,
            numeric=range(2, 11),
        )
    )
    for d in dets:
        out.append(f"<h3>{_e(d.name)}</h3>")
        if d.description:
            out.append(f"<p>{_e(d.description)}</p>")
        srows = []
        x0 = lam = 0.0
        for s in d.sections:
            pattern = " + ".join(
                f"{layer.thickness_cm:g} cm {layer.material.name}{' (read out)' if layer.sensitive else ''}"
                for layer in s.layers
            )
            nx, ny = d.section_grid(s)
            x1 = x0 + s.period_x0 * s.repeat
            l1 = lam + s.period_lambda_i * s.repeat
            srows.append(
                [
                    s.name,
                    f"{s.repeat} × ({pattern})",
                    f"{s.cell_size_cm[0]:g} × {s.cell_size_cm[1]:g}",
                    f"{nx} × {ny}",
                    f"{s.depth_cm:.2f}",
                    f"{x0:.1f} – {x1:.1f}",
                    f"{lam:.2f} – {l1:.2f}",
                    _fmt(s.mip_sampling_fraction, 3),
                ]
            )
            x0, lam = x1, l1
        out.append(
            _table(
                [
                    "section",
                    "layers",
                    "cell (cm)",
                    "cells",
                    "depth (cm)",
                    "X0",
                    "λI",
                    "MIP sampling fraction",
                ],
                srows,
                numeric=range(4, 8),
            )
        )
        cost = d.cost_chf_by_material()
        mass = d.mass_kg_by_material()
        out.append(
            "<details><summary>mass and cost by material</summary>"
            + _table(
                ["material", "mass (kg)", "cost (CHF)"],
                [[k, f"{mass[k]:,.1f}", f"{cost[k]:,.0f}"] for k in mass],
                numeric=(1, 2),
            )
            + "</details>"
        )
        out.append(
            page.figure(
                f"detector-{d.name}",
                plots.detector_layout(d),
                f"{_e(d.name)}: the material stack along the beam axis z and the cumulative "
                "depth in X0 and λI.",
                f"layout of {d.name}",
            )
        )
    return "".join(out)


def _section_datasets(found: ReportInputs, page: _Page) -> str | None:
    if not found.datasets:
        return None
    out = [
        '<p class="lead">The simulated samples: particles, energies, the visible fraction of '
        "the energy and the mean longitudinal shower profile.</p>"
    ]
    rows = []
    for ds in found.datasets:
        s = ds.summary
        e = s.get("energy_gev", {})
        prov = s.get("provenance") or {}
        cfg = prov.get("config", {}) if isinstance(prov, dict) else {}
        rows.append(
            [
                ds.path.name,
                (s.get("detector") or {}).get("name", "–"),
                f"{s.get('events', 0):,}",
                ", ".join(f"{k}: {v:,}" for k, v in (s.get("particles") or {}).items()),
                f"{_fmt(e.get('min'))} – {_fmt(e.get('max'))}",
                _fmt(s.get("mean_visible_over_energy"), 3),
                f"{s.get('cells', 0):,}",
                "yes" if s.get("digitized") else "no",
                cfg.get("seed", "–"),
                f"{s.get('size_bytes', 0) / 1e6:.1f}",
            ]
        )
    out.append(
        _table(
            [
                "file",
                "detector",
                "events",
                "particles",
                "E (GeV)",
                "visible / E",
                "cells",
                "digitised",
                "seed",
                "MB",
            ],
            rows,
            numeric=(2, 5, 6, 9),
        )
    )
    by_det: dict[str, list[Any]] = {}
    for ds in found.datasets:
        if ds.detector is not None:
            by_det.setdefault(ds.detector.name, []).append(ds)
    for name, group in by_det.items():
        try:
            energy, visible, species, prof = _dataset_arrays(group)
        except Exception as exc:  # a damaged file must not stop the report
            page.notes.append(Note(name, f"dataset plots omitted: {exc}"))
            continue
        if len(energy) == 0:
            continue
        out.append(
            page.figure(
                f"datasets-{name}",
                plots.dataset_overview(name, energy, visible, species, prof),
                f"{_e(name)}: energy spectrum, visible energy fraction vs energy (mean and its "
                "error) and mean longitudinal profile, per particle "
                f"({len(group)} file{'s' if len(group) > 1 else ''}, {len(energy):,} events).",
                f"dataset overview for {name}",
            )
        )
    return "".join(out)


def _dataset_arrays(
    group: Sequence[Any], per_file: int = 2000
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    from calolab.core.particles import particle_name
    from calolab.data.hdf5 import ShowerFile

    energy, visible, species = [], [], []
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    det = group[0].detector
    for ds in group:
        with ShowerFile(ds.path) as f:
            sh = f.read(0, per_file)
        layers = sh.layer_energies()
        tot = layers.sum(axis=1)
        names = np.array([particle_name(int(p)) if p else "unknown" for p in sh.pdg])
        energy.append(sh.energy)
        visible.append(tot)
        species.append(names)
        frac = layers / np.maximum(tot, 1e-12)[:, None]
        for n in np.unique(names):
            m = names == n
            sums[n] = sums.get(n, 0) + frac[m].sum(axis=0)
            counts[n] = counts.get(n, 0) + int(m.sum())
    z, width = _layer_z(det)
    prof = {n: (z, sums[n] / counts[n] / width) for n in sums}
    return np.concatenate(energy), np.concatenate(visible), np.concatenate(species), prof


def _layer_z(det: Any) -> tuple[np.ndarray, np.ndarray]:
    """Centre and length (cm) of the sampling period of each readout layer."""
    z0 = np.concatenate([[0.0], np.cumsum([s.depth_cm for s in det.sections])])
    zc, w = [], []
    for r in det.readout_layers:
        s = det.sections[r.section_index]
        zc.append(z0[r.section_index] + (r.period + 0.5) * s.period_cm)
        w.append(s.period_cm)
    return np.array(zc), np.array(w)


def _section_training(found: ReportInputs, page: _Page) -> str | None:
    if not found.runs:
        return None
    out = [
        '<p class="lead">Loss per epoch on the training and validation samples. '
        "The star marks the epoch with the lowest validation loss (the checkpoint kept).</p>"
    ]
    runs = sorted(found.runs, key=lambda r: (r.detector or "", model_order(r.model), str(r.path)))
    root = Path(os.path.commonpath([str(r.path.resolve()) for r in runs]))
    if len(runs) == 1:
        root = root.parent
    rows = []
    for r in runs:
        h = r.history
        val = np.asarray(h.get("val_loss", []), dtype=float)
        tr = np.asarray(h.get("train_loss", []), dtype=float)
        secs = np.asarray(h.get("seconds", []), dtype=float)
        best = int(np.nanargmin(val)) if val.size and np.isfinite(val).any() else None
        n_params = r.summary.get("n_parameters", r.summary.get("parameters"))
        rows.append(
            [
                r.detector or "–",
                r.title,
                len(h["epoch"]),
                f"{h['epoch'][best]:g}" if best is not None else "–",
                _fmt(val[best], 4) if best is not None else "–",
                _fmt(tr[np.isfinite(tr)][-1], 4) if np.isfinite(tr).any() else "–",
                _fmt(n_params, 6) if isinstance(n_params, int | float) else "–",
                _fmt(float(np.nansum(secs)), 3) if secs.size else "–",
                _rel(r.path, root),
            ]
        )
    out.append(
        _table(
            [
                "detector",
                "model",
                "epochs",
                "best epoch",
                "best val. loss",
                "last train loss",
                "parameters",
                "time (s)",
                f"run (in {root})",
            ],
            rows,
            numeric=range(2, 8),
        )
    )
    for r in runs:
        if r.weights and any(k.startswith("w") for k in r.weights) and len(r.weights["epoch"]) > 1:
            out.append(
                page.figure(
                    f"weights-{r.detector}-{r.model}",
                    plots.weight_trajectories(r.label, r.weights),
                    f"{_e(r.label)}: the per-layer calibration weights during training, "
                    "as in the photon-regression study (weights start at 1 or 0).",
                    f"weight trajectories of {r.label}",
                )
            )
    chunks: dict[str, list[Any]] = {}
    for r in runs:
        if len(r.history["epoch"]) >= 2:  # closed-form fits have one row: nothing to draw
            chunks.setdefault(r.detector or "runs", []).append(r)
    for name, group in chunks.items():
        for k in range(0, len(group), 9):
            part = group[k : k + 9]
            out.append(
                page.figure(
                    f"training-{name}-{k}",
                    plots.training_curves([(r.title, r.history) for r in part]),
                    f"{_e(name)}: training curves.",
                    f"training curves for {name}",
                )
            )
    return "".join(out)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def _groups(evals: Sequence[EvalInput]) -> dict[str, list[EvalInput]]:
    out: dict[str, list[EvalInput]] = {}
    for ev in evals:
        out.setdefault(ev.group, []).append(ev)
    for g in out.values():
        g.sort(key=lambda e: model_order(e.model))
    return out


def _name(ev: EvalInput, best: EvalInput | None = None) -> _Html:
    """The model's name with its badges: best of its test sample, flagged."""
    html_ = _e(model_title(ev.model))
    if ev is best:
        html_ += ' <span class="badge good">best</span>'
    if ev.result.flagged:
        codes = sorted({w.code for w in ev.result.warnings})
        html_ += (
            f' <span class="badge warn" title="{_e("; ".join(str(w) for w in ev.result.warnings))}">'
            f"flagged: {_e(', '.join(codes))}</span>"
        )
    return _Html(html_)


def _fit_cells(res: RegressionResult | None) -> list[object]:
    fit = res.fit if res is not None else None
    if fit is None:
        return ["–", "–", "–", "–"]
    chi = f"{fit.chi2:.1f} / {fit.ndf:d}"
    return [
        _pm(fit.a, fit.a_err, 3, 100.0) if "a" in fit.terms else "0 (fixed)",
        _pm(fit.b, fit.b_err, 3) if "b" in fit.terms else "0 (fixed)",
        _pm(fit.c, fit.c_err, 3, 100.0) if "c" in fit.terms else "0 (fixed)",
        chi,
    ]


_MU_SIGMA_HEADERS = [
    "model",
    "events",
    "μ (GeV)",
    "σ (GeV)",
    "μ_rel",
    "σ_rel",
    "RMSE (GeV)",
    "MAE (GeV)",
    "mean σ/E of the bins",
    "a (% √GeV)",
    "b (GeV)",
    "c (%)",
    "χ² / ndf",
]


def _mu_sigma_row(name: object, res: RegressionResult) -> list[object]:
    return [
        name,
        f"{res.n_events:,}",
        _fmt(res.mu, 3),
        _fmt(res.sigma, 3),
        _fmt(res.mu_rel, 3, pct=True),
        _fmt(res.sigma_rel, 3, pct=True),
        _fmt(res.rmse, 3),
        _fmt(res.mae, 3),
        _fmt(res.core_resolution, 3, pct=True),
        *_fit_cells(res),
    ]


def _warning_list(ev: EvalInput) -> str:
    if not ev.result.warnings:
        return ""
    items = "".join(f"<li>{_e(w)}</li>" for w in ev.result.warnings)
    return (
        f'<div class="flagged"><b>{_e(model_title(ev.model))}</b> is flagged: its numbers '
        f"failed sanity checks of calolab evaluate and it is never ranked on them."
        f"<ul class='notes'>{items}</ul></div>"
    )


def _section_performance(found: ReportInputs, page: _Page) -> str | None:
    evals = found.regressions
    if not evals:
        return None
    out = [
        '<p class="lead">Response ⟨E<sub>pred</sub>/E<sub>true</sub>⟩ and resolution σ<sub>E</sub>/E '
        "measured in bins of true energy (Gaussian-core fits of E<sub>pred</sub>/E<sub>true</sub>), "
        "with the fit σ/E = a/√E ⊕ b/E ⊕ c to the bins and its χ²/ndf; μ and σ are the mean and "
        "spread of E<sub>pred</sub> − E<sub>true</sub> (relative: divided by E<sub>true</sub>). "
        "Where the run's bias correction (a line fitted to the median prediction vs energy on "
        "its held-out events, inverted) passed its checks, the resolution is shown after it. "
        "Every number comes from a measured bin listed below each table; models whose numbers "
        "failed a sanity check are marked <span class='badge warn'>flagged</span>.</p>"
    ]
    for group, evs in _groups(evals).items():
        out.append(f"<h3>{_e(group)}</h3>")
        rows = [_mu_sigma_row(_name(ev), ev.result.raw) for ev in evs if ev.result.raw]
        out.append(_table(_MU_SIGMA_HEADERS, rows, numeric=range(1, 13)))
        fixed = [ev for ev in evs if ev.result.corrected is not None]
        if fixed:
            rows = [
                _mu_sigma_row(_name(ev), ev.result.corrected)
                for ev in fixed
                if ev.result.corrected is not None
            ]
            out.append(
                "<h4>after the bias correction</h4>"
                + _table(_MU_SIGMA_HEADERS, rows, numeric=range(1, 13))
            )
        series = [(model_title(ev.model), ev.result) for ev in evs if ev.bins]
        if series:
            label = (
                r"resolution $\sigma_E/E$ (%), bias-corrected"
                if fixed
                else r"resolution $\sigma_E/E$ (%)"
            )
            out.append(
                page.figure(
                    f"performance-{group}",
                    plots.response_resolution(group, series, label),
                    f"{_e(group)}: response of the raw predictions (left) and measured σ/E per "
                    f"bin with the fitted curves over the fitted range "
                    f"(right{', after the bias correction where applied' if fixed else ''}); "
                    "error bars: statistical errors; "
                    + (
                        "shaded bands: σ/E ± its systematic uncertainty (tables below); "
                        if any(ev.result.systematics is not None for ev in evs)
                        else ""
                    )
                    + "open markers: flagged models.",
                    f"response and resolution for {group}",
                )
            )
        out.extend(_systematics_tables(ev) for ev in evs)
        out.extend(_warning_list(ev) for ev in evs)
        for ev in evs:
            out.append(_bins_details(ev, page))
    return "".join(out)


def _systematics_tables(ev: EvalInput) -> str:
    """The systematic uncertainties of an evaluation that carries them (``calolab evaluate``
    with systematics): σ/E per bin with its statistical and systematic errors, and each
    source's shift of the mean σ/E and of the fitted terms. Empty without systematics."""
    from calolab.evaluation.systematics import systematics_table

    sy = ev.result.systematics
    if sy is None:
        return ""
    part = "after the bias correction" if sy.part == "corrected" else "raw predictions"

    def pct(x: float | None, digits: int = 3) -> str:
        return "–" if x is None else f"{100 * x:.{digits}g}"

    def fixed(x: float | None, scale: float = 100.0, decimals: int = 3) -> str:
        return "–" if x is None else f"{scale * x:.{decimals}f}"

    bins = [
        [
            _fmt(e, 4),
            _pm(r, stat, 3, 100.0),
            pct(syst, 2),
            _pm(resp, rstat, 4),
            _fmt(rsyst, 2),
        ]
        for e, r, stat, syst, resp, rstat, rsyst in zip(
            sy.e_mean,
            sy.resolution,
            sy.resolution_stat,
            sy.resolution_syst,
            sy.response,
            sy.response_stat,
            sy.response_syst,
        )
    ]
    sources = [
        [
            row["source"],
            row["note"],
            fixed(row["core_resolution"]),
            fixed(row["a"], decimals=2),
            fixed(row["b"], 1.0),
            fixed(row["c"]),
        ]
        for row in systematics_table(sy)
    ]
    terms = [
        f"{name} = {_pm(v, st, 3, scale)} (stat) ± {_fmt(None if sv is None else sv * scale, 2)}"
        f" (syst) {unit}"
        for name, v, st, sv, scale, unit in (
            ("a", sy.a, sy.a_stat, sy.a_syst, 100.0, "% √GeV"),
            ("b", sy.b, sy.b_stat, sy.b_syst, 1.0, "GeV"),
            ("c", sy.c, sy.c_stat, sy.c_syst, 100.0, "%"),
        )
        if v is not None
    ]
    notes = "".join(f"<li>{_e(n)}</li>" for n in sy.notes)
    return (
        f'<h4 class="systematics">systematic uncertainties: {_e(model_title(ev.model))} '
        f"({part})</h4>"
        f"<p>σ/E (mean over bins) = {_pm(sy.core_resolution, sy.core_resolution_stat, 3, 100.0)}"
        f" (stat) ± {pct(sy.core_resolution_syst, 2)} (syst) %"
        + ("; " + "; ".join(terms) if terms else "")
        + ". Each source's shift is the largest change over its variations; the sources add "
        "in quadrature.</p>"
        + _table(
            ["source", "varied", "Δ σ/E (%)", "Δa (% √GeV)", "Δb (GeV)", "Δc (%)"],
            sources,
            numeric=range(2, 6),
            row_classes=[""] * (len(sources) - 1) + ["total"],
        )
        + _table(
            ["⟨E⟩ (GeV)", "σ/E ± stat (%)", "syst (%)", "response ± stat", "syst"],
            bins,
            numeric=range(0, 5),
        )
        + (f"<ul class='notes'>{notes}</ul>" if notes else "")
    )


def _bins_table(res: RegressionResult) -> str:
    rows = [
        [
            f"{_fmt(b.e_lo)} – {_fmt(b.e_hi)}",
            f"{b.n:,}",
            _fmt(b.e_mean, 4),
            _pm(b.response, b.response_err, 4),
            _pm(b.resolution, b.resolution_err, 3, 100.0),
            _fmt(b.mu, 3),
            _fmt(b.sigma, 3),
            _fmt(b.mu_rel, 3, pct=True),
            _fmt(b.sigma_rel, 3, pct=True),
            b.fit_method,
        ]
        for b in res.bins
    ]
    if not rows:
        return "<p>No energy bins.</p>"
    fit = res.fit
    note = (
        f"<p>fit over {_fmt(fit.e_min)}–{_fmt(fit.e_max)} GeV: χ²/ndf = {fit.chi2:.1f}/{fit.ndf}"
        + (f"; fixed to 0: {', '.join(fit.dropped)}" if fit.dropped else "")
        + (f"; at the limit of their range: {', '.join(fit.at_limit)}" if fit.at_limit else "")
        + "</p>"
        if fit is not None
        else f"<p>{_e(res.fit_note or 'no resolution fit')}</p>"
    )
    return (
        _table(
            [
                "E bin (GeV)",
                "events",
                "⟨E⟩ (GeV)",
                "response",
                "σ/E (%)",
                "μ (GeV)",
                "σ (GeV)",
                "μ_rel",
                "σ_rel",
                "core fit",
            ],
            rows,
            numeric=range(1, 9),
        )
        + note
    )


def _bins_details(ev: EvalInput, page: _Page) -> str:
    r = ev.result
    body = ""
    if r.raw is not None:
        body += "<h4>raw predictions</h4>" + _bins_table(r.raw)
    bc = r.bias_correction
    if bc is not None and bc.fit is not None:
        body += (
            f"<p>bias correction (from the {_e(bc.source)}): E = (E<sub>pred</sub> − "
            f"{_fmt(bc.fit.intercept, 4)}) / {_fmt(bc.fit.slope, 4)}, "
            + ("applied" if bc.applied else f"<b>not applied</b>: {_e(bc.reason)}")
            + "</p>"
        )
    if r.corrected is not None:
        body += "<h4>after the bias correction</h4>" + _bins_table(r.corrected)
    for g in r.groups:
        best = g.corrected or g.raw
        body += f"<h4>{_e(g.label)} ({g.n_events:,} events)</h4>" + _bins_table(best)
    if r.tracker is not None:
        body += _tracker_html(ev, page)
    imgs = "".join(
        f'<figure class="plot"><img alt="{_e(p.name)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"><figcaption>{_e(p.name)} '
        "(from calolab evaluate)</figcaption></figure>"
        for p in ev.pngs
        if p.stat().st_size < 3_000_000
    )
    return (
        f"<details><summary>{_e(model_title(ev.model))}: measured bins"
        f"{' and evaluation plots' if imgs else ''} "
        f"<code>{_e(ev.path)}</code></summary>{body}{imgs}</details>"
    )


def _tracker_html(ev: EvalInput, page: _Page) -> str:
    tr = ev.result.tracker
    assert tr is not None
    rows = [
        [
            f"{_fmt(b.e_lo)} – {_fmt(b.e_hi)}",
            f"{b.n:,}",
            _fmt(b.calo, 3, pct=True),
            _fmt(b.tracker, 3, pct=True),
            _fmt(b.tracker_nominal, 3, pct=True),
            _pm(b.combined, b.combined_err, 3, 100.0),
            _fmt(b.expected, 3, pct=True),
            _fmt(b.combined_response, 4),
        ]
        for b in tr.bins
    ]
    return f"<h4>combination with a tracker of σ/E = {100 * tr.rel_at_1tev:g} % × E/TeV " f"({_e(tr.source)} calorimeter energies, weights from its {_e(tr.calo_resolution)})</h4>" + _table(
        [
            "E bin (GeV)",
            "events",
            "calorimeter σ/E",
            "tracker σ/E",
            "tracker (nominal)",
            "combined σ/E (%)",
            "ideal combination",
            "combined response",
        ],
        rows,
        numeric=range(1, 8),
    ) + page.figure(
        f"tracker-{ev.group}-{ev.model}",
        plots.tracker_combination(f"{ev.group} · {model_title(ev.model)}", tr),
        f"{_e(ev.group)} · {_e(model_title(ev.model))}: σ/E of the calorimeter, the tracker and "
        "their per-event combination, measured per bin, with the ideal inverse-variance "
        "combination.",
        f"tracker combination of {ev.model}",
    )


def _section_classification(found: ReportInputs, page: _Page) -> str | None:
    evs = found.classifications
    if not evs:
        return None
    out = [
        '<p class="lead">Particle identification: accuracy, confusion matrix, area under the '
        "ROC curve and, at working points of signal efficiency ε, the background rejection "
        "1/ε<sub>b</sub> (“&gt; N”: none of the N background events of the test sample passes), "
        "overall and per bin of true energy at the working point's threshold.</p>"
    ]
    for ev in evs:
        c = ev.result.classification
        if c is None:
            continue
        out.append(f"<h3>{_e(ev.group)} · {_e(model_title(ev.model))}</h3>")
        out.append(
            _table(
                ["metric", "value"],
                [["accuracy", _fmt(c.accuracy, 4, pct=True)], ["events", f"{c.n_events:,}"]],
                numeric=(1,),
            )
        )
        rows = []
        for p in c.pairs:
            for w in p.working_points:
                rows.append(
                    [
                        p.name,
                        f"{p.n_signal:,} / {p.n_background:,}",
                        _fmt(p.auc, 4),
                        _fmt(w.efficiency, 3, pct=True),
                        _fmt(w.signal_efficiency, 3, pct=True),
                        _fmt(w.background_efficiency, 3, pct=True),
                        w.rejection_text(),
                    ]
                )
        out.append(
            _table(
                [
                    "signal vs background",
                    "events",
                    "AUC",
                    "working point ε",
                    "signal efficiency",
                    "background efficiency",
                    "rejection 1/ε_b",
                ],
                rows,
                numeric=range(1, 7),
            )
        )
        for p in c.pairs:
            for dep in p.by_energy:
                rows = [
                    [
                        f"{_fmt(b.e_lo)} – {_fmt(b.e_hi)}",
                        f"{b.n_signal:,} / {b.n_background:,}",
                        _fmt(b.signal_efficiency, 3, pct=True),
                        _fmt(b.background_efficiency, 3, pct=True),
                        b.rejection_text(),
                    ]
                    for b in dep.bins
                ]
                out.append(
                    f"<details><summary>{_e(p.name)}: per energy bin at the threshold of "
                    f"ε = {dep.efficiency:g}</summary>"
                    + _table(
                        [
                            "E bin (GeV)",
                            "signal / background events",
                            "signal efficiency",
                            "background efficiency",
                            "rejection 1/ε_b",
                        ],
                        rows,
                        numeric=range(1, 5),
                    )
                    + "</details>"
                )
        if any(p.by_energy for p in c.pairs):
            out.append(
                page.figure(
                    f"efficiency-{ev.group}-{ev.model}",
                    plots.efficiency_vs_energy(f"{ev.group} · {model_title(ev.model)}", c.pairs),
                    "Signal efficiency and background rejection per bin of true energy at "
                    "each working point's threshold (fixed over all energies).",
                    "efficiency and rejection vs energy",
                )
            )
        out.append(
            page.figure(
                f"confusion-{ev.group}-{ev.model}",
                plots.confusion_matrix(
                    f"{ev.group} · {model_title(ev.model)}",
                    list(c.classes),
                    np.asarray(c.confusion_matrix, dtype=float),
                ),
                "Confusion matrix, normalised per true class (counts in brackets).",
                "confusion matrix",
            )
        )
    return "".join(out)


def _res_cell(ev: EvalInput, energy: float | None) -> str:
    if energy is None:
        return "–"
    got = resolution_at(ev.result, energy)
    if got is None:
        return "–"
    value, b = got
    return f"{100 * value:.3g}% at {energy:g} GeV (bin {b.e_lo:.3g}–{b.e_hi:.3g})"


def _section_summary(found: ReportInputs, page: _Page) -> str:
    out = []
    if page.options.preface_html:
        out.append(page.options.preface_html)
    evals = found.regressions
    dets = {d.name: d for d in found.all_detectors()}
    groups = _groups(evals)
    if not groups:
        out.append("<p>No evaluations among the inputs: nothing to compare yet.</p>")
        return "".join(out)
    rows, classes = [], []
    curves = []
    for group, evs in groups.items():
        ref = next((e for e in evs if e.model == "sum"), None)
        ref_pred = read_predictions(ref.path.parent) if ref else None
        best_result = choose_best([e.result for e in evs])
        best = next((e for e in evs if e.result is best_result), None)
        ranges = [e.result.best.e_range for e in evs if e.result.best and e.result.best.e_range]
        lo = max((r[0] for r in ranges), default=0.0)
        hi = min((r[1] for r in ranges), default=0.0)
        energies = list(reference_energies(lo, hi)) + [None, None]
        for ev in evs:
            det = dets.get(ev.detector or "")
            paired = None
            if ref_pred is not None and ev is not ref:
                pred = read_predictions(ev.path.parent)
                paired = paired_comparison(pred, ref_pred) if pred is not None else None
            r = ev.result
            rows.append(
                [
                    ev.detector or "–",
                    ev.particles or "–",
                    _name(ev, best),
                    _fmt(r.core_resolution, 3, pct=True),
                    _res_cell(ev, energies[0]),
                    _res_cell(ev, energies[1]),
                    _fmt(r.best.mu_rel if r.best else None, 3, pct=True),
                    _fmt(r.raw.rmse_rel if r.raw else None, 3, pct=True),
                    (
                        f"{paired.ratio:.3f} ({paired.significance:+.0f} s.e.)"
                        if paired and math.isfinite(paired.significance)
                        else "–"
                    ),
                    f"{det.cost_chf:,.0f}" if det else "–",
                ]
            )
            classes.append("best" if ev is best else ("flagged" if r.flagged else ""))
            if ev is best and r.best is not None:
                curves.append(
                    (
                        ev.detector or "–",
                        f"{group} · {model_title(ev.model)}",
                        r.best.bins,
                        r.best.fit,
                    )
                )
    out.append(
        "<h3>Energy measurement by design and model</h3>"
        + _table(
            [
                "detector",
                "particles",
                "model",
                "mean core σ/E of the bins",
                "σ/E, low energy",
                "σ/E, high energy",
                "μ_rel",
                "RMSE_rel (raw)",
                "÷ sum of cells",
                "cost (CHF)",
            ],
            rows,
            numeric=range(3, 10),
            row_classes=classes,
        )
        + '<p class="lead">Core σ/E: the width of the Gaussian core of E<sub>pred</sub>/E<sub>true</sub> '
        "over its mean, measured in bins of true energy (equal populations unless the "
        "evaluation chose otherwise), after the bias correction where it was applied; the "
        "first numeric column is its mean over the bins, and <span class='badge good'>best</span> "
        "marks the lowest among the models of the test sample that pass the response check. "
        "σ/E at an energy is the measured value of the bin that contains it (the bin is "
        "named), quoted only inside the sample; never read off the fitted curve. μ_rel: mean of "
        "(E<sub>pred</sub> − E<sub>true</sub>)/E<sub>true</sub>; RMSE_rel = √⟨((E<sub>pred</sub> − "
        "E<sub>true</sub>)/E<sub>true</sub>)²⟩ of the raw predictions (the metric of Kieseler et "
        "al., EPJC 82 (2022) 79). “÷ sum of cells”: the model's RMSE_rel over that of the sum of "
        "cells on the same events, and by how many standard errors the mean of "
        "r²<sub>model</sub> − r²<sub>sum</sub> over the events lies below 0 (positive: the model "
        "is better; it needs the evaluations' predictions.h5). "
        "<span class='badge warn'>flagged</span>: a sanity check failed (details under "
        "“Response and resolution”).</p>"
    )
    costed = [(n, d.cost_chf) for n, d in dets.items() if any(e.detector == n for e in evals)]
    if len(costed) >= 2 and curves:
        out.append(
            page.figure(
                "summary-designs",
                plots.design_comparison(
                    curves, costed, "best model per design", _energy_range(evals)
                ),
                "Measured core resolution of the best model for each design and test sample "
                "(points: bins; lines: the fit over the fitted range) and the material cost "
                "of each design (right).",
                "design comparison",
            )
        )
    return "".join(out)


def _energy_range(evals: Sequence[EvalInput]) -> tuple[float, float]:
    lo_v = [b.e_lo for e in evals for b in e.bins if b.e_lo > 0]
    hi_v = [b.e_hi for e in evals for b in e.bins if b.e_hi > 0]
    if not lo_v or not hi_v or max(hi_v) <= min(lo_v):
        return (1.0, 100.0)
    return (min(lo_v) * 0.8, max(hi_v) * 1.2)


def _section_events(found: ReportInputs, page: _Page) -> tuple[str, str] | None:
    opts = page.options
    payloads: list[dict[str, Any]] = []
    for ds in found.datasets:
        if ds.detector is None or opts.max_events == 0:
            continue
        if opts.event_files and not any(fnmatch.fnmatch(ds.path.name, g) for g in opts.event_files):
            continue
        try:
            idx = select_events(ds.path, opts.events_per_species, opts.event_energy)
            for i in idx:
                if len(payloads) >= opts.max_events:
                    break
                p = event_payload(ds.path, i)
                check_payload(p)
                p["label"] = (
                    f"{ds.detector.name} · {p['particle']} · {p['energy']:.1f} GeV ({ds.path.name} #{i})"
                )
                payloads.append(p)
        except Exception as exc:  # a damaged file must not stop the report
            page.notes.append(Note(str(ds.path), f"events not displayed: {exc}"))
    if not payloads:
        return None
    page.n_events = len(payloads)
    statics = "".join(
        page.figure(
            f"event-{k}",
            plots.event_static(p),
            _e(p["label"]),
            f"static view of {p['label']}",
        )
        for k, p in enumerate(payloads)
    )
    first_static = re.search(r'src="(data:image/png;base64,[^"]+)"', statics)
    fallback = (
        f'<noscript><img alt="event display (static)" src="{first_static.group(1)}"></noscript>'
        if first_static
        else ""
    )
    body = (
        '<p class="lead">Selected showers in 3D: every cell above the threshold is a box at its '
        "place in the detector, coloured by its energy on a log scale. Drag to rotate, "
        "shift-drag to pan, scroll to zoom, double-click to reset; hover a cell for its energy.</p>"
        '<div class="evd" id="event-display"><div class="evd-stage">'
        '<canvas id="evd-canvas" tabindex="0" aria-label="3D event display; drag to rotate, '
        'scroll to zoom"></canvas></div>'
        f"{fallback}</div>"
        f"<details><summary>Static images of the displayed events (PNG)</summary>{statics}</details>"
    )
    data = script_json({"events": payloads})
    return body, f'<script type="application/json" id="evd-data">{data}</script>'


def script_json(data: Any) -> str:
    """Strict JSON safe inside ``<script>``: NaN and ±inf become ``null`` and ``<``, ``>``,
    ``&`` (and the JavaScript line separators) are written as ``\\u`` escapes, so that no
    string in the data (a detector named ``<!--<script>`` or ``</script>``) can end the
    block or switch the HTML parser into another state."""
    text = dumps_json(data, compact=True)
    for ch, esc in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(ch, esc)
    return text


def _section_notes(notes: Sequence[Note], omitted: Sequence[tuple[str, str]]) -> str:
    out = []
    if omitted:
        out.append("<h3>Sections not in this report</h3><ul class='notes'>")
        out.extend(f"<li><b>{_e(t)}</b>: {_e(why)}</li>" for t, why in omitted)
        out.append("</ul>")
    if notes:
        out.append("<h3>Inputs that could not be used in full</h3><ul class='notes'>")
        out.extend(f"<li><code>{_e(n.source)}</code>: {_e(n.message)}</li>" for n in notes)
        out.append("</ul>")
    return "".join(out)


_WHY_MISSING = {
    "optimization": "no design study among the inputs (a directory of calolab optimize run)",
    "events": "no dataset with a detector description among the inputs (an .h5 file from "
    "calolab simulate)",
    "performance": "no regression evaluation among the inputs (metrics.json from calolab evaluate)",
    "classification": "no classification metrics among the inputs (metrics.json with "
    '"task": "classification")',
    "training": "no training run among the inputs (a run directory with history.csv)",
    "showers": "no shower comparison among the inputs (compare.json from calolab compare)",
    "datasets": "no readable dataset among the inputs (.h5)",
    "detectors": "no detector among the inputs (a preset name, a detector .toml or a dataset)",
}


def _static(name: str) -> str:
    return resources.files("calolab.report").joinpath("static", name).read_text(encoding="utf-8")


def render(
    found: ReportInputs, options: ReportOptions | None = None
) -> tuple[str, _Page, list[str], list[tuple[str, str]]]:
    """Build the page; returns ``(html, page, present section ids, omitted (title, why))``."""
    from calolab.core.provenance import package_version

    __version__ = package_version()

    opts = options or ReportOptions()
    page = _Page(opts, list(found.notes))
    builders: dict[str, Callable[[ReportInputs, _Page], Any]] = {
        "summary": _section_summary,
        "optimization": lambda found, page: section_optimization(found.studies, page),
        "events": _section_events,
        "performance": _section_performance,
        "classification": _section_classification,
        "training": _section_training,
        "showers": lambda found, page: section_showers(found.comparisons),
        "datasets": _section_datasets,
        "readout": section_readout,
        "detectors": _section_detectors,
    }
    bodies: dict[str, str] = {}
    extra_scripts = []
    omitted: list[tuple[str, str]] = []
    titles = dict(SECTIONS)
    for sid, build in builders.items():
        try:
            res = build(found, page)
        except Exception as exc:  # one broken section must not lose the others
            log.exception("report section %s failed", sid)
            page.notes.append(Note(titles[sid], f"section omitted: {type(exc).__name__}: {exc}"))
            omitted.append((titles[sid], f"it could not be built ({type(exc).__name__}: {exc})"))
            continue
        if res is None:
            omitted.append((titles[sid], _WHY_MISSING.get(sid, "no inputs")))
            continue
        if isinstance(res, tuple):
            res, script = res
            extra_scripts.append(script)
        bodies[sid] = res
    if omitted or page.notes:
        bodies["notes"] = _section_notes(page.notes, omitted)
    present = [sid for sid, _ in SECTIONS if sid in bodies]

    n_events = sum(int(ds.summary.get("events", 0)) for ds in found.datasets)
    kpis = [
        (len(found.all_detectors()), "detectors"),
        (f"{n_events:,}", "simulated events"),
        (len(found.runs), "training runs"),
        (len(found.evaluations), "evaluations"),
    ]
    nav = "".join(
        f'<a href="#{sid}">{_e(title)}</a>' if sid in bodies else "" for sid, title in SECTIONS
    )
    sections_html = "".join(
        f'<section class="card" id="{sid}"><h2>{_e(titles[sid])}</h2>{bodies[sid]}</section>'
        for sid in present
    )
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    doc = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="calolab {_e(__version__)}">
<title>{_e(opts.title)}</title>
<link rel="icon" href="data:,">
<style>{_static("report.css")}</style>
</head>
<body>
<header class="hero"><div class="inner">
<h1>{_e(opts.title)}</h1>
<p class="sub">Made by calolab {_e(__version__)} on {_e(now)} · a self-contained page: it needs no network access.</p>
<div class="kpis">{"".join(f'<div class="kpi"><div class="v">{_e(v)}</div><div class="k">{_e(k)}</div></div>' for v, k in kpis)}</div>
</div></header>
<nav class="toc" aria-label="sections"><div class="inner">{nav}</div></nav>
<main>
{sections_html}
</main>
<footer>calolab {_e(__version__)} · plots in mplhep style · event display: plain JavaScript on a canvas.</footer>
{"".join(extra_scripts)}
<script>{_static("report.js")}</script>
<script>{_static("event_display.js")}</script>
</body>
</html>
"""
    return doc, page, present, omitted


def read_files(found: ReportInputs) -> list[Path]:
    """Every file a report reads (an output must be none of them)."""
    paths: list[Path] = [ds.path for ds in found.datasets]
    paths += [Path(d.source) for d in found.detectors if Path(d.source).is_file()]
    for r in found.runs:
        paths += [r.path / n for n in ("history.csv", "config.json", "summary.json", "weights.csv")]
    for e in found.evaluations:
        paths += [e.path, *e.pngs, e.path.parent / "predictions.h5"]
    return paths


def build_report(
    inputs: Sequence[str | os.PathLike[str]] | ReportInputs,
    output: str | os.PathLike[str],
    options: ReportOptions | None = None,
) -> ReportResult:
    """Build the HTML report from calolab outputs and write it to ``output``.

    Parameters
    ----------
    inputs:
        Paths (dataset files, run and evaluation directories, metrics.json, history.csv,
        detector TOML files, directories to search) and preset names, or an already
        collected :class:`ReportInputs`.
    output:
        The ``.html`` file to write; written under a temporary name and renamed, so an
        interrupted build leaves no half-written report.
    options:
        :class:`ReportOptions`.

    Raises
    ------
    DataError
        An input does not exist.
    OutputError
        The output cannot be written.
    """
    opts = options or ReportOptions()
    given = (
        [] if isinstance(inputs, ReportInputs) else [Path(p) for p in inputs if Path(p).is_file()]
    )
    out = check_output(
        output, inputs=given, what="report output", suffix_hint="report.html", create_parent=True
    )
    if opts.plots_dir is not None:
        check_output_dir(opts.plots_dir, inputs=given, what="--plots-dir")
    found = inputs if isinstance(inputs, ReportInputs) else collect(inputs)
    read = given + read_files(found)
    check_output(
        out, inputs=read, what="report output", suffix_hint="report.html", create_parent=True
    )
    doc, page, present, omitted = render(found, opts)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise files.os_error(out.parent, exc, "creating the report's directory") from None
    files.write_text(out, doc, inputs=read, what="report output")
    if opts.plots_dir is not None:
        d = Path(opts.plots_dir)
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise files.os_error(d, exc, "creating the plots directory") from None
        for slug, png in page.plots:
            files.write_bytes(d / f"{slug}.png", png, inputs=read, what="plot")
    return ReportResult(
        path=out,
        sections=tuple(present),
        omitted=tuple(omitted),
        notes=tuple(page.notes),
        n_plots=len(page.plots),
        n_events=page.n_events,
        size_bytes=out.stat().st_size,
    )
