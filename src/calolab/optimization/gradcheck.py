"""Gradient check of a design space: the torch simulator's autodiff derivatives against
central finite differences of the reference (numba) simulator.

For every continuous parameter of a space at a point (:func:`calolab.optimization.gradspace.relax`;
the centre by default), :func:`gradcheck` returns

* ``autodiff``: the derivative of the quantity through the torch simulator
  (:class:`calolab.differentiable.TorchSimulator`), averaged over ``repeats`` independent
  samples of ``events`` showers, with its error (standard error of the repeats);
* ``finite_difference``: (Q(x + h) − Q(x − h)) / 2h with Q measured by the **reference**
  simulator (:class:`calolab.simulation.fast.FastSimulator`) on the same seeds at x ± h
  (common random numbers), averaged over the repeats, with ``fd_error`` their standard
  error;
* ``agrees``: |autodiff − FD| ≤ max(10 % of |FD|, 2 σ), σ² = fd_error² + autodiff_error²
  — ``None`` (JSON null) when the FD did not reach its precision (``reached`` false): with
  an FD error as large as the FD, 2σ admits anything, so no agreement is claimed;
* ``reached``: whether fd_error < 20 % of |FD|. The number of showers is chosen so: every
  parameter starts at ``events`` showers per repeat; those whose FD error is still above
  20 % of their FD are measured again with 4 times the showers (the error halves), up to
  ``max_events``. A derivative that is zero within the errors (a parameter the quantity
  does not depend on, e.g. the HCAL's thickness for a 10 GeV electron) never reaches it:
  ``reached`` is then false and ``events`` says how many showers were spent.

**The quantity** is the space's first physics objective (objectives, then recorded values;
cost, length and channels are skipped), at the level of the simulator, where it is a
differentiable function of the showers: ``resolution`` (also for ``rmse`` and
``stochastic``) is σ(E_vis)/⟨E_vis⟩ of the summed true visible energy at the objective's
particle and energy (the study's σ/E adds a per-layer calibration, the digitisation and a
Gaussian core fit, none of which is differentiable); ``response`` (for ``linearity``) is
⟨E_vis⟩/E; ``leakage`` is the mean leaked fraction. ``quantity=`` chooses one of them
directly. The gun is the objective's particle at normal incidence, at the centre of the
face (the torch simulator has no incidence angle: a space that asks for one is checked at
normal incidence, said in ``notes``).

**Steps.** Thicknesses: h = 5 % of the value (inside the range). Periods: h = 1 (the
reference builds integer periods); the torch simulator's periods are continuous, so the
autodiff derivative of a number of periods is the mean of its derivatives at n − 1/2 and
n + 1/2 (every section's periods shifted together; the cross terms cancel to first order),
the midpoint rule for the mean slope over [n − 1, n + 1] that the central difference
measures.

**Known bias.** The autodiff estimator is pathwise given the shower history: where the
design moves a discrete threshold of the history (a particle crossing the follow energy,
the ionisation cap) its contribution is neglected. docs/differentiable.md measures that
bias at about 4 % of d⟨E_vis⟩/d(thickness) in a short leaking stack; it is inside the
10 % tolerance of the check, and no boundary or score-function correction is applied.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from calolab.core.config import check_int
from calolab.core.errors import ConfigError
from calolab.geometry.detector import Calorimeter
from calolab.optimization.gradspace import GradientView, Relaxed, relax
from calolab.optimization.space import DesignSpace, load_space

log = logging.getLogger(__name__)

QUANTITIES = ("resolution", "response", "leakage")
#: Objective metric -> the simulator-level quantity checked (see module docstring).
METRIC_QUANTITY = {
    "resolution": "resolution",
    "rmse": "resolution",
    "stochastic": "resolution",
    "linearity": "response",
    "leakage": "leakage",
    "leakage_longitudinal": "leakage",
    "leakage_lateral": "leakage",
}
#: Particles of the torch simulator.
TORCH_PARTICLES = ("e-", "e+", "gamma", "pi0", "pi+", "pi-")
#: FD relative error the check aims at, and the agreement tolerances.
TARGET_REL_ERROR = 0.2
REL_TOLERANCE = 0.10
SIGMAS = 2.0
THICKNESS_STEP = 0.05


@dataclass(frozen=True)
class Target:
    """What is differentiated: a quantity of one particle at one energy (GeV)."""

    quantity: str
    particle: str
    energy_gev: float
    objective: str


@dataclass(frozen=True)
class ParameterCheck:
    """One parameter's check (see module docstring)."""

    autodiff: float
    autodiff_error: float
    finite_difference: float
    fd_error: float
    agrees: bool | None
    reached: bool
    step: float
    events: int
    repeats: int
    unit: str


