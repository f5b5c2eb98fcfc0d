"""Compare two sets of showers with the CaloChallenge metrics (``calolab compare``).

The instrument for "does this fast simulation look like that full simulation?": a classifier
is trained to tell sample A from sample B; an AUC near 0.5 means it cannot, an AUC near 1
means the samples differ in something the features show. As in the CaloChallenge
(M. Faucci Giannelli, C. Krause et al., arXiv:2410.21611; the challenge's
``code/evaluate.py``):

* feature sets (:mod:`calolab.evaluation.shower_features`): ``low`` — cells/E_inc (100 ×, as
  the challenge) with log10 E_inc; samples without cells (the Geant4 reference files) use the
  layer energies instead; ``high`` — log10 E_inc, log10(E_layer/E_inc + 1e-8), the shape
  features of every layer where both samples have cells (centres, widths, sparsity) and
  E_tot/E_inc; and two subsets this project tracks: ``longitudinal`` (the layer energies and
  E_tot/E_inc) and ``total`` (E_tot/E_inc alone);
* precision: the inputs are float32, as the challenge's HDF5 showers are: a sample whose
  totals are exact (a Geant4 shower that lost nothing has E_tot/E_inc = 1 exactly) is not
  told from one whose totals are sums of float32 cells (1 ± 10⁻⁸) by that storage
  precision alone;
* splits: the larger sample is cut to the size of the smaller (balanced classes, so 0.5 is
  the no-information AUC); each is split 60/20/20 into train / selection / test with the
  seeded random generator; inputs are standardised with the training split's mean and
  spread;
* classifiers: ``dnn`` — the challenge's network (input → 512, two more hidden layers of 512,
  LeakyReLU, one logit; Adam, learning rate 2e-4, 50 epochs, batch 1000 or an eighth of the
  training split when that is smaller; the epoch with the best selection-split accuracy is
  kept); ``gbdt`` — scikit-learn's HistGradientBoostingClassifier, the CPU-fast option, early
  stopping on the selection split. Both are calibrated with isotonic regression fitted on the
  selection split, and evaluated once on the test split: AUC, accuracy and the JSD estimate
  (log 2 − BCE)/log 2 of the calibrated output;
* errors: the Hanley–McNeil standard error of the AUC for the test-split sizes; with
  ``repeats`` > 1 the whole procedure is repeated with new splits and initialisations
  (seeds ``seed``, ``seed + 1``, ...) and the spread is reported too;
* depth windows (optional, ``depth_bounds``): where along the shower the classifier finds
  the difference. The layers are grouped by the cumulative mean visible energy of sample A
  (the reference): with bounds (0.1, 0.9) the layers holding its first 10 %, the middle
  80 % and the last 10 % (a layer belongs to the window that holds the midpoint of its
  share). A classifier is trained on each window's log10(E_layer/E_inc + 1e-8) alone
  (features ``"layers i-j"``); a window whose AUC stands out locates the difference — the
  start, the core or the tail — which the whole-profile AUC cannot;
* response matching (optional, ``match_response``; :func:`response_match`): B's energies
  are multiplied by one constant, k = ⟨E_vis/E_inc⟩_A / ⟨E_vis/E_inc⟩_B (with its error
  from the two means' standard errors), before anything is computed. A sampling calorimeter is calibrated
  anyway; a fast simulation whose sampling fraction differs from the reference's by a few
  per cent is told apart by that shift alone at high energy, where it is many standard
  deviations of the total. With the mean response matched, the classifiers measure the
  shape of the showers and their fluctuations (the per-event spread of the total
  included), not the calibration; the factor itself is the measured difference in
  response. Report both: the raw comparison and the matched one. It is meant for sampling
  calorimeters: in a homogeneous one (mean E_vis/E_inc above
  :data:`SAMPLING_RESPONSE_MAX`) the response is E_inc less the leakage, a scale is no
  calibration and would move showers above E_inc (a warning is logged);
* separation power of every high-level histogram,
  S = ½ Σ_i (h_A,i − h_B,i)² / (h_A,i + h_B,i) with unit-normalised histograms (the
  "triangular discrimination", eq. 15 of arXiv:2009.03796, as the challenge computes it),
  in 50 bins spanning the pooled samples' 0.5–99.5 % quantiles (values outside go to the
  end bins), with the value expected from statistical fluctuations alone for two samples of
  the same distribution, (B − 1)(1/N_A + 1/N_B)/4.

Every random draw comes from ``seed``: the same inputs and seed give the same numbers.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calolab.core.errors import ConfigError, DataError
from calolab.evaluation.classification import auc as auc_score
from calolab.evaluation.shower_features import SHAPE_FEATURES, ShowerSample

log = logging.getLogger(__name__)

#: Feature sets of the classifiers, in report order.
FEATURE_SETS = ("low", "high", "longitudinal", "total")
#: Classifiers: the challenge's DNN and the CPU-fast gradient-boosted trees.
CLASSIFIERS = ("gbdt", "dnn")
SPLIT = (0.6, 0.2, 0.2)
HIST_BINS = 50
#: Response matching is a calibration of sampling calorimeters: a reference whose mean
#: E_vis/E_inc is above this is homogeneous (its response is E_inc less the leakage, bounded
#: by E_inc), and matching it earns a warning.
SAMPLING_RESPONSE_MAX = 0.5
_EPS = 1e-8


# ------------------------------------------------------------------------- feature sets
def _check_pair(a: ShowerSample, b: ShowerSample) -> None:
    if a.n_layers != b.n_layers:
        raise DataError(
            f"'{a.name}' has {a.n_layers} readout layers and '{b.name}' {b.n_layers}: "
            "showers can be compared only layer by layer in the same layout (for CaloChallenge "
            "files give --layer-sizes)"
        )
    ea, eb = a.energy, b.energy
    if ea.max() < eb.min() * 0.5 or eb.max() < ea.min() * 0.5:
        log.warning(
            "incident energies do not overlap (%s: %.3g-%.3g GeV, %s: %.3g-%.3g GeV)",
            a.name,
            ea.min(),
            ea.max(),
            b.name,
            eb.min(),
            eb.max(),
        )


def common_shapes(a: ShowerSample, b: ShowerSample) -> tuple[str, ...]:
    """Shape features present in both samples."""
    return tuple(k for k in SHAPE_FEATURES if k in a.shapes and k in b.shapes)


def low_level_kind(a: ShowerSample, b: ShowerSample) -> str:
    """``"cells"`` when both samples hold cells in the same layout, else ``"layers"``."""
    if (
        a.cells is not None
        and b.cells is not None
        and a.cells.shape[1] == b.cells.shape[1]
        and a.cell_merge == b.cell_merge
    ):
        return "cells"
    return "layers"


def feature_matrix(
    sample: ShowerSample, which: str, shapes: Sequence[str], low: str = "layers"
) -> tuple[np.ndarray, list[str]]:
    """Classifier inputs of one sample for feature set ``which`` (see module docstring), in
    float32."""
    x, names = _features(sample, which, shapes, low)
    return x.astype(np.float32), names


def _log_fractions(sample: ShowerSample) -> np.ndarray:
    """log10(E_layer/E_inc + 1e-8) of every layer, ``(N, L)``."""
    return np.log10(np.maximum(sample.layers / sample.energy[:, None], 0.0) + _EPS)


def _features(
    sample: ShowerSample, which: str, shapes: Sequence[str], low: str
) -> tuple[np.ndarray, list[str]]:
    e = sample.energy
    frac = sample.layers / e[:, None]
    etot = (sample.total / e)[:, None]
    n_layers = sample.n_layers
    log_frac = _log_fractions(sample)
    layer_names = [f"e_layer_{i}" for i in range(n_layers)]
    if which == "total":
        return etot, ["etot"]
    if which == "longitudinal":
        return np.hstack([log_frac, etot]), [*layer_names, "etot"]
    log_e = np.log10(e)[:, None]
    if which == "low":
        if low == "cells":
            assert sample.cells is not None
            x = 100.0 * sample.cells / e[:, None]
            return np.hstack([log_e, x]), ["log10_e_inc"] + [f"cell_{i}" for i in range(x.shape[1])]
        return np.hstack([log_e, 100.0 * frac]), ["log10_e_inc", *layer_names]
    if which == "high":
        cols = [log_e, log_frac]
        names = ["log10_e_inc", *layer_names]
        for k in shapes:
            cols.append(sample.shapes[k])
            names += [f"{k}_{i}" for i in range(n_layers)]
        cols.append(etot)
        names.append("etot")
        return np.hstack(cols), names
    raise ConfigError(f"unknown feature set {which!r}; choose from {', '.join(FEATURE_SETS)}")


def histogram_features(
    sample: ShowerSample, shapes: Sequence[str]
) -> dict[str, tuple[np.ndarray, str]]:
    """The high-level quantities histogrammed: ``{name: (values (N,), axis label)}``."""
    e = sample.energy
    out: dict[str, tuple[np.ndarray, str]] = {
        "etot": (sample.total / e, "$E_{tot}/E_{inc}$"),
    }
    for i in range(sample.n_layers):
        out[f"e_layer_{i}"] = (sample.layers[:, i] / e, f"$E_{{{i}}}/E_{{inc}}$")
    labels = {
        "centre_x": "centre x [cm]",
        "centre_y": "centre y [cm]",
        "width_x": "width x [cm]",
        "width_y": "width y [cm]",
        "sparsity": "sparsity",
    }
    for k in shapes:
        for i in range(sample.n_layers):
            out[f"{k}_{i}"] = (sample.shapes[k][:, i], f"layer {i}: {labels[k]}")
    return out


# ------------------------------------------------------------------- separation power
def common_bins(x: np.ndarray, y: np.ndarray, n_bins: int = HIST_BINS) -> np.ndarray:
    """Bin edges spanning the pooled 0.5–99.5 % quantiles of ``x`` and ``y``."""
    pooled = np.concatenate([x, y])
    lo, hi = np.quantile(pooled, [0.005, 0.995])
    if not hi > lo:
        lo, hi = float(pooled.min()), float(pooled.max())
    if not hi > lo:
        width = max(abs(lo) * 1e-6, 1e-12)
        lo, hi = lo - width, hi + width
    return np.linspace(lo, hi, n_bins + 1)


def normalised_hist(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Fractions of ``x`` per bin, values outside the edges counted in the end bins."""
    clipped = np.clip(x, edges[0], edges[-1])
    h, _ = np.histogram(clipped, bins=edges)
    return h / max(len(x), 1)


