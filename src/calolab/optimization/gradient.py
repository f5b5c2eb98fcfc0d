"""The ``gradient`` search method: a design and its reconstruction trained together through
the differentiable (torch) simulator, every accepted design measured as a trial of the study.

``calolab optimize run SPACE --method gradient --trials T --events N`` (or
``run_study(space, dir, method="gradient", ...)``):

1. **Start**: the space's centre (:func:`calolab.optimization.gradspace.centre`) when it
   meets the constraints, else the first reference design that does, else a feasible point
   found by :meth:`DesignSpace.find_feasible`. The study's reference designs are measured
   first, as in every study.
2. **Relaxation** (:func:`calolab.optimization.gradspace.relax`): the continuous parameters
   are the layer thicknesses and the numbers of periods (continuous); material choices are
   held at the start point's values, or with ``relax_materials`` relaxed to softmax
   probabilities over their candidates (``"none"`` excluded) whose logits Adam moves with
   learning rate 0.1 — each measured design takes the most probable candidate; cell sizes
   and the other choices are held (listed in the log).
3. **Steps** (:func:`calolab.differentiable.optimize.optimize_design`, ``joint=True``): Adam
   on the design parameters in units of each range (learning rate ``lr``, default 0.03 per
   step, i.e. 3 % of a range) and on the longitudinal weights of the reconstruction
   E = c Σ_r exp(a1 u_r + a2 u_r²) E_r (learning rate 0.05; c in closed form on every batch);
   parameters projected into their ranges after every step; fresh showers every step
   (``step_events`` per energy of the space, of the particle of its first physics
   objective). Loss: the mean squared relative error of the reconstruction (resolution-aware:
   σ²/E² plus the squared bias) + 10 × (relative excess of the length over
   ``max_length_cm``)² + 10 × (relative excess of the cost over the budget)² (the cost the
   space's budget counts, differentiable: :func:`~calolab.optimization.gradspace.cost_tensor`)
   — zero inside the constraints, rising steeply outside, as TomOpt's.
4. **Measurements**: the start design, then the design of every ``steps_per_trial``-th step
   and finally the lowest-loss design, each made valid (periods rounded to integers,
   thicknesses clipped and put on their step) and measured through
   :meth:`~calolab.optimization.StudyDriverContext.evaluate` with the **reference**
   simulator: the same objectives, seeds, ``trials.csv``, ``pareto.json`` and report as any
   trial. ``--trials`` counts them (references included; the start is not measured again
   when it is a reference design); the descent takes ``steps_per_trial`` × (number of
   designs measured between the start and the best + 1) steps.

Option ``joint = false`` (``--sequential`` on the command line) is the *sequential*
(factorised) baseline of the MODE comparison: the design is optimised for a fixed
reconstruction (the calibrated plain sum: only c is fitted, the weights stay 1); the study's
measurement then trains its own reconstruction on each design, as for every trial.

Reproducibility and resuming: the descent depends only on the space, the seed and the
options (the torch simulator's seeds are the study seed and the step), not on the
measurements. A resumed study replays the descent from the start and skips the
measurements the study already holds (trials tagged ``gradient_eval``), so it measures
exactly the designs of the uninterrupted study and stops at the same total.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from calolab.core.config import check_float, check_int
from calolab.core.errors import ConfigError
from calolab.optimization.gradcheck import physics_target
from calolab.optimization.gradspace import GradientView, centre, cost_tensor, relax
from calolab.optimization.methods import Method, register_method
from calolab.optimization.space import DesignSpace

log = logging.getLogger(__name__)

#: Method options and their defaults (``run_study(method_options=...)``).
DEFAULTS: dict[str, Any] = {
    "steps_per_trial": 5,
    "step_events": 100,
    "lr": 0.03,
    "penalty": 10.0,
    "device": "cpu",
    "joint": True,
    "relax_materials": False,
}


def options(raw: dict[str, Any] | None) -> dict[str, Any]:
    """The method options with their defaults, validated."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise ConfigError(
            f"gradient method: unknown option(s) {', '.join(unknown)}; options: "
            f"{', '.join(DEFAULTS)}"
        )
    out = {**DEFAULTS, **raw}
    out["steps_per_trial"] = check_int("--gradient-steps", out["steps_per_trial"], minimum=1)
    out["step_events"] = check_int("--step-events", out["step_events"], minimum=2)
    out["lr"] = check_float("--lr", out["lr"], exclusive_minimum=0.0, maximum=1.0)
    out["penalty"] = check_float("penalty", out["penalty"], exclusive_minimum=0.0)
    for key in ("joint", "relax_materials"):
        if not isinstance(out[key], bool):
            raise ConfigError(f"gradient method: {key} {out[key]!r} must be true or false")
    dev = str(out["device"])
    if dev != "cpu" and not dev.startswith("cuda"):
        raise ConfigError(f"--device {dev!r} must be cpu or cuda")
    if dev.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"--device {dev}: no CUDA device is available here; use cpu")
    return out