@dataclass
class GradCheck:
    """The result of :func:`gradcheck`: per parameter, and what was held fixed."""

    space: str
    point: dict[str, Any]
    target: Target | None
    parameters: dict[str, ParameterCheck]
    held: dict[str, str]
    notes: list[str] = field(default_factory=list)
    showers: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The per-parameter table ``{"<parameter>": {"autodiff", "finite_difference",
        "fd_error", "agrees", ...}}`` (what ``calolab optimize gradcheck --json`` prints)."""
        return {k: asdict(v) for k, v in self.parameters.items()}

    def report(self) -> dict[str, Any]:
        """Everything: the point, the target, the table, held parameters and notes."""
        return {
            "space": self.space,
            "point": self.point,
            "target": None if self.target is None else asdict(self.target),
            "parameters": self.to_dict(),
            "held": self.held,
            "notes": self.notes,
            "showers": self.showers,
        }


def physics_target(space: DesignSpace, quantity: str = "objective") -> tuple[Target | None, str]:
    """The target of the check: the space's first physics objective (or ``quantity`` for
    its particle and energy). Returns ``(None, why)`` when the torch simulator cannot
    simulate any physics objective of the space."""
    if quantity != "objective" and quantity not in QUANTITIES:
        raise ConfigError(
            f"--quantity {quantity!r} must be objective (the space's first physics objective) "
            f"or one of {', '.join(QUANTITIES)}"
        )
    physics = [o for o in space.all_objectives if o.metric in METRIC_QUANTITY]
    if not physics:
        return None, "the space has no physics objective (resolution, response or leakage)"
    for o in physics:
        if o.particle not in TORCH_PARTICLES:
            continue
        energy = o.energy_gev if o.energy_gev is not None else space.measurement.energies_gev[0]
        q = METRIC_QUANTITY[o.metric] if quantity == "objective" else quantity
        return Target(q, str(o.particle), float(energy), o.name), ""
    return None, (
        f"the torch simulator does not simulate the space's particles "
        f"({', '.join(sorted({str(o.particle) for o in physics}))}); it simulates "
        f"{', '.join(TORCH_PARTICLES)}"
    )


def quantity_of(q: str, visible: Any, leaked: Any, energy: float) -> Any:
    """The quantity ``q`` from per-event visible and leaked energies (numpy or torch)."""
    if q == "response":
        return visible.mean() / energy
    if q == "leakage":
        return leaked.mean() / energy
    return visible.std() / visible.mean()


# ----------------------------------------------------------------------------- reference
def reference_quantity(
    det: Calorimeter, target: Target, events: int, seed: int, chunk_cells: int = 8_000_000
) -> float:
    """The quantity measured with the reference simulator on ``events`` showers (truth
    visible and leaked energies; simulated in chunks to bound the cell arrays)."""
    from calolab.simulation.fast import FastSimulator
    from calolab.simulation.gun import ParticleGun

    sim = FastSimulator(det)
    gun = ParticleGun(target.particle, target.energy_gev)
    chunk = max(1, min(events, chunk_cells // max(1, det.n_channels)))
    vis, leak = [], []
    for a in range(0, events, chunk):
        sh = sim.run(gun, min(chunk, events - a), seed=seed, start=a)
        vis.append(np.asarray(sh.truth["visible"], dtype=np.float64))
        leak.append(np.asarray(sh.truth["leaked"], dtype=np.float64))
    return float(
        quantity_of(target.quantity, np.concatenate(vis), np.concatenate(leak), target.energy_gev)
    )


def _step(r: Relaxed) -> float:
    if r.kind == "periods":
        return 1.0
    return THICKNESS_STEP * r.value


def _shifted(view: GradientView, r: Relaxed, delta: float) -> Calorimeter:
    params = dict(view.point)
    params[r.name] = int(round(r.value + delta)) if r.kind == "periods" else r.value + delta
    return view.space.design(params, name=f"{view.space.name}-fd")


def finite_difference(
    view: GradientView,
    r: Relaxed,
    target: Target,
    events: int,
    seeds: list[int],
) -> tuple[float, float, list[float]]:
    """Central difference of the reference quantity in ``r`` (common random numbers per
    seed): mean over the seeds, its standard error, and each seed's value."""
    h = _step(r)
    if r.kind == "periods" and (r.value - h < max(1.0, r.low) or r.value + h > r.high):
        raise ConfigError(
            f"{r.name} = {r.value:g}: a central difference needs {r.value - h:g} and "
            f"{r.value + h:g} inside [{max(1.0, r.low):g}, {r.high:g}]; check another --at"
        )
    up, dn = _shifted(view, r, h), _shifted(view, r, -h)
    vals = [
        (reference_quantity(up, target, events, s) - reference_quantity(dn, target, events, s))
        / (2.0 * h)
        for s in seeds
    ]
    return float(np.mean(vals)), _sem(vals), vals