def separation_power(x: np.ndarray, y: np.ndarray, edges: np.ndarray | None = None) -> float:
    """½ Σ (h_x − h_y)² / (h_x + h_y) of unit-normalised histograms (0: same, 1: disjoint)."""
    edges = common_bins(x, y) if edges is None else edges
    hx, hy = normalised_hist(x, edges), normalised_hist(y, edges)
    s = hx + hy
    ok = s > 0
    return float(0.5 * np.sum((hx[ok] - hy[ok]) ** 2 / s[ok]))


def separation_noise(x: np.ndarray, y: np.ndarray, edges: np.ndarray) -> float:
    """Expected separation power of two samples of one distribution: (B−1)(1/N_x + 1/N_y)/4,
    B the number of non-empty bins of the pooled histogram."""
    pooled = normalised_hist(np.concatenate([x, y]), edges)
    b = int(np.count_nonzero(pooled))
    return max(b - 1, 0) * (1.0 / len(x) + 1.0 / len(y)) / 4.0


# ------------------------------------------------------------------------ classifiers
def hanley_mcneil_error(a: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUC ``a`` measured with ``n_pos`` and ``n_neg`` events
    (J. A. Hanley and B. J. McNeil, Radiology 143 (1982) 29)."""
    if not (0.0 <= a <= 1.0) or n_pos < 1 or n_neg < 1:
        return math.nan
    q1 = a / (2.0 - a)
    q2 = 2.0 * a * a / (1.0 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


def _splits(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    perm = rng.permutation(n)
    a = int(round(SPLIT[0] * n))
    b = a + int(round(SPLIT[1] * n))
    return perm[:a], perm[a:b], perm[b:]


@dataclass(frozen=True)
class ClassifierResult:
    """One classifier on one feature set: AUC on the test split and its errors."""

    classifier: str
    features: str
    n_features: int
    n_train: int
    n_test: int
    auc: float
    auc_err: float
    auc_spread: float | None
    auc_uncalibrated: float
    accuracy: float
    jsd: float
    repeats: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "classifier": self.classifier,
            "features": self.features,
            "n_features": self.n_features,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "auc": self.auc,
            "auc_err": self.auc_err,
            "auc_spread": self.auc_spread,
            "auc_uncalibrated": self.auc_uncalibrated,
            "accuracy": self.accuracy,
            "jsd": self.jsd,
            "repeats": list(self.repeats),
        }


def _fit_gbdt(
    x_tr: np.ndarray, y_tr: np.ndarray, x_sel: np.ndarray, y_sel: np.ndarray, seed: int
) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        max_iter=300,
        learning_rate=0.05,
        early_stopping=True,
        n_iter_no_change=20,
        random_state=seed,
    )
    from threadpoolctl import threadpool_limits

    # one thread: as fast on small samples and far faster on a busy machine (no spinning)
    with threadpool_limits(limits=1):
        model.fit(x_tr, y_tr, X_val=x_sel, y_val=y_sel)

    def predict(x: np.ndarray) -> np.ndarray:
        with threadpool_limits(limits=1):
            return model.predict_proba(x)[:, 1]

    return predict


def _fit_dnn(
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    x_sel: np.ndarray,
    y_sel: np.ndarray,
    seed: int,
    epochs: int,
) -> Any:
    from calolab.core.errors import require

    torch: Any = require("torch", "ml", "the DNN classifier of calolab compare")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: one thread, no contention on a busy machine
    try:
        return _train_dnn(torch, x_tr, y_tr, x_sel, y_sel, seed, epochs)
    finally:
        torch.set_num_threads(threads)


def _train_dnn(
    torch: Any,
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    x_sel: np.ndarray,
    y_sel: np.ndarray,
    seed: int,
    epochs: int,
) -> Any:
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    dim = x_tr.shape[1]
    layers: list[Any] = [torch.nn.Linear(dim, 512), torch.nn.LeakyReLU()]
    for _ in range(2):
        layers += [torch.nn.Linear(512, 512), torch.nn.LeakyReLU()]
    layers.append(torch.nn.Linear(512, 1))
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=2e-4)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    xt, yt = torch.from_numpy(x_tr).float(), torch.from_numpy(y_tr).float()
    xs = torch.from_numpy(x_sel).float()
    batch = min(1000, max(32, len(x_tr) // 8))
    best: tuple[float, dict[str, Any]] | None = None
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), batch):
            idx = order[i : i + batch]
            opt.zero_grad()
            loss = loss_fn(net(xt[idx]).squeeze(1), yt[idx])
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            acc = float(((net(xs).squeeze(1) > 0).numpy() == (y_sel > 0.5)).mean())
        if best is None or acc > best[0]:
            best = (acc, {k: v.clone() for k, v in net.state_dict().items()})
    assert best is not None
    net.load_state_dict(best[1])
    net.eval()

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.sigmoid(net(torch.from_numpy(x).float()).squeeze(1)).double().numpy()

    return predict


def _one_training(
    xa: np.ndarray, xb: np.ndarray, classifier: str, seed: int, dnn_epochs: int
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    n = min(len(xa), len(xb))
    xa = xa[rng.permutation(len(xa))[:n]]
    xb = xb[rng.permutation(len(xb))[:n]]
    parts = [_splits(n, rng), _splits(n, rng)]

    def take(k: int) -> tuple[np.ndarray, np.ndarray]:
        x = np.vstack([xa[parts[0][k]], xb[parts[1][k]]])
        y = np.concatenate([np.zeros(len(parts[0][k])), np.ones(len(parts[1][k]))])
        return x, y

    (x_tr, y_tr), (x_sel, y_sel), (x_te, y_te) = take(0), take(1), take(2)
    mu = x_tr.mean(axis=0)
    sd = x_tr.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    x_tr, x_sel, x_te = ((x - mu) / sd for x in (x_tr, x_sel, x_te))
    if classifier == "gbdt":
        predict = _fit_gbdt(x_tr, y_tr, x_sel, y_sel, seed)
    elif classifier == "dnn":
        predict = _fit_dnn(x_tr, y_tr, x_sel, y_sel, seed, dnn_epochs)
    else:
        raise ConfigError(
            f"unknown classifier {classifier!r}; choose from {', '.join(CLASSIFIERS)}"
        )
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6)
    iso.fit(predict(x_sel), y_sel)
    raw = predict(x_te)
    p = iso.predict(raw)
    pos, neg = p[y_te == 1], p[y_te == 0]
    auc = auc_score(pos, neg)
    bce = -float(np.mean(y_te * np.log(p) + (1 - y_te) * np.log(1 - p)))
    return {
        "auc": auc,
        "auc_raw": auc_score(raw[y_te == 1], raw[y_te == 0]),
        "accuracy": float(np.mean((p > 0.5) == (y_te > 0.5))),
        "jsd": (math.log(2.0) - bce) / math.log(2.0),
        "err": hanley_mcneil_error(auc, len(pos), len(neg)),
        "n_train": float(len(y_tr)),
        "n_test": float(len(y_te)),
    }


def train_classifier(
    xa: np.ndarray,
    xb: np.ndarray,
    *,
    classifier: str = "gbdt",
    features: str = "",
    seed: int = 0,
    repeats: int = 1,
    dnn_epochs: int = 50,
) -> ClassifierResult:
    """Train ``classifier`` to separate the rows of ``xa`` from those of ``xb`` and measure
    its AUC on the test split (see module docstring)."""
    if len(xa) < 10 or len(xb) < 10:
        raise DataError(
            f"too few events to train a classifier ({len(xa)} and {len(xb)}); give >= 10 each "
            "(hundreds for a useful AUC)"
        )
    runs = [_one_training(xa, xb, classifier, seed + r, dnn_epochs) for r in range(repeats)]
    aucs = np.array([r["auc"] for r in runs])
    return ClassifierResult(
        classifier=classifier,
        features=features,
        n_features=int(xa.shape[1]),
        n_train=int(runs[0]["n_train"]),
        n_test=int(runs[0]["n_test"]),
        auc=float(aucs.mean()),
        auc_err=float(np.mean([r["err"] for r in runs]) / math.sqrt(len(runs))),
        auc_spread=float(aucs.std(ddof=1)) if len(runs) > 1 else None,
        auc_uncalibrated=float(np.mean([r["auc_raw"] for r in runs])),
        accuracy=float(np.mean([r["accuracy"] for r in runs])),
        jsd=float(np.mean([r["jsd"] for r in runs])),
        repeats=tuple(float(a) for a in aucs),
    )


# --------------------------------------------------------------------- depth windows
#: Default bounds of the depth windows: the first 10 %, the middle 80 % and the last 10 % of
#: the reference's mean visible energy.
DEPTH_BOUNDS = (0.1, 0.9)


@dataclass(frozen=True)
class DepthWindow:
    """Layers ``first``..``last`` (inclusive) of a depth window, which hold the share
    ``energy_lo``..``energy_hi`` of sample A's cumulative mean visible energy."""

    first: int
    last: int
    energy_lo: float
    energy_hi: float

    @property
    def features(self) -> str:
        return f"layers {self.first}-{self.last}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": self.features,
            "first_layer": self.first,
            "last_layer": self.last,
            "reference_energy": [self.energy_lo, self.energy_hi],
        }


