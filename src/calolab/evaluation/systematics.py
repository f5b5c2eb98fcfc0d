"""Systematic uncertainties of a resolution measurement.

Every resolution, response and fitted term of ``calolab evaluate`` carries a statistical
error (the Gaussian-core fits' HESSE errors, propagated into the a/b/c fit) and, from the
variations declared in a :class:`SystematicsConfig`, systematic shifts:

``energy_scale``
    the calibration-scale uncertainty (relative): predictions × (1 ± s). Moves the response
    by ± s; σ/E = σ/μ is scale-invariant, so its shift is measured (and ~0), not assumed.
``core_range``
    the choice of the Gaussian-core window: the fits redone with ±n σ windows of
    ``core_range`` instead of the nominal ±2 σ.
``bias_correction``
    the bias-correction fit: slope and intercept moved one at a time by ±1 σ of their fit
    errors (when the correction was applied).
``dead_fraction``
    dead channels: the test events predicted again with a random fraction of the cells dead
    (seed ``dead_seed``), one-sided (what the measurement becomes if that many channels die).
``noise``, ``light_yield``
    the readout: the test events digitised again from their true visible energies with the
    electronic noise (and the thresholds, in σ of it) or the light yield scaled by (1 ± v),
    with the original random streams (:mod:`calolab.simulation.readout_variation`), and
    predicted again. Only for runs trained on digitised cells (otherwise the variation does
    not reach the model's inputs: a note says so).

Each source's shift per bin is the largest |Δ| over its variations (symmetrised); the
sources are added in quadrature into the total systematic. The a, b and c terms are fitted
again under every variation (same terms, nothing dropped) and shift the same way. The
variations and their results are written in ``metrics.json`` (``systematics``).

A configuration file (``calolab evaluate --systematics FILE``, TOML or JSON)::

    energy_scale = 0.01          # relative calibration-scale uncertainty (0: off)
    core_range = [1.5, 2.5]      # alternative core windows in σ ([] : off)
    bias_correction = true       # vary the bias-correction fit
    dead_fraction = 0.05         # dead-channel variation (0: off)
    dead_seed = 0
    noise = 0.1                  # relative noise-level variation (0: off)
    light_yield = 0.1            # relative light-yield variation (0: off)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calolab.core.config import check_float, from_table, read_json, read_toml
from calolab.core.errors import ConfigError, DataError
from calolab.evaluation.fits import RESOLUTION_TERMS
from calolab.evaluation.regression import (
    BiasCorrection,
    BinMetrics,
    RegressionResult,
    binned_metrics,
    fit_binned_resolution,
    measure_regression,
)

SOURCES = ("energy_scale", "core_range", "bias_correction", "dead_fraction", "noise", "light_yield")


@dataclass(frozen=True)
class SystematicsConfig:
    """The declared variations (see the module docstring). The defaults are what
    ``calolab evaluate`` uses without ``--systematics``."""

    energy_scale: float = 0.01
    core_range: tuple[float, ...] = (1.5, 2.5)
    bias_correction: bool = True
    dead_fraction: float = 0.0
    dead_seed: int = 0
    noise: float = 0.0
    light_yield: float = 0.0

    def __post_init__(self) -> None:
        check_float("systematics: noise", self.noise, minimum=0.0, maximum=0.9)
        check_float("systematics: light_yield", self.light_yield, minimum=0.0, maximum=0.9)
        check_float("systematics: energy_scale", self.energy_scale, minimum=0.0, maximum=0.5)
        for v in self.core_range:
            check_float("systematics: core_range", v, minimum=0.5, maximum=10.0)
        check_float("systematics: dead_fraction", self.dead_fraction, minimum=0.0, maximum=0.99)
        if isinstance(self.dead_seed, bool) or not isinstance(self.dead_seed, int):
            raise ConfigError(f"systematics: dead_seed {self.dead_seed!r} must be an integer")

    @staticmethod
    def load(path: str | os.PathLike[str]) -> SystematicsConfig:
        """Read a TOML (``.toml``) or JSON file; a ``[systematics]`` table or top-level keys."""
        p = os.fspath(path)
        table = read_toml(p) if p.lower().endswith(".toml") else read_json(p, "systematics file")
        if not isinstance(table, dict):
            raise ConfigError(f"systematics file '{p}' must hold a table of variations")
        if "systematics" in table and isinstance(table["systematics"], dict):
            table = table["systematics"]
        return from_table(SystematicsConfig, table, f"systematics file '{p}'")

    @property
    def sources(self) -> tuple[str, ...]:
        """The sources this configuration varies."""
        out = []
        if self.energy_scale > 0:
            out.append("energy_scale")
        if self.core_range:
            out.append("core_range")
        if self.bias_correction:
            out.append("bias_correction")
        if self.dead_fraction > 0:
            out.append("dead_fraction")
        if self.noise > 0:
            out.append("noise")
        if self.light_yield > 0:
            out.append("light_yield")
        return tuple(out)


@dataclass(frozen=True)
class SourceShift:
    """One source's systematic shifts (absolute, ≥ 0): per bin of :class:`Systematics`, on the
    mean-over-bins σ/E (``core_resolution``) and on each fitted term (``None`` when not
    fitted). ``note`` says what was varied."""

    source: str
    resolution: tuple[float, ...]
    response: tuple[float, ...]
    core_resolution: float
    a: float | None = None
    b: float | None = None
    c: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Systematics:
    """Resolutions with statistical and systematic uncertainties (``part``: which
    measurement, ``"corrected"`` or ``"raw"``). Per bin: ``e_mean`` (GeV), σ/E with its
    ``_stat`` and total ``_syst``; the same for the response; the mean-over-bins σ/E
    (``core_resolution``) and the fitted terms a, b, c (``None`` when not fitted)."""

    part: str
    config: SystematicsConfig
    e_mean: tuple[float, ...]
    resolution: tuple[float | None, ...]
    resolution_stat: tuple[float, ...]
    resolution_syst: tuple[float, ...]
    response: tuple[float, ...]
    response_stat: tuple[float, ...]
    response_syst: tuple[float, ...]
    core_resolution: float
    core_resolution_stat: float
    core_resolution_syst: float
    sources: tuple[SourceShift, ...] = ()
    a: float | None = None
    a_stat: float | None = None
    a_syst: float | None = None
    b: float | None = None
    b_stat: float | None = None
    b_syst: float | None = None
    c: float | None = None
    c_stat: float | None = None
    c_syst: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def source(self, name: str) -> SourceShift | None:
        return next((s for s in self.sources if s.source == name), None)

    @property
    def core_resolution_total(self) -> float:
        """Statistical and systematic error of the mean σ/E in quadrature (the envelope the
        optimiser may rank with)."""
        return math.hypot(self.core_resolution_stat, self.core_resolution_syst)


# ----------------------------------------------------------------------------- measuring
def _mean_res(bins: Sequence[BinMetrics]) -> float:
    vals = [b.resolution for b in bins if b.resolution is not None]
    if not vals:
        raise DataError("no energy bin with a σ/E: no systematic uncertainty can be measured")
    return float(np.mean(vals))


def _mean_err(bins: Sequence[BinMetrics]) -> float:
    errs = [b.resolution_err or 0.0 for b in bins if b.resolution is not None]
    return float(math.sqrt(np.sum(np.square(errs))) / len(errs)) if errs else 0.0


def _aligned(nominal: Sequence[BinMetrics], varied: Sequence[BinMetrics]) -> list[BinMetrics]:
    by_edge = {(round(b.e_lo, 9), round(b.e_hi, 9)): b for b in varied}
    out = []
    for b in nominal:
        v = by_edge.get((round(b.e_lo, 9), round(b.e_hi, 9)))
        if v is None:
            raise DataError(f"systematic variation lost the bin {b.label}")
        out.append(v)
    return out


def _shift(
    source: str,
    nominal: RegressionResult,
    variations: Sequence[Sequence[BinMetrics]],
    terms: tuple[str, ...],
    note: str,
) -> SourceShift:
    nb = list(nominal.bins)
    res_shift = np.zeros(len(nb))
    resp_shift = np.zeros(len(nb))
    core = 0.0
    term_shift: dict[str, float] = {t: 0.0 for t in terms}
    nominal_fit = nominal.fit
    for var in variations:
        v = _aligned(nb, var)
        for i, (b0, b1) in enumerate(zip(nb, v)):
            if b0.resolution is not None and b1.resolution is not None:
                res_shift[i] = max(res_shift[i], abs(b1.resolution - b0.resolution))
            resp_shift[i] = max(resp_shift[i], abs(b1.response - b0.response))
        core = max(core, abs(_mean_res(v) - _mean_res(nb)))
        if nominal_fit is not None and terms:
            fit = fit_binned_resolution(v, terms, drop_at_zero=False)
            if fit is not None:
                for t in terms:
                    term_shift[t] = max(
                        term_shift[t], abs(getattr(fit, t) - getattr(nominal_fit, t))
                    )
    return SourceShift(
        source=source,
        resolution=tuple(float(x) for x in res_shift),
        response=tuple(float(x) for x in resp_shift),
        core_resolution=float(core),
        a=term_shift.get("a"),
        b=term_shift.get("b"),
        c=term_shift.get("c"),
        note=note,
    )


def measure_systematics(
    e_true: np.ndarray,
    e_pred: np.ndarray,
    edges: Sequence[float] | np.ndarray,
    nominal: RegressionResult,
    config: SystematicsConfig,
    *,
    part: str = "raw",
    e_raw: np.ndarray | None = None,
    bias: BiasCorrection | None = None,
    dead_predictions: Callable[[], np.ndarray] | None = None,
    readout_predictions: Callable[[str, float], np.ndarray] | None = None,
) -> Systematics:
    """The statistical and systematic uncertainties of ``nominal`` (the measurement of
    ``e_pred`` against ``e_true`` in bins ``edges``).

    Parameters
    ----------
    e_true, e_pred:
        True and (best) predicted energies, GeV.
    nominal:
        :func:`~calolab.evaluation.regression.measure_regression` of them.
    e_raw, bias:
        The raw predictions and the bias correction that made ``e_pred`` from them (the
        ``bias_correction`` source needs both; without them it is skipped with a note).
    dead_predictions:
        Returns the raw predictions of the same events with ``config.dead_fraction`` of the
        channels dead (the ``dead_fraction`` source; skipped with a note when ``None``).
    readout_predictions:
        ``(kind, scale)`` → the raw predictions of the same events digitised again with the
        noise (``kind = "noise"``) or the light yield (``"light_yield"``) scaled by ``scale``
        (the ``noise`` and ``light_yield`` sources; skipped with a note when ``None``).
    """
    t = np.asarray(e_true, dtype=np.float64)
    p = np.asarray(e_pred, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    fit = nominal.fit
    terms = tuple(x for x in (fit.terms if fit is not None else ()) if x in RESOLUTION_TERMS)
    sources: list[SourceShift] = []
    notes: list[str] = []

    def bins_of(pred: np.ndarray, n_sigma: float = 2.0) -> list[BinMetrics]:
        return binned_metrics(t, pred, edges, n_sigma=n_sigma)

    if config.energy_scale > 0:
        s = config.energy_scale
        sources.append(
            _shift(
                "energy_scale",
                nominal,
                [bins_of(p * (1 + s)), bins_of(p * (1 - s))],
                terms,
                f"predictions × (1 ± {s:g})",
            )
        )
    if config.core_range:
        sources.append(
            _shift(
                "core_range",
                nominal,
                [bins_of(p, n) for n in config.core_range],
                terms,
                "core window ±" + ", ±".join(f"{n:g}" for n in config.core_range) + " σ",
            )
        )
    if config.bias_correction:
        if bias is None or e_raw is None:
            notes.append("bias_correction: no correction applied, nothing to vary")
        else:
            raw = np.asarray(e_raw, dtype=np.float64)
            vars_ = []
            for ds, di in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                b = BiasCorrection(
                    slope=bias.slope + ds * bias.slope_err,
                    slope_err=bias.slope_err,
                    intercept=bias.intercept + di * bias.intercept_err,
                    intercept_err=bias.intercept_err,
                    chi2=bias.chi2,
                    ndf=bias.ndf,
                    n_bins=bias.n_bins,
                )
                vars_.append(bins_of(b.apply(raw)))
            sources.append(
                _shift(
                    "bias_correction",
                    nominal,
                    vars_,
                    terms,
                    "slope and intercept of the correction ±1σ, one at a time",
                )
            )
    if config.dead_fraction > 0:
        if dead_predictions is None:
            notes.append("dead_fraction: the test file was not available to mask")
        else:
            dead = np.asarray(dead_predictions(), dtype=np.float64)
            if bias is not None and e_raw is not None:
                dead = bias.apply(dead)
            sources.append(
                _shift(
                    "dead_fraction",
                    nominal,
                    [bins_of(dead)],
                    terms,
                    f"{100 * config.dead_fraction:g} % of the channels dead (random, seed "
                    f"{config.dead_seed}), one-sided",
                )
            )
    for kind in ("noise", "light_yield"):
        v = getattr(config, kind)
        if v <= 0:
            continue
        if readout_predictions is None:
            notes.append(f"{kind}: the run's inputs are not digitised cells, nothing to vary")
            continue
        varied = []
        for scale in (1 + v, 1 - v):
            pv = np.asarray(readout_predictions(kind, scale), dtype=np.float64)
            if bias is not None and e_raw is not None:
                pv = bias.apply(pv)
            varied.append(bins_of(pv))
        what = "electronic noise (and thresholds)" if kind == "noise" else "light yield"
        sources.append(
            _shift(kind, nominal, varied, terms, f"{what} × (1 ± {v:g}), digitised again")
        )
    nb = nominal.bins

    def quad(values: Sequence[float]) -> float:
        return float(math.sqrt(sum(v * v for v in values)))

    def term(name: str) -> tuple[float | None, float | None, float | None]:
        if fit is None or name not in terms:
            return None, None, None
        return (
            float(getattr(fit, name)),
            float(getattr(fit, f"{name}_err")),
            quad([getattr(s, name) or 0.0 for s in sources]),
        )

    a, a_stat, a_syst = term("a")
    b_, b_stat, b_syst = term("b")
    c, c_stat, c_syst = term("c")
    return Systematics(
        part=part,
        config=config,
        e_mean=tuple(float(b.e_mean) for b in nb),
        resolution=tuple(None if b.resolution is None else float(b.resolution) for b in nb),
        resolution_stat=tuple(float(b.resolution_err or 0.0) for b in nb),
        resolution_syst=tuple(quad([s.resolution[i] for s in sources]) for i in range(len(nb))),
        response=tuple(float(b.response) for b in nb),
        response_stat=tuple(float(b.response_err or 0.0) for b in nb),
        response_syst=tuple(quad([s.response[i] for s in sources]) for i in range(len(nb))),
        core_resolution=_mean_res(nb),
        core_resolution_stat=_mean_err(nb),
        core_resolution_syst=quad([s.core_resolution for s in sources]),
        sources=tuple(sources),
        a=a,
        a_stat=a_stat,
        a_syst=a_syst,
        b=b_,
        b_stat=b_stat,
        b_syst=b_syst,
        c=c,
        c_stat=c_stat,
        c_syst=c_syst,
        notes=tuple(notes),
    )


def point_systematics(
    e_true: np.ndarray,
    e_pred: np.ndarray,
    config: SystematicsConfig,
    *,
    dead_predictions: Callable[[], np.ndarray] | None = None,
    readout_predictions: Callable[[str, float], np.ndarray] | None = None,
) -> Systematics:
    """:func:`measure_systematics` of predictions at one beam energy (``e_true`` all equal,
    or nearly): one bin, whose σ/E is the Gaussian-core σ/μ of E_pred/E_true — the
    optimiser's ``resolution`` — and no resolution fit. There is no bias correction to vary
    (σ/μ is the width after the response is corrected); the other sources as in
    :func:`measure_systematics`. The systematic envelope is ``resolution_syst[0]``."""
    t = np.asarray(e_true, dtype=np.float64)
    p = np.asarray(e_pred, dtype=np.float64)
    if len(t) == 0 or not np.all(t > 0):
        raise DataError("point systematics need events with positive true energies")
    lo, hi = float(t.min()), float(t.max())
    edges = np.array([0.5 * lo, 1.5 * hi + 1e-9])
    nominal = measure_regression(t, p, edges, terms=(), drop_at_zero=False)
    if not nominal.bins or nominal.bins[0].resolution is None:
        raise DataError(
            f"{len(t)} events at {np.mean(t):g} GeV give no σ/E (need at least 10 events and a "
            "positive core response)"
        )
    return measure_systematics(
        t,
        p,
        edges,
        nominal,
        config,
        part="raw",
        dead_predictions=dead_predictions,
        readout_predictions=readout_predictions,
    )


def systematics_table(s: Systematics) -> list[dict[str, Any]]:
    """Rows ``{source, σ/E shift, response shift, a, b, c}`` plus the total, for printing."""
    rows = []
    for src in s.sources:
        rows.append(
            {
                "source": src.source,
                "note": src.note,
                "core_resolution": src.core_resolution,
                "a": src.a,
                "b": src.b,
                "c": src.c,
            }
        )
    rows.append(
        {
            "source": "total (quadrature)",
            "note": "",
            "core_resolution": s.core_resolution_syst,
            "a": s.a_syst,
            "b": s.b_syst,
            "c": s.c_syst,
        }
    )
    return rows


__all__ = [
    "SOURCES",
    "SourceShift",
    "Systematics",
    "SystematicsConfig",
    "measure_systematics",
    "point_systematics",
    "systematics_table",
]