def _sem(vals: list[float]) -> float:
    return float(np.std(vals, ddof=1) / math.sqrt(len(vals))) if len(vals) > 1 else math.nan


# ----------------------------------------------------------------------------- autodiff
def autodiff(
    view: GradientView,
    target: Target,
    events: int,
    seeds: list[int],
    device: str = "cpu",
    which: list[Relaxed] | None = None,
) -> tuple[dict[str, tuple[float, float]], int]:
    """Autodiff derivatives of the quantity through the torch simulator (float64): per
    continuous parameter (``which``: all by default), the mean over ``seeds`` and its
    standard error; and the number of showers simulated."""
    import torch

    from calolab.differentiable.simulator import TorchSimulator

    chosen = list(view.continuous if which is None else which)
    per: dict[str, list[float]] = {r.name: [] for r in chosen}
    periods = [r for r in chosen if r.kind == "periods"]
    thick = [r for r in chosen if r.kind == "thickness"]

    def grads(shift: float, which: list[Relaxed], seed: int) -> dict[str, float]:
        design = view.design_parameters(dtype=torch.float64, device=device)
        leaves = {
            r.name: torch.tensor(
                r.value + (shift if r.kind == "periods" else 0.0),
                dtype=torch.float64,
                device=device,
                requires_grad=True,
            )
            for r in view.continuous
        }
        view.set_values(design, leaves)
        out = TorchSimulator(design).simulate(target.particle, target.energy_gev, events, seed=seed)
        q = quantity_of(target.quantity, out.visible, out.leaked, target.energy_gev)
        names = [r.name for r in which]
        g = torch.autograd.grad(q, [leaves[n] for n in names], allow_unused=True)
        return {n: (0.0 if gi is None else float(gi)) for n, gi in zip(names, g)}

    for seed in seeds:
        if thick:
            for k, v in grads(0.0, thick, seed).items():
                per[k].append(v)
        if periods:
            lo = grads(-0.5, periods, seed)
            hi = grads(0.5, periods, seed)
            for r in periods:
                per[r.name].append(0.5 * (lo[r.name] + hi[r.name]))
    runs = (1 if thick else 0) + (2 if periods else 0)
    return {k: (float(np.mean(v)), _sem(v)) for k, v in per.items()}, runs * events * len(seeds)


