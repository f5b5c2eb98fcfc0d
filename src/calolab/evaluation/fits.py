"""Fits with iminuit: Gaussian cores, the resolution curve, straight lines.

* :func:`gaussian_core_fit` — mean and width of the Gaussian core of a distribution: an
  unbinned maximum-likelihood fit of a Gaussian truncated to μ ± 2σ, iterated so that the
  window follows the fit (the usual treatment of calorimeter response tails, e.g. the
  "iterative ±2σ Gaussian fit" of CMS/ATLAS/CALICE energy-resolution papers).
* :func:`fit_resolution` — σ/E = a/√E ⊕ b/E ⊕ c (stochastic, noise, constant terms; E in GeV,
  ⊕ = sum in quadrature) by least squares, with parabolic (HESSE) errors. Each term is
  bounded to a physical range (:data:`TERM_LIMITS`); a term that ends at a bound is listed in
  :attr:`ResolutionFit.at_limit`, and with ``drop_at_zero`` a term at 0 is fixed to 0 and the
  fit repeated (a term the data do not constrain is not fitted).
* :func:`fit_line` — y = s·x + q by weighted least squares.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
from iminuit import Minuit
from iminuit.cost import LeastSquares, UnbinnedNLL
from scipy.special import ndtr

from calolab.core.errors import DataError

#: Robust σ from the median absolute deviation of a Gaussian.
MAD_TO_SIGMA = 1.482602218505602


@dataclass(frozen=True)
class GaussianFit:
    """Result of :func:`gaussian_core_fit` (units of the input)."""

    mu: float
    mu_err: float
    sigma: float
    sigma_err: float
    n: int
    n_core: int
    method: str  # "core-fit" or "moments" (too few events or a failed fit)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _moments(x: np.ndarray, n_all: int) -> GaussianFit:
    n = len(x)
    mu = float(np.mean(x)) if n else math.nan
    sd = float(np.std(x, ddof=1)) if n > 1 else math.nan
    return GaussianFit(
        mu=mu,
        mu_err=sd / math.sqrt(n) if n > 1 else math.nan,
        sigma=sd,
        sigma_err=sd / math.sqrt(2 * (n - 1)) if n > 1 else math.nan,
        n=n_all,
        n_core=n,
        method="moments",
    )


def _truncated_gauss(lo: float, hi: float):  # type: ignore[no-untyped-def]
    def pdf(v: np.ndarray, m: float, s: float) -> np.ndarray:
        norm = ndtr((hi - m) / s) - ndtr((lo - m) / s)
        return np.exp(-0.5 * ((v - m) / s) ** 2) / (s * math.sqrt(2 * math.pi) * norm)

    return pdf


def gaussian_core_fit(
    x: np.ndarray, *, n_sigma: float = 2.0, iterations: int = 10, min_events: int = 30
) -> GaussianFit:
    """Mean and width of the Gaussian core of ``x``.

    Starts from the median and the MAD-based σ; each iteration fits a Gaussian truncated to
    [μ − n_sigma·σ, μ + n_sigma·σ] by unbinned maximum likelihood (iminuit) and moves the
    window to the result, until the window moves by less than 1 % of σ (at most
    ``iterations`` fits). Errors are the HESSE errors of the last fit. Falls back to the mean
    and standard deviation (``method = "moments"``) with fewer than ``min_events`` events in
    the window or if the fit does not converge.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    n_all = len(x)
    if n_all < min_events:
        return _moments(x, n_all)
    mu = float(np.median(x))
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(x - mu)))
    if not sigma > 0:
        sigma = float(np.std(x))
    if not sigma > 0:
        return _moments(x, n_all)
    result: GaussianFit | None = None
    for _ in range(iterations):
        lo, hi = mu - n_sigma * sigma, mu + n_sigma * sigma
        core = x[(x >= lo) & (x <= hi)]
        if len(core) < min_events:
            break

        cost = UnbinnedNLL(core, _truncated_gauss(lo, hi))
        mi = Minuit(cost, m=mu, s=sigma)
        mi.limits["s"] = (sigma * 0.05, sigma * 20)
        mi.limits["m"] = (lo, hi)
        mi.migrad()
        if not mi.valid:
            break
        mi.hesse()
        moved = abs(float(mi.values["m"]) - mu) + abs(float(mi.values["s"]) - sigma)
        mu, sigma = float(mi.values["m"]), float(mi.values["s"])
        result = GaussianFit(
            mu=mu,
            mu_err=float(mi.errors["m"]),
            sigma=sigma,
            sigma_err=float(mi.errors["s"]),
            n=n_all,
            n_core=len(core),
            method="core-fit",
        )
        if moved < 0.01 * sigma:
            break
    return result if result is not None else _moments(x, n_all)


