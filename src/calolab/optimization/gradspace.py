"""The bridge from a design space (:mod:`calolab.optimization.space`) to the differentiable
(torch) simulator (:mod:`calolab.differentiable`).

At one point of a space, :func:`relax` gives

* the **template**: the :class:`~calolab.geometry.Calorimeter` of that point (what is not
  relaxed keeps the point's value);
* the **continuous** parameters (:class:`Relaxed`) the torch simulator differentiates:
  layer thicknesses (float ranges, cm) and numbers of periods (int ranges, relaxed to a real
  number: period k is present with the fraction clamp(n - k, 0, 1) of its thickness);
* optionally the **material choices** relaxed through logits (``relax_materials=True``:
  softmax probabilities over the candidate materials, the layer a volume mixture of them;
  ``"none"`` — removing a layer — cannot be relaxed and is left out of the candidates);
  otherwise held at the point's choice;
* the **held** parameters (:class:`Held`), with the reason: cell sizes and transverse sizes
  (no gradient: they only share energy among cells), parameters given as choices, the
  thickness of a removed layer, the parameters of a removed section, and material choices
  unless relaxed.

:meth:`GradientView.point` maps relaxed values back to a valid point of the space (periods
rounded to integers inside their range, thicknesses clipped and put on their step, each
material the most probable candidate), which is what a reference measurement simulates.

The layering contract: ``optimization`` sits above ``differentiable``, so the bridge lives
here and imports the torch simulator (never the other way round).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from calolab.core.errors import ConfigError
from calolab.geometry.detector import Calorimeter
from calolab.optimization.space import NONE_MATERIAL, DesignSpace, Parameter

if TYPE_CHECKING:
    import torch

    from calolab.differentiable.design import DesignParameters


@dataclass(frozen=True)
class Relaxed:
    """A continuous parameter of the torch simulator.

    ``kind`` is ``"thickness"`` (``section``'s pattern layer ``index``, cm) or ``"periods"``;
    ``low``/``high`` its range (periods: at least 1), ``value`` its value at the point.
    """

    name: str
    kind: str
    section: str
    index: int | None
    low: float
    high: float
    value: float
    parameter: Parameter

    @property
    def torch_name(self) -> str:
        """``<section>.thickness.<i>`` or ``<section>.periods`` (names of
        :mod:`calolab.differentiable.optimize`)."""
        if self.kind == "periods":
            return f"{self.section}.periods"
        return f"{self.section}.thickness.{self.index}"


@dataclass(frozen=True)
class RelaxedMaterial:
    """A material choice relaxed to probabilities over ``candidates``."""

    name: str
    section: str
    index: int
    candidates: tuple[str, ...]
    value: str


@dataclass(frozen=True)
class Held:
    """A parameter the gradient does not move, its value at the point and why."""

    name: str
    value: Any
    reason: str


@dataclass
class GradientView:
    """A design space seen by the torch simulator at one point (see module docstring)."""

    space: DesignSpace
    point: dict[str, Any]
    template: Calorimeter
    continuous: tuple[Relaxed, ...]
    materials: tuple[RelaxedMaterial, ...]
    held: tuple[Held, ...]

    def design_parameters(
        self, *, dtype: torch.dtype | None = None, device: str = "cpu"
    ) -> DesignParameters:
        """A fresh :class:`~calolab.differentiable.DesignParameters` of the template (with
        the relaxed material choices' logits)."""
        import torch

        from calolab.differentiable.design import DesignParameters

        mats = {(m.section, m.index): m.candidates for m in self.materials}
        return DesignParameters(
            self.template, mats or None, dtype=dtype or torch.float32, device=device
        )

    def set_values(self, design: DesignParameters, values: Mapping[str, torch.Tensor]) -> None:
        """Put the values of continuous parameters (space names; 0-d tensors, cm or
        periods) into ``design``."""
        import torch

        by_name = {r.name: r for r in self.continuous}
        for name, v in values.items():
            r = by_name[name]
            if r.kind == "periods":
                design.periods[r.section] = v
            else:
                th = design.thickness[r.section]
                i = int(r.index or 0)
                design.thickness[r.section] = torch.cat([th[:i], v.reshape(1), th[i + 1 :]])

    def point_from(
        self, values: Mapping[str, float], design: DesignParameters | None = None
    ) -> dict[str, Any]:
        """The valid point of the space nearest to relaxed ``values`` (space names): periods
        rounded, thicknesses clipped to their range and step; with ``design``, each relaxed
        material its most probable candidate."""
        out = dict(self.point)
        for r in self.continuous:
            if r.name in values:
                out[r.name] = snap(r.parameter, float(values[r.name]))
        if design is not None:
            for m in self.materials:
                p = design.probabilities(m.section, m.index).detach().cpu().tolist()
                out[m.name] = m.candidates[int(max(range(len(p)), key=p.__getitem__))]
        return out


def snap(p: Parameter, v: float) -> Any:
    """``v`` made a valid value of the range parameter ``p`` (clipped; rounded to an
    integer or to the step)."""
    assert p.low is not None and p.high is not None
    v = min(max(v, p.low), p.high)
    if p.step is not None:
        v = p.low + round((v - p.low) / p.step) * p.step
        v = min(v, p.high)
    if p.kind == "int":
        return int(round(v))
    return float(round(v, 12)) if p.step is not None else float(v)


def centre(space: DesignSpace) -> dict[str, Any]:
    """The centre of a space: the middle of every range (geometric middle of a log range;
    integers rounded, steps respected) and the *first* value of every choice (so that an
    optional layer listed first, e.g. ``["Pb", "W", "none"]``, is present)."""
    out: dict[str, Any] = {}
    for p in space.parameters:
        if p.kind == "categorical":
            out[p.name] = p.choices[0]
            continue
        assert p.low is not None and p.high is not None
        mid = math.sqrt(p.low * p.high) if p.log and p.low > 0 else 0.5 * (p.low + p.high)
        out[p.name] = snap(p, mid)
    return out


def relax(
    space: DesignSpace,
    point: Mapping[str, Any] | None = None,
    *,
    relax_materials: bool = False,
) -> GradientView:
    """The :class:`GradientView` of ``space`` at ``point`` (default: :func:`centre`).

    Raises
    ------
    ConfigError
        The point is not a point of the space (a missing, unknown or out-of-range value) or
        its design cannot be built.
    """
    params = dict(centre(space) if point is None else point)
    by_name = {p.name: p for p in space.parameters}
    for name, v in params.items():
        p = by_name.get(name)
        if p is None:
            raise ConfigError(
                f"point: '{name}' is not a parameter of the space '{space.name}' "
                f"(parameters: {', '.join(by_name) or 'none'})"
            )
        if p.kind == "int" and isinstance(v, float) and v == int(v):
            params[name] = v = int(v)
        if not p.contains(v):
            raise ConfigError(
                f"point: {name} = {v!r} is outside the parameter's values {p.describe()}"
            )
    missing = [n for n in by_name if n not in params]
    if missing:
        raise ConfigError(f"point: missing value(s) for {', '.join(missing)}")
    template = space.design(params, name=f"{space.name}-point")
    present = {s.name: s for s in template.sections}
    continuous: list[Relaxed] = []
    materials: list[RelaxedMaterial] = []
    held: list[Held] = []
    for sec_name, layer_names in space.layout():
        sec = present.get(sec_name)
        # pattern index of each present layer of this section
        index: dict[str, int] = {}
        if sec is not None:
            k = 0
            for lname in layer_names:
                mat = params.get(f"{sec_name}.{lname}.material")
                if mat == NONE_MATERIAL:
                    continue
                index[lname] = k
                k += 1
        for p in space.parameters:
            parts = p.name.split(".")
            if parts[0] != sec_name:
                continue
            value = params[p.name]
            if sec is None:
                held.append(Held(p.name, value, f"section '{sec_name}' is removed at this point"))
                continue
            field = parts[-1]
            if field == "repeat":
                if p.kind == "categorical":
                    held.append(Held(p.name, value, "a choice of values, not a range"))
                    continue
                assert p.low is not None and p.high is not None
                continuous.append(
                    Relaxed(
                        p.name,
                        "periods",
                        sec_name,
                        None,
                        max(1.0, float(p.low)),
                        float(p.high),
                        float(value),
                        p,
                    )
                )
            elif field == "cell_size_cm":
                held.append(Held(p.name, value, "cell size: not differentiable (held)"))
            elif field == "thickness_cm":
                lname = parts[1]
                if lname not in index:
                    held.append(Held(p.name, value, f"layer '{lname}' is removed at this point"))
                elif p.kind == "categorical":
                    held.append(Held(p.name, value, "a choice of values, not a range"))
                else:
                    assert p.low is not None and p.high is not None
                    continuous.append(
                        Relaxed(
                            p.name,
                            "thickness",
                            sec_name,
                            index[lname],
                            float(p.low),
                            float(p.high),
                            float(value),
                            p,
                        )
                    )
            elif field == "material":
                lname = parts[1]
                cands = tuple(c for c in p.choices if c != NONE_MATERIAL)
                if lname not in index:
                    held.append(Held(p.name, value, f"layer '{lname}' is removed at this point"))
                elif relax_materials and len(cands) > 1:
                    materials.append(RelaxedMaterial(p.name, sec_name, index[lname], cands, value))
                else:
                    why = (
                        "material choice held at the point's value"
                        if len(cands) > 1
                        else "the only material besides 'none'"
                    )
                    held.append(Held(p.name, value, why))
            else:  # pragma: no cover - every section parameter is listed above
                held.append(Held(p.name, value, "not a design parameter of the simulator"))
    for p in space.parameters:
        if p.name == "transverse_size_cm":
            held.append(Held(p.name, params[p.name], "transverse size: held"))
    return GradientView(space, params, template, tuple(continuous), tuple(materials), tuple(held))


def cost_tensor(view: GradientView, design: DesignParameters) -> torch.Tensor:
    """The cost (CHF) the space's budget counts, as a differentiable function of ``design``:
    materials (thickness × area × density × price × periods, the relaxed materials'
    probability-weighted) plus, for ``cost = "total"``, the readout channels (cells per
    layer × sensitive layers × periods × price per channel)."""
    import torch

    det = view.template
    area = det.transverse_size_cm[0] * det.transverse_size_cm[1]
    total = torch.zeros((), dtype=design.dtype, device=design.device)
    for s in det.sections:
        th = design.thickness[s.name]
        per_cm = []
        for i, slot in enumerate(design.slots[s.name]):
            prob = design.probabilities(s.name, i)
            price = torch.tensor(
                [m.density_g_cm3 * m.price_chf_per_kg for m in slot.candidates],
                dtype=design.dtype,
                device=design.device,
            )
            per_cm.append((prob * price).sum())
        mat = (th * torch.stack(per_cm)).sum() * area / 1000.0
        per_period = mat
        if view.space.constraints.cost == "total":
            per_period = (
                per_period + det.section_channels(s) / s.repeat * s.readout.channel_cost_chf
            )
        total = total + per_period * design.periods[s.name]
    return total


def length_tensor(design: DesignParameters) -> torch.Tensor:
    """Depth along the beam (cm) of ``design``, differentiable."""
    out = None
    for s in design.template.sections:
        d = design.thickness[s.name].sum() * design.periods[s.name]
        out = d if out is None else out + d
    assert out is not None
    return out


__all__ = [
    "GradientView",
    "Held",
    "Relaxed",
    "RelaxedMaterial",
    "centre",
    "cost_tensor",
    "length_tensor",
    "relax",
    "snap",
]