# ----------------------------------------------------------------------------- the check
def gradcheck(
    space: DesignSpace | str,
    at: Mapping[str, Any] | None = None,
    *,
    events: int = 1000,
    max_events: int | None = None,
    repeats: int = 4,
    seed: int = 0,
    quantity: str = "objective",
    parameters: list[str] | None = None,
    device: str = "cpu",
    progress: Callable[[str], None] | None = None,
) -> GradCheck:
    """Autodiff (torch) against finite differences (reference simulator) for every
    continuous parameter of ``space`` at ``at`` (default: its centre). See the module
    docstring.

    Parameters
    ----------
    space:
        A :class:`DesignSpace` or a built-in name / space file.
    at:
        A point of the space (every parameter); ``None``: the centre
        (:func:`calolab.optimization.gradspace.centre`).
    events:
        Showers per repeat to start with (torch and reference alike).
    max_events:
        Most showers per repeat for a parameter whose FD error is above 20 % (default
        16 × ``events``).
    repeats:
        Independent samples (seeds); the errors are their standard errors (≥ 2).
    seed:
        Base seed; repeat i uses seed × 1000 + i.
    quantity:
        ``"objective"`` (the space's first physics objective) or ``resolution``,
        ``response``, ``leakage`` of that objective's particle and energy.
    parameters:
        Check only these continuous parameters (space names).
    """
    events = check_int("--events", events, minimum=10, maximum=10_000_000)
    repeats = check_int("--repeats", repeats, minimum=2, maximum=1000)
    seed = check_int("--seed", seed, minimum=0, maximum=2**40)
    max_events = check_int(
        "--max-events", max_events if max_events is not None else 16 * events, minimum=events
    )
    space = load_space(space)
    view = relax(space, at)
    target, why = physics_target(space, quantity)
    held = {h.name: h.reason for h in view.held}
    result = GradCheck(space.name, dict(view.point), target, {}, held)
    todo = list(view.continuous)
    if parameters is not None:
        names = {r.name for r in view.continuous}
        unknown = [p for p in parameters if p not in names]
        if unknown:
            raise ConfigError(
                f"--parameter {unknown[0]!r} is not a continuous parameter of this point; "
                f"choose from {', '.join(sorted(names)) or 'none'}"
            )
        todo = [r for r in todo if r.name in parameters]
    if not view.continuous:
        result.notes.append("no continuous parameter at this point: nothing to differentiate")
    if target is None:
        result.notes.append(why)
        return result
    if space.measurement.theta_deg or space.measurement.position_spread_cm:
        result.notes.append(
            f"the space's gun (theta {space.measurement.theta_deg:g} deg, position spread "
            f"{space.measurement.position_spread_cm:g} cm) is checked at normal incidence on "
            "the centre of the face: the torch simulator has no incidence angle"
        )
    n = events
    while todo:
        seeds = [seed * 1000 + i for i in range(repeats)]
        if progress:
            progress(f"{len(todo)} parameter(s), {n} showers x {repeats} repeats")
        ad, simulated = autodiff(view, target, n, seeds, device=device, which=todo)
        result.showers += simulated
        nxt = []
        for r in todo:
            fd, fd_err, _ = finite_difference(view, r, target, n, seeds)
            result.showers += 2 * n * repeats
            a, a_err = ad[r.name]
            reached = bool(fd_err < TARGET_REL_ERROR * abs(fd))
            sigma = math.sqrt(fd_err**2 + a_err**2)
            agrees = (
                bool(abs(a - fd) <= max(REL_TOLERANCE * abs(fd), SIGMAS * sigma))
                if reached
                else None
            )
            result.parameters[r.name] = ParameterCheck(
                autodiff=a,
                autodiff_error=a_err,
                finite_difference=fd,
                fd_error=fd_err,
                agrees=agrees,
                reached=reached,
                step=_step(r),
                events=n,
                repeats=repeats,
                unit="per period" if r.kind == "periods" else "per cm",
            )
            log.info("%s: autodiff %.4g ± %.2g, FD %.4g ± %.2g", r.name, a, a_err, fd, fd_err)
            if not reached and 4 * n <= max_events:
                nxt.append(r)
        todo = nxt
        n *= 4
    order = [r.name for r in view.continuous if r.name in result.parameters]
    result.parameters = {k: result.parameters[k] for k in order}
    return result


__all__ = [
    "QUANTITIES",
    "GradCheck",
    "ParameterCheck",
    "Target",
    "autodiff",
    "finite_difference",
    "gradcheck",
    "physics_target",
    "reference_quantity",
]