def check_depth_bounds(bounds: Sequence[float]) -> tuple[float, ...]:
    """``bounds`` as floats strictly increasing inside (0, 1); :class:`ConfigError` otherwise."""
    try:
        b = tuple(float(v) for v in bounds)
    except (TypeError, ValueError):
        raise ConfigError(
            f"depth bounds {bounds!r} must be numbers between 0 and 1, e.g. 0.1,0.9"
        ) from None
    if not b or any(not 0.0 < v < 1.0 for v in b) or any(x >= y for x, y in zip(b, b[1:])):
        raise ConfigError(
            f"depth bounds {list(b)} must be strictly increasing fractions of the reference's "
            "energy between 0 and 1, e.g. 0.1,0.9 (first 10 %, middle 80 %, last 10 %)"
        )
    return b


def depth_windows(reference: ShowerSample, bounds: Sequence[float]) -> list[DepthWindow]:
    """The layers of ``reference`` grouped by its cumulative mean visible energy at
    ``bounds`` (see module docstring); windows that hold no layer are left out."""
    b = check_depth_bounds(bounds)
    mean = np.maximum(np.mean(reference.layers / reference.energy[:, None], axis=0), 0.0)
    if mean.sum() <= 0.0:
        raise DataError(f"'{reference.name}' has no visible energy: no depth windows")
    cum = np.cumsum(mean) / mean.sum()
    mid = cum - 0.5 * mean / mean.sum()
    which = np.searchsorted(np.asarray(b), mid, side="right")
    edges = (0.0, *b, 1.0)
    out = []
    for w in range(len(edges) - 1):
        idx = np.flatnonzero(which == w)
        if idx.size:
            out.append(DepthWindow(int(idx[0]), int(idx[-1]), edges[w], edges[w + 1]))
    return out


