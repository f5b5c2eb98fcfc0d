"""Sanity checks of an evaluation: numbers that must not be trusted are flagged, never ranked.

Each check returns :class:`~calolab.evaluation.result.EvaluationWarning` objects; ``calolab
evaluate`` records them under ``warnings`` in ``metrics.json``, prints them, and with
``--strict`` exits with code 3 when there is any. The thresholds:

============== ===========================================================================
code           raised when
============== ===========================================================================
response       the Gaussian-core response of the raw predictions lies outside
               :data:`RESPONSE_RANGE` in a bin by more than :data:`RESPONSE_SIGMAS` of its
               standard errors (the model does not output calibrated energies there; e.g.
               an under-trained network that predicts a constant)
energy-scale   the median prediction does not grow like the energy: its exponent
               d ln median(E_pred)/d ln E_true lies outside :data:`SLOPE_RANGE`
               (measured on the test events, where its uncertainty allows; the sum of a
               sampling calorimeter, proportional to the energy, passes)
bias-slope     the slope of the bias correction (fitted on the run's held-out
               predictions) lies outside :data:`SLOPE_RANGE`
bias-refused   the bias correction is ill-conditioned (slope ≤ 0, relative slope error
               above :data:`MAX_SLOPE_REL_ERROR`, or the corrected held-out medians not
               within :data:`RESPONSE_RANGE`): it is not applied
fit-quality    the resolution fit has χ²/ndf above :data:`MAX_CHI2_NDF`
fit-limit      a fitted term ends at a bound of
               :data:`~calolab.evaluation.fits.TERM_LIMITS`
few-events     a bin holds fewer than :data:`MIN_BIN_EVENTS` events (bins with fewer than
               10 are left out altogether)
non-physical   a bin's core response is ≤ 0 (σ/E undefined), or the tracker combination is
               worse than both of its inputs
============== ===========================================================================
"""

from __future__ import annotations

import math

import numpy as np

from calolab.evaluation.regression import BiasCorrection, BinMetrics, RegressionResult
from calolab.evaluation.result import EvaluationWarning
from calolab.evaluation.tracker import TrackerResult

#: Accepted Gaussian-core response ⟨E_pred/E_true⟩ of the raw predictions in every bin.
RESPONSE_RANGE = (0.8, 1.25)
#: A bin's response is outside RESPONSE_RANGE only when it is by more than this many of its
#: standard errors (a bin of 100 events has a response error of ≈ 0.03–0.04 at σ/E ≈ 30 %:
#: an edge of the range is not a verdict on one such bin).
RESPONSE_SIGMAS = 2.0
#: Accepted slope of the bias correction (GeV per GeV) and exponent of the median prediction
#: in the true energy.
SLOPE_RANGE = (0.5, 2.0)
#: Largest χ²/ndf of an acceptable resolution fit.
MAX_CHI2_NDF = 5.0
#: Fewest events of a bin whose core fit is trusted without a warning.
MIN_BIN_EVENTS = 50
#: Largest relative uncertainty of the bias-correction slope.
MAX_SLOPE_REL_ERROR = 0.1
#: The energy-scale check is made only when the exponent is known to better than this.
SLOPE_CHECK_MAX_ERROR = 0.1


def _bin_list(bins: list, n: int = 3) -> str:
    text = ", ".join(b.label for b in bins[:n])
    return text + (f" and {len(bins) - n} more" if len(bins) > n else "")


def _margin(b: BinMetrics) -> float:
    """How far a bin's response may lie outside RESPONSE_RANGE: RESPONSE_SIGMAS errors."""
    err = b.response_err
    return RESPONSE_SIGMAS * err if err is not None and math.isfinite(err) else 0.0


