"""Energy regression for the demo: the four models of the design course and their evaluation.

Models (inputs: the visible energy of each readout layer, GeV, shape ``(N, layers)``):

* ``sum``: the sum of all cells, uncalibrated (the course's baseline);
* ``linear``: α·sum + β, least squares in closed form;
* ``per-layer``: one weight per layer plus a bias, least squares in closed form (a linear
  network without hidden layer at its optimum);
* ``mlp``: a multilayer perceptron (GELU, dropout, Softplus output) on the layer fractions
  and log of the sum, predicting a correction factor to the calibrated sum, trained with the
  course's relative loss mean((E_pred − E_true)²/E_true), AdamW, early stopping on a 10 %
  validation split.

Evaluation follows the course and calorimeter papers: in bins of true energy, the response
⟨E_pred/E_true⟩ and the resolution σ/μ of the Gaussian core of E_pred/E_true (iterated
±2σ truncation, corrected for the truncation), then a fit of σ/E = a/√E ⊕ b/E ⊕ c (iminuit).

Files follow the contract of ``calolab train`` / ``calolab evaluate`` (issue 3): a run
directory holds ``config.json``, ``history.csv`` (epoch, train_loss, val_loss, lr, seconds),
``summary.json`` and the model; an evaluation directory holds ``metrics.json``.
This module is the demo's own, minimal implementation of that contract; it gives way to
:mod:`calolab.training` and :mod:`calolab.evaluation` once they exist.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calolab.errors import ConfigError, DataError

log = logging.getLogger(__name__)

MODELS = ("sum", "linear", "per-layer", "mlp")
#: Width of a 2σ-truncated unit Gaussian: std of N(0, 1) restricted to |x| < 2.
TRUNCATED_2SIGMA_STD = 0.879569
#: Fewest events for an energy bin to be fitted.
MIN_BIN_EVENTS = 30


@dataclass(frozen=True)
class MLPConfig:
    """Hyper-parameters of the MLP (the design course's regressor, scaled to the demo)."""

    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    max_epochs: int = 150
    patience: int = 20
    val_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ConfigError(f"mlp hidden {self.hidden!r} must be positive layer widths")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"mlp dropout {self.dropout} must be in [0, 1)")
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"mlp val_fraction {self.val_fraction} must be in (0, 0.5)")
        for name in ("batch_size", "max_epochs", "patience"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"mlp {name} {v!r} must be an integer >= 1")


# ---------------------------------------------------------------------------- models
@dataclass(frozen=True)
class LinearModel:
    """E_pred = features @ weights + bias, for ``sum``, ``linear`` and ``per-layer``."""

    kind: str
    weights: tuple[float, ...]
    bias: float

    def predict(self, layers: np.ndarray) -> np.ndarray:
        """Predicted energy (GeV), shape (N,), from layer energies (GeV), shape (N, L)."""
        x = _features(self.kind, layers)
        if x.shape[1] != len(self.weights):
            raise DataError(
                f"model '{self.kind}' expects {len(self.weights)} features, the data give "
                f"{x.shape[1]}; train and test on the same detector"
            )
        return x @ np.asarray(self.weights) + self.bias


def _features(kind: str, layers: np.ndarray) -> np.ndarray:
    if kind in ("sum", "linear"):
        return layers.sum(axis=1, keepdims=True)
    return layers


def fit_linear(kind: str, layers: np.ndarray, energy: np.ndarray) -> LinearModel:
    """Closed-form least-squares fit of ``sum`` (no fit: weight 1, bias 0), ``linear``
    (α·sum + β) or ``per-layer`` (one weight per layer + bias, small ridge term so that
    layers that never see energy get weight 0)."""
    if kind == "sum":
        return LinearModel("sum", (1.0,), 0.0)
    x = _features(kind, layers)
    a = np.hstack([x, np.ones((len(x), 1))])
    if kind == "linear":
        coef, *_ = np.linalg.lstsq(a, energy, rcond=None)
    elif kind == "per-layer":
        ridge = 1e-6 * np.trace(a.T @ a) / a.shape[1]
        reg = ridge * np.eye(a.shape[1])
        reg[-1, -1] = 0.0
        coef = np.linalg.solve(a.T @ a + reg, a.T @ energy)
    else:
        raise ConfigError(f"unknown linear model {kind!r}; choose sum, linear or per-layer")
    return LinearModel(kind, tuple(float(c) for c in coef[:-1]), float(coef[-1]))