def depth_window_features(sample: ShowerSample, window: DepthWindow) -> np.ndarray:
    """Classifier inputs of one depth window: log10(E_layer/E_inc + 1e-8) of its layers
    (float32)."""
    return _log_fractions(sample)[:, window.first : window.last + 1].astype(np.float32)


# ------------------------------------------------------------------------- response matching
@dataclass(frozen=True)
class ResponseMatch:
    """B's energies multiplied by ``factor`` (± ``error``) so that its mean response
    E_vis/E_inc equals A's (``response_a``; B's before: ``response_b``)."""

    factor: float
    error: float
    response_a: float
    response_b: float

    def to_dict(self) -> dict[str, float]:
        return dict(asdict(self))


def _mean_response(sample: ShowerSample) -> tuple[float, float]:
    r = sample.total / sample.energy
    if len(r) < 2 or not np.all(np.isfinite(r)) or float(np.mean(r)) <= 0.0:
        raise DataError(
            f"'{sample.name}' has no positive mean visible energy over {len(r)} events: its "
            "response cannot be matched (drop --match-response)"
        )
    return float(np.mean(r)), float(np.std(r, ddof=1) / math.sqrt(len(r)))


def response_match(a: ShowerSample, b: ShowerSample) -> ResponseMatch:
    """The factor k = ⟨E_vis/E_inc⟩_A / ⟨E_vis/E_inc⟩_B and its error (the two means'
    standard errors, added in quadrature relative to each mean)."""
    ra, ea = _mean_response(a)
    rb, eb = _mean_response(b)
    k = ra / rb
    return ResponseMatch(k, k * math.hypot(ea / ra, eb / rb), ra, rb)