def start_point(space: DesignSpace) -> dict[str, Any]:
    """The centre if feasible, else the first feasible reference, else a feasible point."""
    c = centre(space)
    if space.check(c).feasible:
        return c
    for params in space.references.values():
        if space.check(params).feasible:
            return dict(params)
    found = space.find_feasible()
    if found is None:
        raise ConfigError(f"space '{space.name}': no feasible start point for the gradient method")
    return found


def _joint_space(view: GradientView) -> Any:
    from calolab.differentiable.optimize import Bound
    from calolab.differentiable.optimize import DesignSpace as TorchSpace

    space = view.space
    budget = space.constraints.budget_chf
    return TorchSpace(
        name=space.name,
        template=view.template,
        bounds=tuple(Bound(r.torch_name, r.low, r.high) for r in view.continuous),
        max_length_cm=space.constraints.max_length_cm or math.inf,
        budget_chf=budget,
        cost=(lambda design: cost_tensor(view, design)) if budget is not None else None,
        materials={(m.section, m.index): m.candidates for m in view.materials} or None,
    )


def run_gradient(ctx: Any) -> None:
    """The driver (see module docstring); ``ctx`` is a
    :class:`~calolab.optimization.StudyDriverContext`."""
    from calolab.differentiable.optimize import JointConfig, optimize_design

    opts = options(ctx.options)
    space: DesignSpace = ctx.space
    if ctx.remaining <= 0:
        log.info("gradient method: the study holds its %d trials; nothing to do", ctx.trials)
        return
    target, why = physics_target(space)
    if target is None:
        raise ConfigError(f"--method gradient cannot optimise the space '{space.name}': {why}")
    view = relax(space, start_point(space), relax_materials=opts["relax_materials"])
    if not view.continuous:
        raise ConfigError(
            f"--method gradient: the space '{space.name}' has no continuous parameter "
            f"(held: {', '.join(h.name for h in view.held)}); use a search method such as grid"
        )
    for h in view.held:
        log.info("gradient method: %s held at %r (%s)", h.name, h.value, h.reason)
    by_torch = {r.torch_name: r.name for r in view.continuous}
    # the start is measured unless it is a reference design (measured already)
    start_is_ref = any(view.point == dict(p) for p in space.references.values())
    n_evals = max(1, ctx.trials - len(space.references))
    k = opts["steps_per_trial"]
    n_step_evals = max(0, n_evals - (1 if start_is_ref else 2))  # between start and best
    steps = k * (n_step_evals + 1)
    per_step = opts["step_events"] * len(space.measurement.energies_gev)
    done = _done_evals(ctx)
    counter = {"i": 0}

    def evaluate(values: dict[str, float], step: int, what: str) -> None:
        i = counter["i"]
        counter["i"] += 1
        if i in done or ctx.remaining <= 0:
            return
        point = view.point_from({by_torch[n]: v for n, v in values.items() if n in by_torch})
        for m in view.materials:
            choice = values.get(f"{m.section}.{m.index}.choice")
            if choice is not None:
                point[m.name] = m.candidates[int(choice)]
        attrs = {
            "gradient_eval": i,
            "gradient_step": step,
            "gradient_kind": what,
            # torch showers simulated by the descent up to this measurement
            "torch_showers": per_step * min(steps, max(0, step + 1) if what != "best" else steps),
        }
        ctx.evaluate(point, user_attrs=attrs)

    if not start_is_ref:
        evaluate({r.torch_name: r.value for r in view.continuous}, -1, "start")  # materials: as is

    def callback(step: int, values: dict[str, float], loss: float) -> None:
        if step > 0 and step % k == 0 and step // k <= n_step_evals:
            evaluate(values, step, "step")

    config = JointConfig(
        particle=target.particle,
        energies=tuple(space.measurement.energies_gev),
        events=opts["step_events"],
        steps=steps,
        lr_design=opts["lr"],
        penalty=opts["penalty"],
        seed=ctx.seed,
        device=opts["device"],
    )
    result = optimize_design(_joint_space(view), config, joint=opts["joint"], callback=callback)
    evaluate(result.parameters, result.best_step, "best")
    log.info(
        "gradient method: %d steps, %d torch showers; best loss %.5f at step %d",
        steps,
        steps * per_step,
        result.best_loss,
        result.best_step,
    )


def _done_evals(ctx: Any) -> set[int]:
    """Evaluation indices the study already holds (a resumed study)."""
    out = set()
    for t in ctx.optuna_study.get_trials(deepcopy=False):
        i = t.user_attrs.get("gradient_eval")
        if i is not None and t.state.is_finished():
            out.add(int(i))
    return out


register_method(
    Method(
        "gradient",
        "design and reconstruction trained together through the torch simulator (MODE); "
        "every accepted design measured with the reference simulator",
        driver=run_gradient,
    )
)

__all__ = ["DEFAULTS", "options", "run_gradient", "start_point"]