#: Ranges of the resolution terms: a in √GeV (500 %·√GeV), b in GeV, c dimensionless (100 %).
#: A fit that ends at one of them did not find a physical description of the points.
TERM_LIMITS = {"a": (0.0, 5.0), "b": (0.0, 1000.0), "c": (0.0, 1.0)}
RESOLUTION_TERMS = ("a", "b", "c")


@dataclass(frozen=True)
class ResolutionFit:
    """σ/E = a/√E ⊕ b/E ⊕ c with E in GeV (a in √GeV, b in GeV, c dimensionless).

    ``terms``: the terms that were fitted (the others are fixed to 0); ``dropped``: terms
    that ended at 0 and were then fixed (``drop_at_zero``); ``at_limit``: fitted terms that
    end at a bound of :data:`TERM_LIMITS`; ``e_min``/``e_max``: the energies (GeV) of the
    first and last fitted point — the curve describes the measurement only between them.
    """

    a: float
    a_err: float
    b: float
    b_err: float
    c: float
    c_err: float
    chi2: float
    ndf: int
    terms: tuple[str, ...] = RESOLUTION_TERMS
    dropped: tuple[str, ...] = ()
    at_limit: tuple[str, ...] = ()
    e_min: float | None = None
    e_max: float | None = None

    @property
    def chi2_ndf(self) -> float | None:
        """χ²/ndf, ``None`` without degrees of freedom."""
        return self.chi2 / self.ndf if self.ndf > 0 else None

    def __call__(self, e_gev: np.ndarray | float) -> np.ndarray:
        """σ/E at energy ``e_gev``."""
        e = np.asarray(e_gev, dtype=np.float64)
        return resolution_curve(e, self.a, self.b, self.c)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def resolution_curve(e: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """σ/E = sqrt(a²/E + b²/E² + c²)."""
    e = np.asarray(e, dtype=np.float64)
    return np.sqrt(a * a / e + b * b / (e * e) + c * c)


def check_terms(terms: object, where: str = "fit terms") -> tuple[str, ...]:
    """``terms`` as a tuple of distinct names among a, b, c (a string "a,c" is accepted)."""
    from calolab.core.errors import ConfigError

    items = terms.split(",") if isinstance(terms, str) else terms
    if not isinstance(items, list | tuple):
        raise ConfigError(f"{where} {terms!r} must be a list of a, b, c (e.g. 'a,c')")
    names = tuple(str(t).strip() for t in items if str(t).strip())
    bad = [t for t in names if t not in RESOLUTION_TERMS]
    if bad or not names or len(set(names)) != len(names):
        raise ConfigError(
            f"{where} {terms!r} must name distinct terms among a (stochastic, /√E), b (noise, "
            "/E) and c (constant), e.g. 'a,c'"
        )
    return tuple(t for t in RESOLUTION_TERMS if t in names)


def fit_resolution(
    e_gev: np.ndarray,
    resolution: np.ndarray,
    resolution_err: np.ndarray,
    *,
    terms: tuple[str, ...] = RESOLUTION_TERMS,
    drop_at_zero: bool = False,
) -> ResolutionFit:
    """Least-squares fit of σ/E = a/√E ⊕ b/E ⊕ c to measured points.

    Each term is bounded by :data:`TERM_LIMITS`; terms that end at a bound are listed in
    ``at_limit``.

    Parameters
    ----------
    e_gev:
        Energies of the points (GeV), ``(n,)``.
    resolution, resolution_err:
        σ/E and its uncertainty at each point, ``(n,)``.
    terms:
        Terms to fit; the others are fixed to 0 (e.g. ``("a", "c")`` without noise term).
    drop_at_zero:
        A fitted term that ends at 0 (the data do not constrain it) is fixed to 0 and the fit
        repeated with one more degree of freedom; it is listed in ``dropped``.
    """
    terms = check_terms(terms)
    e = np.asarray(e_gev, dtype=np.float64)
    r = np.asarray(resolution, dtype=np.float64)
    s = np.asarray(resolution_err, dtype=np.float64)
    ok = np.isfinite(e) & np.isfinite(r) & np.isfinite(s) & (s > 0) & (e > 0)
    e, r, s = e[ok], r[ok], s[ok]
    if len(e) < len(terms):
        raise DataError(
            f"resolution fit: {len(e)} valid points for {len(terms)} parameters; use more "
            "energy bins or more events"
        )
    order = np.argsort(e)
    e, r, s = e[order], r[order], s[order]
    fit = _fit_terms(e, r, s, terms)
    dropped: tuple[str, ...] = ()
    while drop_at_zero and len(fit.terms) > 1:
        zero = [t for t in fit.at_limit if getattr(fit, t) < sum(TERM_LIMITS[t]) / 2]
        if not zero:
            break
        dropped += (zero[0],)
        fit = _fit_terms(e, r, s, tuple(t for t in fit.terms if t != zero[0]))
    return replace(fit, dropped=dropped)


def _fit_terms(
    e: np.ndarray, r: np.ndarray, s: np.ndarray, terms: tuple[str, ...]
) -> ResolutionFit:
    cost = LeastSquares(e, r, s, lambda x, a, b, c: resolution_curve(x, a, b, c))
    # start: a from the lowest-energy point, c from the highest
    a0 = float(min(max(r[0] * math.sqrt(e[0]), 1e-3), 0.5 * TERM_LIMITS["a"][1]))
    c0 = float(min(max(r[-1] * 0.5, 1e-4), 0.5 * TERM_LIMITS["c"][1]))
    mi = Minuit(
        cost,
        a=a0 if "a" in terms else 0.0,
        b=min(a0 / 10, 1.0) if "b" in terms else 0.0,
        c=c0 if "c" in terms else 0.0,
    )
    for name in RESOLUTION_TERMS:
        mi.limits[name] = TERM_LIMITS[name]
        if name not in terms:
            mi.values[name] = 0.0
            mi.fixed[name] = True
    mi.migrad()
    mi.hesse()
    at_limit = []
    for name in terms:
        v, err = float(mi.values[name]), float(mi.errors[name])
        lo, hi = TERM_LIMITS[name]
        tol = 0.1 * err if math.isfinite(err) and err > 0 else 1e-6 * (hi - lo)
        if v - lo <= tol or hi - v <= tol:
            at_limit.append(name)
    return ResolutionFit(
        a=float(mi.values["a"]),
        a_err=float(mi.errors["a"]) if "a" in terms else 0.0,
        b=float(mi.values["b"]),
        b_err=float(mi.errors["b"]) if "b" in terms else 0.0,
        c=float(mi.values["c"]),
        c_err=float(mi.errors["c"]) if "c" in terms else 0.0,
        chi2=float(mi.fval),
        ndf=int(len(e) - len(terms)),
        terms=terms,
        at_limit=tuple(at_limit),
        e_min=float(e[0]),
        e_max=float(e[-1]),
    )


@dataclass(frozen=True)
class LineFit:
    """y = slope·x + intercept."""

    slope: float
    slope_err: float
    intercept: float
    intercept_err: float
    chi2: float
    ndf: int


def fit_line(x: np.ndarray, y: np.ndarray, yerr: np.ndarray) -> LineFit:
    """Weighted least-squares straight line (iminuit), with HESSE errors."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    s = np.asarray(yerr, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(s) & (s > 0)
    x, y, s = x[ok], y[ok], s[ok]
    if len(x) < 2:
        raise DataError(f"line fit needs at least 2 points, got {len(x)}")
    w = 1 / s**2
    # closed-form start
    sw, sx, sy = w.sum(), (w * x).sum(), (w * y).sum()
    sxx, sxy = (w * x * x).sum(), (w * x * y).sum()
    det = sw * sxx - sx * sx
    s0 = (sw * sxy - sx * sy) / det if det > 0 else 1.0
    q0 = (sy - s0 * sx) / sw
    cost = LeastSquares(x, y, s, lambda v, slope, intercept: slope * v + intercept)
    mi = Minuit(cost, slope=s0, intercept=q0)
    mi.migrad()
    mi.hesse()
    return LineFit(
        slope=float(mi.values["slope"]),
        slope_err=float(mi.errors["slope"]),
        intercept=float(mi.values["intercept"]),
        intercept_err=float(mi.errors["intercept"]),
        chi2=float(mi.fval),
        ndf=len(x) - 2,
    )