# ------------------------------------------------------------------------- the result
@dataclass(frozen=True)
class ShowerComparison:
    """Everything ``calolab compare`` measures (JSON: :meth:`to_dict`)."""

    a: dict[str, Any]
    b: dict[str, Any]
    low_level: str
    shape_features: tuple[str, ...]
    classifiers: tuple[ClassifierResult, ...]
    separation: dict[str, float]
    separation_noise: dict[str, float]
    seed: int
    plots: tuple[str, ...] = field(default_factory=tuple)
    depth_windows: tuple[DepthWindow, ...] = ()
    response_match: ResponseMatch | None = None

    def auc(self, classifier: str, features: str) -> float:
        for r in self.classifiers:
            if r.classifier == classifier and r.features == features:
                return r.auc
        raise KeyError(f"no {classifier} result on {features} features")

    def worst_separation(self, n: int = 10) -> list[tuple[str, float, float]]:
        """The ``n`` histograms that separate most: (name, S, S expected if identical)."""
        items = sorted(self.separation.items(), key=lambda kv: -kv[1])[:n]
        return [(k, v, self.separation_noise[k]) for k, v in items]

    def to_dict(self) -> dict[str, Any]:
        from calolab.core.provenance import package_version

        return {
            "task": "shower-comparison",
            "calolab_version": package_version(),
            "seed": self.seed,
            "a": self.a,
            "b": self.b,
            "low_level": self.low_level,
            "shape_features": list(self.shape_features),
            "classifiers": [r.to_dict() for r in self.classifiers],
            "separation_power": self.separation,
            "separation_power_if_identical": self.separation_noise,
            "depth_windows": [w.to_dict() for w in self.depth_windows],
            "response_match": (
                None if self.response_match is None else self.response_match.to_dict()
            ),
            "plots": list(self.plots),
        }