def check_regression(
    res: RegressionResult, part: str, *, raw: bool, explicit_terms: bool = False
) -> list[EvaluationWarning]:
    """Checks of one :class:`RegressionResult` (``raw``: the model's own predictions, for
    which the response and the energy scale are checked; ``explicit_terms``: the fit terms
    were chosen by the user, so a term at 0 is reported instead of dropped)."""
    out: list[EvaluationWarning] = []
    lo, hi = RESPONSE_RANGE
    if raw:
        off = [b for b in res.bins if not lo - _margin(b) <= b.response <= hi + _margin(b)]
        if off:
            worst = max(off, key=lambda b: abs(math.log(max(b.response, 1e-12))))
            out.append(
                EvaluationWarning(
                    "response",
                    f"core response {worst.response:.3g} at {worst.e_mean:.3g} GeV outside "
                    f"[{lo:g}, {hi:g}] in {len(off)} of {len(res.bins)} bins "
                    f"({_bin_list(off)}): the predictions are not calibrated energies",
                    part,
                    worst.e_lo,
                    worst.e_hi,
                    worst.response,
                    lo if worst.response < lo else hi,
                )
            )
        s, se = res.scale_exponent, res.scale_exponent_err
        if s is not None and se is not None and se < SLOPE_CHECK_MAX_ERROR:
            if not SLOPE_RANGE[0] <= s <= SLOPE_RANGE[1]:
                out.append(
                    EvaluationWarning(
                        "energy-scale",
                        f"the median prediction grows like E^{s:.2f} (± {se:.2g}) with the true "
                        f"energy, exponent outside [{SLOPE_RANGE[0]:g}, {SLOPE_RANGE[1]:g}]"
                        + (": the model predicts an almost constant energy" if s < 0.2 else ""),
                        part,
                        value=s,
                        limit=SLOPE_RANGE[0] if s < SLOPE_RANGE[0] else SLOPE_RANGE[1],
                    )
                )
    bad = [b for b in res.bins if b.response <= 0 or b.resolution is None]
    if bad:
        out.append(
            EvaluationWarning(
                "non-physical",
                f"core response ≤ 0 (σ/E undefined) in {len(bad)} bin(s): {_bin_list(bad)}",
                part,
                bad[0].e_lo,
                bad[0].e_hi,
                bad[0].response,
                0.0,
            )
        )
    few = [b for b in res.bins if b.n < MIN_BIN_EVENTS]
    if few or res.skipped_bins:
        msg = []
        if few:
            msg.append(
                f"{len(few)} bin(s) hold fewer than {MIN_BIN_EVENTS} events ({_bin_list(few)}; "
                f"fewest {min(b.n for b in few)})"
            )
        if res.skipped_bins:
            msg.append(f"{res.skipped_bins} bin(s) with fewer than 10 events were left out")
        out.append(
            EvaluationWarning(
                "few-events",
                "; ".join(msg) + ": use fewer bins or more events",
                part,
                few[0].e_lo if few else None,
                few[0].e_hi if few else None,
                float(min(b.n for b in few)) if few else None,
                float(MIN_BIN_EVENTS),
            )
        )
    fit = res.fit
    if fit is not None:
        q = fit.chi2_ndf
        if q is not None and q > MAX_CHI2_NDF:
            out.append(
                EvaluationWarning(
                    "fit-quality",
                    f"resolution fit χ²/ndf = {fit.chi2:.1f}/{fit.ndf} > {MAX_CHI2_NDF:g}: "
                    "a/√E ⊕ b/E ⊕ c does not describe the measured bins (quote the bins)",
                    part,
                    value=q,
                    limit=MAX_CHI2_NDF,
                )
            )
        if fit.at_limit:
            names = ", ".join(f"{t} = {getattr(fit, t):.3g}" for t in fit.at_limit)
            hint = " (drop it with --fit-terms)" if explicit_terms else ""
            out.append(
                EvaluationWarning(
                    "fit-limit",
                    f"resolution term(s) at the limit of their range: {names}{hint}",
                    part,
                )
            )
    return out


