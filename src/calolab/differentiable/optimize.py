"""Joint optimisation of a calorimeter design and its energy reconstruction (MODE).

The claim tested (MODE collaboration, Dorigo et al., Rev. Phys. 10 (2023) 100085): optimising
the detector and its reconstruction *together* can reach a better utility than optimising the
detector for a fixed reconstruction and re-training the reconstruction afterwards. Here both
are done by gradient descent through :class:`~calolab.differentiable.TorchSimulator`:

* **Design**: the continuous parameters of a :class:`DesignSpace` (layer thicknesses and the
  number of periods, relaxed to a real number), each kept inside its range by projection
  after every step; the length limit enters the loss as a smooth penalty, zero inside and
  ``penalty · (excess/limit)²`` outside (as TomOpt's budget term).
* **Reconstruction**: E_reco = c · Σ_r w(u_r) · E_r, with E_r the visible energy of readout
  layer r, u_r ∈ [0, 1] its relative depth (in X0) and w(u) = exp(a1 u + a2 u²) a smooth
  longitudinal weighting — it works for any number of layers, so it follows the design while
  the number of periods changes. c is the global calibration, set in closed form on every
  batch (c = Σ r / Σ r², r = Σ_r w E_r / E, pooled over the energies), so the loss is that
  of the best-calibrated reconstruction and its gradient includes c's dependence on the
  design.
* **Loss**: the mean squared relative error ((E_reco - E)/E)² over the training energies
  (a resolution-aware loss: it is σ²/E² plus the squared bias) + the penalty.
* **Steps**: Adam on both (learning rates ``lr_design`` for the design, in units of each
  parameter's range, and ``lr_reco``); every step simulates fresh events (new seed per step);
  the design with the lowest loss (on its step's events) is kept.

The *factorised* baseline optimises the design with the reconstruction fixed to the plain
calibrated sum (w = 1; only c is fitted, so the design is judged by the resolution of the
plain sum), then re-trains the full reconstruction on the final design.

:func:`compare` then measures both final designs — integer periods — with the **reference**
(numba) simulator on fresh events, fits each design's reconstruction on one half and reports
the resolution on the other half: the utility of each optimum, measured honestly.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from calolab.core.errors import ConfigError
from calolab.differentiable.design import DesignParameters
from calolab.differentiable.simulator import TorchSimulator
from calolab.geometry.detector import Calorimeter, Layer, Section

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bound:
    """Range of one continuous parameter: ``<section>.thickness.<i>`` (cm) or
    ``<section>.periods``."""

    name: str
    low: float
    high: float


@dataclass(frozen=True)
class DesignSpace:
    """A template detector, the ranges of its free parameters and a length limit (cm)."""

    name: str
    template: Calorimeter
    bounds: tuple[Bound, ...]
    max_length_cm: float
    #: A budget (CHF) and the differentiable cost it limits (``cost(design) -> tensor``,
    #: e.g. :func:`calolab.optimization.gradspace.cost_tensor`); ``None``: no budget.
    budget_chf: float | None = None
    cost: Callable[[DesignParameters], torch.Tensor] | None = None
    #: Material choices relaxed through logits, optimised with the thicknesses:
    #: ``{(section, pattern index): (candidate materials...)}`` (the template's first).
    materials: dict[tuple[str, int], tuple[str, ...]] | None = None

    def check(self) -> None:
        if self.budget_chf is not None and self.cost is None:
            raise ConfigError(f"space '{self.name}': a budget needs a cost function")
        for b in self.bounds:
            if not b.low < b.high:
                raise ConfigError(
                    f"space '{self.name}': parameter {b.name} has the reversed or empty range "
                    f"[{b.low}, {b.high}]; give low < high"
                )


def pbscint_ecal_space() -> DesignSpace:
    """A Pb/scintillator sampling ECAL (3 cm cells, 30 × 30 cm): lead and scintillator
    thickness (0.1–1.2 cm each) and number of periods (10–60), at most 30 cm long."""
    sec = Section("ecal", [Layer("Pb", 0.4), Layer("polystyrene", 0.4, sensitive=True)], 30, 3.0)
    det = Calorimeter("pbscint_ecal", (30.0, 30.0), [sec])
    return DesignSpace(
        "pbscint-ecal",
        det,
        (
            Bound("ecal.thickness.0", 0.1, 1.2),
            Bound("ecal.thickness.1", 0.1, 1.2),
            Bound("ecal.periods", 10.0, 60.0),
        ),
        max_length_cm=30.0,
    )


SPACES = {"pbscint-ecal": pbscint_ecal_space}


def get_space(name: str) -> DesignSpace:
    try:
        return SPACES[name]()
    except KeyError:
        raise ConfigError(
            f"unknown design space {name!r}; built-in spaces: {', '.join(sorted(SPACES))}"
        ) from None


@dataclass(frozen=True)
class JointConfig:
    """Settings of a gradient-based optimisation (see module docstring)."""

    particle: str = "e-"
    energies: tuple[float, ...] = (5.0, 20.0, 50.0)
    events: int = 150
    steps: int = 40
    lr_design: float = 0.03
    lr_reco: float = 0.05
    penalty: float = 10.0
    seed: int = 1
    device: str = "cpu"

    def check(self) -> None:
        if self.steps < 1 or self.events < 2:
            raise ConfigError(f"steps {self.steps} must be >= 1 and events {self.events} >= 2")
        if not self.energies or min(self.energies) <= 0:
            raise ConfigError(f"energies {self.energies} must be positive GeV values")
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise ConfigError(f"device {self.device!r} must be cpu or cuda")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(
                f"device {self.device!r}: no CUDA device is available here; use --device cpu"
            )


class Reconstruction(torch.nn.Module):
    """E_reco = exp(log_c) · Σ_r exp(a1 u_r + a2 u_r²) E_r (see module docstring)."""

    def __init__(self, weighted: bool = True, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.log_c = torch.nn.Parameter(torch.zeros((), dtype=dtype))
        self.a = torch.nn.Parameter(torch.zeros(2, dtype=dtype), requires_grad=weighted)

    def uncalibrated(self, layers: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """Σ_r w(u_r) E_r, shape ``(n_events,)``."""
        w = torch.exp(self.a[0] * depth + self.a[1] * depth * depth)
        return (layers * w[None, :]).sum(1)

    def forward(self, layers: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.log_c) * self.uncalibrated(layers, depth)


def _layer_depth(design: DesignParameters) -> torch.Tensor:
    """Relative depth (X0) of the centre of every readout layer of ``design``, in [0, 1]."""
    from calolab.differentiable.design import section_tables

    depths, t = [], torch.zeros((), dtype=design.dtype)
    for tb in section_tables(design):
        for k in range(tb.n_slots):
            lo = t
            t = t + tb.frac[k] * tb.period_x0
            for sen in tb.sensitive:
                if sen:
                    depths.append(0.5 * (lo + t))
    d = torch.stack(depths)
    return (d / t).detach()


def _apply(design: DesignParameters, values: dict[str, torch.Tensor]) -> None:
    for name, v in values.items():
        sec, kind, *rest = name.split(".")
        if kind == "periods":
            design.periods[sec] = v
        else:
            th = design.thickness[sec]
            idx = int(rest[0])
            design.thickness[sec] = torch.cat([th[:idx], v[None], th[idx + 1 :]])


def _length(design: DesignParameters) -> torch.Tensor:
    return sum(design.thickness[s].sum() * design.periods[s] for s in design.thickness)  # type: ignore[return-value]


@dataclass
class JointResult:
    """Outcome of one optimisation: the best design, its parameters and the loss history."""

    method: str
    parameters: dict[str, float]
    loss_history: list[float]
    best_loss: float
    best_step: int
    showers_simulated: int
    detector: Calorimeter = field(repr=False)
    reconstruction: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("detector")
        d["detector"] = self.detector.to_dict()
        return d


#: Adam learning rate of the material logits.
LR_LOGITS = 0.1


def _template(space: DesignSpace, config: JointConfig) -> DesignParameters:
    return DesignParameters(
        space.template, space.materials, dtype=torch.float32, device=config.device
    )


def _choices(logits: dict[tuple[str, int], torch.Tensor]) -> dict[str, float]:
    """``{"<section>.<index>.choice": index of the most probable candidate}``."""
    return {
        f"{sec}.{idx}.choice": float(int(lg.detach().argmax())) for (sec, idx), lg in logits.items()
    }


#: ``callback(step, values, loss)`` after every step: the parameters the step *used*
#: (by bound name; for relaxed materials ``"<section>.<index>.choice"``, the index of the
#: most probable candidate) and its total loss.
StepCallback = Callable[[int, dict[str, float], float], None]


def optimize_design(
    space: DesignSpace,
    config: JointConfig = JointConfig(),
    *,
    joint: bool = True,
    callback: StepCallback | None = None,
) -> JointResult:
    """Gradient descent over the design (and, when ``joint``, the longitudinal weights of the
    reconstruction; otherwise only its calibration constant). See the module docstring.

    The loss is the reconstruction loss plus ``penalty`` × (relative excess)² of the length
    over ``space.max_length_cm`` and, with a budget, of ``space.cost`` over
    ``space.budget_chf`` (zero inside, rising quadratically outside). ``callback`` is called
    after every step (e.g. to measure the design with the reference simulator)."""
    space.check()
    config.check()
    base = _template(space, config)
    start = {b.name: _value(base, b.name) for b in space.bounds}
    # optimise in units of each range: x = (value - low)/(high - low)
    # every tensor of the step on the design's device (``config.device``)
    dev = base.device
    x = torch.tensor(
        [(start[b.name] - b.low) / (b.high - b.low) for b in space.bounds],
        device=dev,
        requires_grad=True,
    )
    reco = Reconstruction(weighted=joint).to(dev)
    logits = {
        (sec, idx): base.logits[sec][idx].detach().clone().requires_grad_(True)
        for (sec, idx) in (space.materials or {})
    }
    groups: list[dict[str, Any]] = [{"params": [x], "lr": config.lr_design}]
    if logits:
        groups.append({"params": list(logits.values()), "lr": LR_LOGITS})
    opt_d = torch.optim.Adam(groups)
    opt_r = torch.optim.Adam([reco.a], lr=config.lr_reco) if joint else None
    lo = torch.tensor([b.low for b in space.bounds], device=dev)
    span = torch.tensor([b.high - b.low for b in space.bounds], device=dev)
    history: list[float] = []
    best: tuple[float, int, torch.Tensor, dict[str, float], dict[str, float]] = (
        math.inf,
        -1,
        x.detach().clone(),
        {},
        _choices(logits),
    )
    best_logits = {k: v.detach().clone() for k, v in logits.items()}
    showers = 0
    for step in range(config.steps):
        design = _template(space, config)
        values = lo + span * x
        _apply(design, {b.name: values[i] for i, b in enumerate(space.bounds)})
        for (sec, idx), lg in logits.items():
            design.logits[sec][idx] = lg
        choices = _choices(logits)
        loss = _loss(design, reco, config, seed=config.seed * 100_003 + step)
        showers += config.events * len(config.energies)
        length = _length(design)
        excess = torch.relu(length - space.max_length_cm) / space.max_length_cm
        total = loss + config.penalty * excess**2
        if space.budget_chf is not None and space.cost is not None:
            over = torch.relu(space.cost(design) - space.budget_chf) / space.budget_chf
            total = total + config.penalty * over**2
        opt_d.zero_grad()
        if opt_r is not None:
            opt_r.zero_grad()
        total.backward()
        opt_d.step()
        if opt_r is not None:
            opt_r.step()
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
        history.append(float(total.detach()))
        if float(total.detach()) < best[0]:
            best = (float(total.detach()), step, values.detach().clone(), _reco_dict(reco), choices)
            best_logits = {k: v.detach().clone() for k, v in logits.items()}
        log.info(
            "step %d: loss %.5f length %.1f cm", step, float(total.detach()), float(length.detach())
        )
        if callback is not None:
            callback(
                step,
                {b.name: float(values[i].detach()) for i, b in enumerate(space.bounds)} | choices,
                float(total.detach()),
            )
    best_values = best[2]
    design = _template(space, config)
    _apply(design, {b.name: best_values[i] for i, b in enumerate(space.bounds)})
    for (sec, idx), lg in best_logits.items():
        design.logits[sec][idx] = lg
    params = {b.name: float(best_values[i]) for i, b in enumerate(space.bounds)} | best[4]
    return JointResult(
        method="joint" if joint else "factorised",
        parameters=params,
        loss_history=history,
        best_loss=best[0],
        best_step=best[1],
        showers_simulated=showers,
        detector=design.to_calorimeter(f"{space.name}-{'joint' if joint else 'factorised'}"),
        reconstruction=best[3],
    )


def _value(design: DesignParameters, name: str) -> float:
    sec, kind, *rest = name.split(".")
    if kind == "periods":
        return float(design.periods[sec].detach())
    return float(design.thickness[sec][int(rest[0])].detach())


def _reco_dict(reco: Reconstruction) -> dict[str, float]:
    return {
        "log_c": float(reco.log_c.detach()),
        "a1": float(reco.a[0].detach()),
        "a2": float(reco.a[1].detach()),
    }


def _loss(
    design: DesignParameters, reco: Reconstruction, config: JointConfig, seed: int
) -> torch.Tensor:
    sim = TorchSimulator(design)
    depth = _layer_depth(design)
    ratios = []
    for i, e in enumerate(config.energies):
        out = sim.simulate(config.particle, e, config.events, seed=seed * 31 + i)
        ratios.append(reco.uncalibrated(out.layers, depth) / e)
    r = torch.cat(ratios)
    c = r.sum() / (r * r).sum()
    with torch.no_grad():
        reco.log_c.fill_(float(torch.log(c)))
    rel = c * r - 1.0
    return (rel * rel).mean()


# ---------------------------------------------------------------------- measurement
@dataclass
class Measured:
    """Resolution of a design with its re-trained reconstruction, measured with the reference
    simulator: σ(E_reco/E)/⟨E_reco/E⟩ per energy on the test half, and their mean."""

    name: str
    resolution: dict[str, float]
    resolution_error: dict[str, float]
    utility: float
    utility_error: float
    length_cm: float
    parameters: dict[str, float]


def measure(
    detector: Calorimeter,
    config: JointConfig,
    events: int = 1000,
    seed: int = 7,
    parameters: dict[str, float] | None = None,
) -> Measured:
    """Simulate ``detector`` with the reference (numba) simulator, train the reconstruction
    (:class:`Reconstruction`, all parameters) on even events and measure the resolution on
    odd ones (see :class:`Measured`). Utility = mean resolution over the energies (lower is
    better)."""
    from calolab.simulation.fast import FastSimulator
    from calolab.simulation.gun import ParticleGun

    sim = FastSimulator(detector)
    depth = torch.tensor(
        [
            0.5 * (r.depth_x0_start + r.depth_x0_end) / detector.depth_x0
            for r in detector.readout_layers
        ]
    )
    data = {}
    for i, e in enumerate(config.energies):
        sh = sim.run(ParticleGun(config.particle, e), events, seed=seed + i)
        cells = sh.cells.astype(np.float64)
        layers = np.stack(
            [cells[:, r.offset : r.offset + r.n_cells].sum(1) for r in detector.readout_layers], 1
        )
        data[e] = torch.tensor(layers, dtype=torch.float32)
    reco = Reconstruction(weighted=True)
    opt = torch.optim.LBFGS(reco.parameters(), lr=0.5, max_iter=200)
    # a first guess of the calibration
    with torch.no_grad():
        ratio = np.mean([float(data[e][::2].sum(1).mean()) / e for e in config.energies])
        reco.log_c.fill_(-math.log(ratio))

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.stack(
            [((reco(data[e][::2], depth) / e - 1.0) ** 2).mean() for e in config.energies]
        ).mean()
        loss.backward()
        return loss

    opt.step(closure)
    res, err = {}, {}
    with torch.no_grad():
        for e in config.energies:
            r = (reco(data[e][1::2], depth) / e).numpy().astype(np.float64)
            n = len(r)
            res[f"{e:g}"] = float(r.std() / r.mean())
            err[f"{e:g}"] = float(r.std() / r.mean() / math.sqrt(2 * (n - 1)))
    vals = np.array(list(res.values()))
    errs = np.array(list(err.values()))
    return Measured(
        name=detector.name,
        resolution=res,
        resolution_error=err,
        utility=float(vals.mean()),
        utility_error=float(np.sqrt((errs**2).sum()) / len(errs)),
        length_cm=detector.depth_cm,
        parameters=parameters or {},
    )


@dataclass
class Comparison:
    """Joint vs factorised optimisation on one space, both measured with the reference
    simulator (see :func:`compare`)."""

    space: str
    config: dict[str, Any]
    joint: Measured
    factorised: Measured
    start: Measured
    joint_history: list[float]
    factorised_history: list[float]
    showers_simulated: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(
    space: DesignSpace, config: JointConfig = JointConfig(), measure_events: int = 1000
) -> Comparison:
    """Run the joint and the factorised optimisation and measure both optima and the start
    design with the reference simulator (module docstring)."""
    j = optimize_design(space, config, joint=True)
    f = optimize_design(space, config, joint=False)
    start = {b.name: _value(_template(space, config), b.name) for b in space.bounds}
    return Comparison(
        space=space.name,
        config=asdict(config),
        joint=measure(j.detector, config, measure_events, parameters=j.parameters),
        factorised=measure(f.detector, config, measure_events, parameters=f.parameters),
        start=measure(space.template, config, measure_events, parameters=start),
        joint_history=j.loss_history,
        factorised_history=f.loss_history,
        showers_simulated=j.showers_simulated + f.showers_simulated,
    )


__all__ = [
    "Bound",
    "Comparison",
    "DesignSpace",
    "JointConfig",
    "JointResult",
    "Measured",
    "Reconstruction",
    "StepCallback",
    "compare",
    "get_space",
    "measure",
    "optimize_design",
    "pbscint_ecal_space",
]