def compare_samples(
    a: ShowerSample,
    b: ShowerSample,
    *,
    classifiers: Sequence[str] = ("gbdt",),
    feature_sets: Sequence[str] = FEATURE_SETS,
    seed: int = 0,
    repeats: int = 1,
    dnn_epochs: int = 50,
    depth_bounds: Sequence[float] | None = None,
    match_response: bool = False,
) -> ShowerComparison:
    """Compare two samples: classifier AUCs on each feature set (and, with ``depth_bounds``,
    on each depth window of the profile) and the separation power of every high-level
    histogram (see module docstring). With ``match_response`` B's energies are first scaled
    to A's mean response (:func:`response_match`; the factor is in the result)."""
    for c in classifiers:
        if c not in CLASSIFIERS:
            raise ConfigError(f"unknown classifier {c!r}; choose from {', '.join(CLASSIFIERS)}")
    for f in feature_sets:
        if f not in FEATURE_SETS:
            raise ConfigError(f"unknown feature set {f!r}; choose from {', '.join(FEATURE_SETS)}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"repeats {repeats!r} must be an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed {seed!r} must be an integer >= 0")
    if depth_bounds is not None:
        check_depth_bounds(depth_bounds)
    _check_pair(a, b)
    b_described = b.describe()
    matched = None
    if match_response:
        matched = response_match(a, b)
        if matched.response_a > SAMPLING_RESPONSE_MAX:
            log.warning(
                "'%s' sees %.4f of the incident energy on average: a homogeneous calorimeter, "
                "whose response differs from that of '%s' by leakage, not by a calibration; "
                "scaling moves showers above E_inc. Compare without matching the response.",
                a.name,
                matched.response_a,
                b.name,
            )
        b = b.scaled(matched.factor)
    shapes = common_shapes(a, b)
    low = low_level_kind(a, b)
    results = []
    for f in feature_sets:
        xa, _ = feature_matrix(a, f, shapes, low)
        xb, _ = feature_matrix(b, f, shapes, low)
        for c in classifiers:
            log.info("training %s on %s features (%d columns)", c, f, xa.shape[1])
            results.append(
                train_classifier(
                    xa,
                    xb,
                    classifier=c,
                    features=f,
                    seed=seed,
                    repeats=repeats,
                    dnn_epochs=dnn_epochs,
                )
            )
    windows = depth_windows(a, depth_bounds) if depth_bounds is not None else []
    for w in windows:
        xa, xb = depth_window_features(a, w), depth_window_features(b, w)
        for c in classifiers:
            log.info("training %s on %s", c, w.features)
            results.append(
                train_classifier(
                    xa,
                    xb,
                    classifier=c,
                    features=w.features,
                    seed=seed,
                    repeats=repeats,
                    dnn_epochs=dnn_epochs,
                )
            )
    ha, hb = histogram_features(a, shapes), histogram_features(b, shapes)
    sep: dict[str, float] = {}
    noise: dict[str, float] = {}
    for k, (x, _) in ha.items():
        y = hb[k][0]
        edges = common_bins(x, y)
        sep[k] = separation_power(x, y, edges)
        noise[k] = separation_noise(x, y, edges)
    return ShowerComparison(
        a=a.describe(),
        b=b_described,
        low_level=low,
        shape_features=shapes,
        classifiers=tuple(results),
        separation=sep,
        separation_noise=noise,
        seed=seed,
        depth_windows=tuple(windows),
        response_match=matched,
    )


def write_comparison(
    result: ShowerComparison,
    a: ShowerSample,
    b: ShowerSample,
    out_dir: str | os.PathLike[str],
    *,
    plots: bool = True,
) -> ShowerComparison:
    """Write ``compare.json`` (and, with ``plots``, the overlaid distributions with ratio
    panels as PNG files) into ``out_dir``; returns the result with the plot names."""
    from calolab.core.files import check_output_dir, write_json

    d = check_output_dir(out_dir, what="compare output directory")
    d.mkdir(parents=True, exist_ok=True)
    names: tuple[str, ...] = ()
    if result.response_match is not None:
        b = b.scaled(result.response_match.factor)
    if plots:
        from calolab.evaluation.shower_plots import plot_comparison

        names = tuple(p.name for p in plot_comparison(a, b, result, d))
    result = ShowerComparison(**{**result.__dict__, "plots": names})
    write_json(Path(d) / "compare.json", result.to_dict())
    return result