def check_bias_correction(
    bc: BiasCorrection,
    e_true: np.ndarray,
    e_pred: np.ndarray,
    part: str = "bias correction",
    *,
    raw_calibrated: bool = False,
) -> tuple[bool, str, list[EvaluationWarning]]:
    """Whether the bias correction ``bc`` (fitted on the held-out predictions ``e_pred`` of
    true energies ``e_true``) may be applied, why not, and the warnings.

    The slope is checked against :data:`SLOPE_RANGE` (a warning). The correction is refused
    when it is ill-conditioned: a slope ≤ 0 or known to worse than
    :data:`MAX_SLOPE_REL_ERROR`, or medians of the corrected held-out predictions outside
    :data:`RESPONSE_RANGE` in some bin (the median prediction is not a straight line in the
    energy, and inverting the line would produce nonsense).

    ``raw_calibrated``: the raw predictions passed the response check. A correction that is
    only too uncertain (few held-out events) is then not applied without a warning — the raw
    numbers stand and need none; an ill-conditioned one is always a warning.
    """
    out: list[EvaluationWarning] = []
    s = bc.slope
    if not SLOPE_RANGE[0] <= s <= SLOPE_RANGE[1]:
        out.append(
            EvaluationWarning(
                "bias-slope",
                f"bias-correction slope {s:.3g} ± {bc.slope_err:.2g} outside "
                f"[{SLOPE_RANGE[0]:g}, {SLOPE_RANGE[1]:g}]: the held-out predictions rise by "
                f"{s:.3g} GeV per GeV",
                part,
                value=s,
                limit=SLOPE_RANGE[0] if s < SLOPE_RANGE[0] else SLOPE_RANGE[1],
            )
        )
    reason = ""
    uncertain = False
    if not (s > 0 and math.isfinite(bc.slope_err)):
        reason = f"its slope {s:.3g} is not positive"
    elif bc.slope_err / s > MAX_SLOPE_REL_ERROR:
        uncertain = True
        reason = (
            f"its slope {s:.3g} ± {bc.slope_err:.2g} is known to only "
            f"{100 * bc.slope_err / s:.0f} % (limit {100 * MAX_SLOPE_REL_ERROR:g} %)"
        )
    else:
        corrected = bc.apply(e_pred)
        t = np.asarray(e_true, dtype=np.float64)
        k = int(min(10, len(t) // 20))
        edges = np.unique(np.quantile(t, np.linspace(0, 1, max(k, 1) + 1)))
        edges[-1] = np.nextafter(edges[-1], np.inf)
        lo, hi = RESPONSE_RANGE
        worst = None
        for a, b in zip(edges[:-1], edges[1:]):
            sel = (t >= a) & (t < b)
            if sel.sum() < 10:
                continue
            r = float(np.median(corrected[sel] / t[sel]))
            if not lo <= r <= hi and (worst is None or abs(math.log(max(r, 1e-12))) > worst[0]):
                worst = (abs(math.log(max(r, 1e-12))), r, float(t[sel].mean()))
        if worst is not None:
            reason = (
                f"the corrected held-out predictions have a median response of {worst[1]:.3g} "
                f"at {worst[2]:.3g} GeV (outside [{lo:g}, {hi:g}]): the median prediction is "
                "not a straight line in the energy"
            )
    if reason and not (uncertain and raw_calibrated):
        out.append(
            EvaluationWarning(
                "bias-refused",
                f"bias correction not applied: {reason}",
                part,
                value=s,
            )
        )
    return not reason, reason, out


def check_tracker(tr: TrackerResult, part: str = "tracker") -> list[EvaluationWarning]:
    """Non-physical rows of a tracker combination: an undefined calorimeter or combined
    σ/E, or a combination worse than both of its inputs (beyond its statistical error)."""
    bad = []
    for b in tr.bins:
        if b.calo is None or b.calo <= 0 or b.combined is None or b.combined <= 0:
            bad.append((b, "undefined or non-positive σ/E"))
            continue
        inputs = [v for v in (b.calo, b.tracker) if v is not None and v > 0]
        margin = 3 * (b.combined_err or 0.0)
        if inputs and b.combined - margin > max(inputs):
            bad.append((b, f"combined σ/E {b.combined:.3g} above both inputs"))
    if not bad:
        return []
    b0, why = bad[0]
    return [
        EvaluationWarning(
            "non-physical",
            f"tracker combination non-physical in {len(bad)} bin(s), e.g. "
            f"{b0.e_lo:.3g}–{b0.e_hi:.3g} GeV: {why}",
            part,
            b0.e_lo,
            b0.e_hi,
            b0.combined,
        )
    ]