def _mlp_inputs(layers: np.ndarray, log_mean: float, log_std: float) -> np.ndarray:
    s = np.maximum(layers.sum(axis=1, keepdims=True), 1e-9)
    return np.hstack([layers / s, (np.log(s) - log_mean) / log_std]).astype(np.float32)


def train_mlp(
    layers: np.ndarray,
    energy: np.ndarray,
    config: MLPConfig,
    run_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train the MLP, writing ``history.csv`` as it goes and ``model.pt`` at the best epoch.

    Parameters
    ----------
    layers:
        Layer energies (GeV), shape (N, L).
    energy:
        True energies (GeV), shape (N,).

    Returns the summary (best epoch, losses, parameters, time).
    """

    from calolab.errors import require

    require("torch", "ml", "training the demo's MLP")
    with _threads(1):  # a small network: more threads only add overhead on a busy machine
        return _train_mlp(layers, energy, config, run_dir, progress)


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads, restoring the previous number afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train_mlp(
    layers: np.ndarray,
    energy: np.ndarray,
    config: MLPConfig,
    run_dir: Path,
    progress: Callable[[int], None] | None,
) -> dict[str, Any]:
    import torch

    gen = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    n = len(energy)
    perm = rng.permutation(n)
    n_val = max(1, int(round(config.val_fraction * n)))
    val, tr = perm[:n_val], perm[n_val:]
    s = np.maximum(layers.sum(axis=1), 1e-9)
    calib = float(np.mean(energy[tr]) / np.mean(s[tr]))  # global scale: E ≈ calib · sum
    logs = np.log(s[tr])
    log_mean, log_std = float(logs.mean()), float(max(logs.std(), 1e-3))
    x = torch.from_numpy(_mlp_inputs(layers, log_mean, log_std))
    y = torch.from_numpy(energy.astype(np.float32))
    base = torch.from_numpy((calib * s).astype(np.float32))
    model = build_mlp(x.shape[1], config)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def loss_fn(idx: torch.Tensor) -> torch.Tensor:
        pred = base[idx] * model(x[idx]).squeeze(1)
        return torch.mean((pred - y[idx]) ** 2 / y[idx])

    tr_t, val_t = torch.from_numpy(tr), torch.from_numpy(val)
    best, best_epoch, bad = math.inf, 0, 0
    run_dir.mkdir(parents=True, exist_ok=True)
    hist_path = run_dir / "history.csv"
    t_start = time.perf_counter()
    with open(hist_path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "train_loss", "val_loss", "lr", "seconds"])
        for epoch in range(1, config.max_epochs + 1):
            t0 = time.perf_counter()
            model.train()
            order = tr_t[torch.randperm(len(tr_t), generator=gen)]
            total = 0.0
            for k in range(0, len(order), config.batch_size):
                idx = order[k : k + config.batch_size]
                opt.zero_grad()
                loss = loss_fn(idx)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                opt.step()
                total += loss.item() * len(idx)
            model.eval()
            with torch.no_grad():
                v = float(loss_fn(val_t))
            w.writerow(
                [
                    epoch,
                    f"{total / len(tr):.6g}",
                    f"{v:.6g}",
                    config.lr,
                    f"{time.perf_counter() - t0:.4f}",
                ]
            )
            fh.flush()
            if progress:
                progress(1)
            if v < best - 1e-7:
                best, best_epoch, bad = v, epoch, 0
                torch.save(model.state_dict(), run_dir / "model.pt")
            else:
                bad += 1
                if bad >= config.patience:
                    if progress:
                        progress(config.max_epochs - epoch)
                    break
    norm = {"calib": calib, "log_mean": log_mean, "log_std": log_std}
    (run_dir / "normalisation.json").write_text(json.dumps(norm, indent=2))
    return {
        "best_epoch": best_epoch,
        "best_val_loss": best,
        "epochs": epoch,
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
        "train_seconds": time.perf_counter() - t_start,
        "n_train": int(len(tr)),
        "n_val": int(n_val),
        **norm,
    }


def build_mlp(n_inputs: int, config: MLPConfig) -> Any:
    """The MLP: Linear–GELU–Dropout blocks and a Softplus output (a positive factor that
    starts near 1, so training begins from the calibrated sum)."""
    import torch

    layers: list[Any] = []
    width = n_inputs
    for h in config.hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.GELU(), torch.nn.Dropout(config.dropout)]
        width = h
    out = torch.nn.Linear(width, 1)
    torch.nn.init.zeros_(out.weight)
    torch.nn.init.constant_(out.bias, math.log(math.e - 1.0))  # softplus(b) = 1
    layers += [out, torch.nn.Softplus()]
    return torch.nn.Sequential(*layers)


def predict_mlp(run_dir: Path, layers: np.ndarray) -> np.ndarray:
    """Predicted energy (GeV), shape (N,), of the MLP saved in ``run_dir``."""
    import torch

    cfg = json.loads((run_dir / "config.json").read_text())
    norm = json.loads((run_dir / "normalisation.json").read_text())
    mcfg = MLPConfig(**{**cfg["mlp"], "hidden": tuple(cfg["mlp"]["hidden"])})
    x = torch.from_numpy(_mlp_inputs(layers, norm["log_mean"], norm["log_std"]))
    if x.shape[1] != cfg["n_inputs"]:
        raise DataError(
            f"the MLP in '{run_dir}' takes {cfg['n_inputs'] - 1} layers, the data have "
            f"{x.shape[1] - 1}; train and test on the same detector"
        )
    model = build_mlp(x.shape[1], mcfg)
    model.load_state_dict(torch.load(run_dir / "model.pt", weights_only=True))
    model.eval()
    with torch.no_grad():
        f = model(x).squeeze(1).numpy().astype(np.float64)
    return norm["calib"] * np.maximum(layers.sum(axis=1), 1e-9) * f


# ---------------------------------------------------------------------------- runs
def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def train(
    kind: str,
    layers: np.ndarray,
    energy: np.ndarray,
    run_dir: str | os.PathLike[str],
    *,
    detector: str,
    data: str,
    data_hash: str,
    mlp: MLPConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train one model and write its run directory (config, history, summary, model)."""
    from calolab import __version__

    if kind not in MODELS:
        raise ConfigError(f"unknown model {kind!r}; choose one of {', '.join(MODELS)}")
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    mcfg = mlp or MLPConfig()
    config: dict[str, Any] = {
        "model": kind,
        "detector": detector,
        "data": data,
        "data_hash": data_hash,
        "n_inputs": int(layers.shape[1] + 1) if kind == "mlp" else int(layers.shape[1]),
        "loss": "rel" if kind == "mlp" else "mse (closed form)",
        "calolab_version": __version__,
    }
    if kind == "mlp":
        config["mlp"] = {**asdict(mcfg), "hidden": list(mcfg.hidden)}
    config["config_hash"] = _hash(config)
    (run / "config.json").write_text(json.dumps(config, indent=2))
    t0 = time.perf_counter()
    if kind == "mlp":
        summary = train_mlp(layers, energy, mcfg, run, progress)
    else:
        model = fit_linear(kind, layers, energy)
        pred = model.predict(layers)
        loss = float(np.mean((pred - energy) ** 2))
        (run / "model.json").write_text(json.dumps(asdict(model), indent=2))
        with open(run / "history.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["epoch", "train_loss", "val_loss", "lr", "seconds"])
            w.writerow([1, f"{loss:.6g}", "", "", f"{time.perf_counter() - t0:.4f}"])
        summary = {"epochs": 1, "train_mse": loss, "n_parameters": len(model.weights) + 1}
        if kind != "sum":
            summary["weights"] = list(model.weights) if kind == "linear" else None
            summary["bias"] = model.bias
        if progress:
            progress(1)
    summary = {"model": kind, "detector": detector, **summary}
    summary["seconds"] = time.perf_counter() - t0
    (run / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def predict(run_dir: str | os.PathLike[str], layers: np.ndarray) -> np.ndarray:
    """Predicted energies (GeV), shape (N,), of the model in a run directory."""
    run = Path(run_dir)
    cfg = json.loads((run / "config.json").read_text())
    if cfg["model"] == "mlp":
        return predict_mlp(run, layers)
    m = json.loads((run / "model.json").read_text())
    return LinearModel(m["kind"], tuple(m["weights"]), m["bias"]).predict(layers)


# ---------------------------------------------------------------------------- evaluation
def gaussian_core(r: np.ndarray, n_iter: int = 6) -> tuple[float, float]:
    """Mean and width of the Gaussian core of ``r``: start from the median and the
    half-width of the central 68 %, then iterate mean/std within ±2σ, with the std divided
    by the width of a 2σ-truncated Gaussian (0.8796)."""
    mu = float(np.median(r))
    q16, q84 = np.percentile(r, [15.87, 84.13])
    sig = float(max((q84 - q16) / 2, 1e-12))
    for _ in range(n_iter):
        core = r[np.abs(r - mu) < 2 * sig]
        if len(core) < 5:
            break
        mu = float(core.mean())
        sig = float(max(core.std(ddof=1) / TRUNCATED_2SIGMA_STD, 1e-12))
    return mu, sig


def energy_bins(
    energy: np.ndarray, max_bins: int = 12, min_events: int = MIN_BIN_EVENTS
) -> np.ndarray:
    """Bin edges (GeV): geometric between the lowest and highest energy, at most ``max_bins``,
    neighbours merged until each bin holds ``min_events``."""
    lo, hi = float(energy.min()), float(energy.max())
    n = int(max(2, min(max_bins, len(energy) // (2 * min_events))))
    edges = list(np.geomspace(lo, hi * (1 + 1e-9), n + 1))
    while len(edges) > 2:
        counts = np.histogram(energy, bins=edges)[0]
        k = int(np.argmin(counts))
        if counts[k] >= min_events:
            break
        drop = (
            k + 1
            if k == 0
            else (k if k == len(counts) - 1 or counts[k - 1] < counts[k + 1] else k + 1)
        )
        del edges[drop]
    return np.asarray(edges)


def fit_resolution(e: np.ndarray, res: np.ndarray, err: np.ndarray) -> dict[str, float] | None:
    """Least-squares fit of σ/E = a/√E ⊕ b/E ⊕ c to binned resolutions (iminuit)."""
    from iminuit import Minuit
    from iminuit.cost import LeastSquares

    ok = np.isfinite(res) & np.isfinite(err) & (err > 0)
    if ok.sum() < 3:
        return None

    def model(x: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
        return np.sqrt(a**2 / x + (b / x) ** 2 + c**2)

    cost = LeastSquares(e[ok], res[ok], err[ok], model)
    a0 = float(np.median(res[ok] * np.sqrt(e[ok])))
    m = Minuit(cost, a=a0, b=0.01, c=0.01)
    m.limits["a"] = (0, None)
    m.limits["b"] = (0, None)
    m.limits["c"] = (0, None)
    m.migrad()
    m.hesse()
    ndf = int(ok.sum() - 3)
    return {
        "a": float(m.values["a"]),
        "a_err": float(m.errors["a"]),
        "b": float(m.values["b"]),
        "b_err": float(m.errors["b"]),
        "c": float(m.values["c"]),
        "c_err": float(m.errors["c"]),
        "chi2": float(m.fval),
        "ndf": ndf,
    }


def evaluate(
    pred: np.ndarray,
    energy: np.ndarray,
    *,
    model: str,
    dataset: str,
    detector: str,
    particles: str,
    max_bins: int = 12,
) -> dict[str, Any]:
    """Metrics of predicted vs true energies (GeV, shape (N,)) as ``metrics.json`` data."""
    d = pred - energy
    rel = d / energy
    r = pred / energy
    bins = []
    edges = energy_bins(energy, max_bins)
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (energy >= lo) & (energy < hi)
        n = int(m.sum())
        if n < 5:
            continue
        mu, sig = gaussian_core(r[m])
        n_core = max(int(np.sum(np.abs(r[m] - mu) < 2 * sig)), 2)
        res = sig / mu if mu > 0 else math.nan
        res_err = res / math.sqrt(2 * n_core) if mu > 0 else math.nan
        bins.append(
            {
                "e_lo": float(lo),
                "e_hi": float(hi),
                "e_mean": float(energy[m].mean()),
                "n": n,
                "response": mu,
                "response_err": sig / math.sqrt(n_core),
                "resolution": res,
                "resolution_err": res_err,
                "mu": float(d[m].mean()),
                "sigma": float(d[m].std(ddof=1)),
                "mu_rel": float(rel[m].mean()),
                "sigma_rel": float(rel[m].std(ddof=1)),
            }
        )
    fit = (
        fit_resolution(
            np.array([b["e_mean"] for b in bins]),
            np.array([b["resolution"] for b in bins]),
            np.array([b["resolution_err"] for b in bins]),
        )
        if bins
        else None
    )
    out: dict[str, Any] = {
        "task": "regression",
        "model": model,
        "dataset": dataset,
        "detector": detector,
        "particles": particles,
        "n_events": int(len(energy)),
        "rmse": float(np.sqrt(np.mean(d**2))),
        "mae": float(np.mean(np.abs(d))),
        "mu": float(d.mean()),
        "sigma": float(d.std(ddof=1)),
        "mu_rel": float(rel.mean()),
        "sigma_rel": float(rel.std(ddof=1)),
        "bins": bins,
    }
    if fit is not None:
        out["fit"] = fit
    return out
