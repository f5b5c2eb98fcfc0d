"""Calorimeter geometry: layers, sections and the calorimeter stack.

Coordinates (cm): the front face of the calorimeter is the plane z = 0, particles travel
towards +z, and the stack is centred on x = y = 0 transversely. A :class:`Section` is a
pattern of :class:`Layer` objects repeated ``repeat`` times with its own transverse cell size;
a :class:`Calorimeter` is an ordered stack of sections with one transverse size.

Readout: every *sensitive* layer instance is one readout layer of ``nx × ny`` cells. Cells are
indexed ``(ix, iy)`` with ``ix = floor((x + Lx/2) / cell_x)``; the flat cell index inside a
readout layer is ``ix * ny + iy`` (C order), which is the CaloChallenge convention.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

from calolab.core.config import check_name
from calolab.core.errors import ConfigError, GeometryError
from calolab.geometry.materials import Material, get_material
from calolab.geometry.readout import Readout, default_readout

#: Sanity limits, far above real calorimeters (CMS HGCAL: ~6 million channels, ~50 layers;
#: the course designs: a few hundred layers), so that an absurd detector file fails at once
#: instead of exhausting memory or time later.
MAX_LAYERS = 10_000
#: Longest name (detector, section, material) and description, in characters: a detector
#: file is a design, not a document (a 1 MB description once made `detector show` hang).
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 10_000
MAX_CHANNELS = 100_000_000
MAX_LENGTH_CM = 1e5  # 1 km


def _positive(where: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GeometryError(f"{where}: {key} {value!r} must be a number > 0")
    try:
        v = float(value)
    except OverflowError:
        v = math.inf
    if not math.isfinite(v) or v <= 0:
        raise GeometryError(f"{where}: {key} {value!r} must be a finite number > 0")
    if v > MAX_LENGTH_CM:
        raise GeometryError(
            f"{where}: {key} {value!r} cm is longer than {MAX_LENGTH_CM:g} cm (1 km); "
            "lengths are in cm"
        )
    return v


def _check_name(what: str, name: object) -> None:
    """A printable, non-empty name of at most :data:`MAX_NAME_LENGTH` characters."""
    try:
        check_name(what, name, max_length=MAX_NAME_LENGTH)
    except ConfigError as exc:
        raise GeometryError(str(exc)) from None


def _pair(where: str, key: str, value: object) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise GeometryError(f"{where}: {key} {value!r} must be two numbers [x, y] in cm")
    return (_positive(where, f"{key}[0]", value[0]), _positive(where, f"{key}[1]", value[1]))


@dataclass(frozen=True)
class Layer:
    """One slab of material.

    Parameters
    ----------
    material:
        A :class:`Material` or the name of a built-in one (Geant4 NIST names accepted).
    thickness_cm:
        Thickness along z in cm, > 0.
    sensitive:
        Whether energy deposited in this layer is read out (visible energy).
    """

    material: Material
    thickness_cm: float
    sensitive: bool = False

    def __init__(self, material: Material | str, thickness_cm: float, sensitive: bool = False):
        mat = get_material(material) if isinstance(material, str) else material
        if not isinstance(mat, Material):
            raise GeometryError(f"layer material {material!r} must be a Material or a name")
        object.__setattr__(self, "material", mat)
        object.__setattr__(self, "thickness_cm", _positive("layer", "thickness_cm", thickness_cm))
        if not isinstance(sensitive, bool):
            raise GeometryError(f"layer: sensitive {sensitive!r} must be true or false")
        object.__setattr__(self, "sensitive", sensitive)

    @property
    def x0(self) -> float:
        """Thickness in radiation lengths."""
        return self.thickness_cm / self.material.x0_cm

    @property
    def lambda_i(self) -> float:
        """Thickness in nuclear interaction lengths."""
        return self.thickness_cm / self.material.lambda_i_cm

    @property
    def mip_loss_mev(self) -> float:
        """Mean energy lost by a minimum-ionising particle crossing the layer, in MeV."""
        return self.material.dedx_min_mev_cm * self.thickness_cm


@dataclass(frozen=True)
class Section:
    """A repeated pattern of layers with its own transverse cell size.

    Parameters
    ----------
    name:
        Section name, e.g. ``"ecal"``.
    layers:
        The pattern (one period), upstream first.
    repeat:
        Number of periods, >= 1.
    cell_size_cm:
        Transverse cell size ``(x, y)`` in cm of the readout of this section.
    readout:
        How its cells are read out (:class:`~calolab.geometry.readout.Readout`); by default
        the realistic default of its sensitive material
        (:func:`~calolab.geometry.readout.default_readout`), else the ideal readout.
    """

    name: str
    layers: tuple[Layer, ...]
    repeat: int
    cell_size_cm: tuple[float, float]
    readout: Readout

    def __init__(
        self,
        name: str,
        layers: Sequence[Layer],
        repeat: int = 1,
        cell_size_cm: float | Sequence[float] = 1.0,
        readout: Readout | None = None,
    ):
        _check_name("section name", name)
        where = f"section '{name}'"
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise GeometryError(f"{where}: repeat {repeat!r} must be an integer >= 1")
        if repeat > MAX_LAYERS:
            raise GeometryError(
                f"{where}: repeat {repeat} is more than the {MAX_LAYERS:,} layers calolab supports"
            )
        layers = tuple(layers)
        if not layers:
            raise GeometryError(f"{where}: layers is empty; give at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise GeometryError(f"{where}: layer {i} {layer!r} is not a Layer")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "repeat", repeat)
        object.__setattr__(self, "cell_size_cm", _pair(where, "cell_size_cm", cell_size_cm))
        if readout is None:
            readout = default_readout(
                frozenset(layer.material.name for layer in layers if layer.sensitive)
            )
        if not isinstance(readout, Readout):
            raise GeometryError(f"{where}: readout {readout!r} is not a Readout")
        object.__setattr__(self, "readout", readout)

    @property
    def period_cm(self) -> float:
        """Thickness of one period in cm."""
        return sum(layer.thickness_cm for layer in self.layers)

    @property
    def depth_cm(self) -> float:
        """Total thickness in cm."""
        return self.period_cm * self.repeat

    @property
    def period_x0(self) -> float:
        """Thickness of one period in radiation lengths."""
        return sum(layer.x0 for layer in self.layers)

    @property
    def period_lambda_i(self) -> float:
        """Thickness of one period in nuclear interaction lengths."""
        return sum(layer.lambda_i for layer in self.layers)

    @property
    def n_sensitive(self) -> int:
        """Sensitive layers per period."""
        return sum(layer.sensitive for layer in self.layers)

    @property
    def is_homogeneous(self) -> bool:
        """True when every layer is sensitive and of one material (e.g. a crystal ECAL)."""
        return all(layer.sensitive for layer in self.layers) and (
            len({layer.material.name for layer in self.layers}) == 1
        )

    def mip_sampling_fractions(self) -> tuple[float, ...]:
        """Sampling fraction for a minimum-ionising particle of each layer of the pattern.

        ``f_j = (dE/dx)_j t_j / Σ_k (dE/dx)_k t_k`` (dimensionless).
        """
        losses = [layer.mip_loss_mev for layer in self.layers]
        total = sum(losses)
        return tuple(loss / total for loss in losses)

    @property
    def mip_sampling_fraction(self) -> float:
        """Summed MIP sampling fraction of the sensitive layers of the pattern."""
        return sum(
            f for f, layer in zip(self.mip_sampling_fractions(), self.layers) if layer.sensitive
        )


@dataclass(frozen=True)
class ReadoutLayer:
    """One sensitive layer instance and its cell grid (all lengths in cm)."""

    index: int
    section: str
    section_index: int
    period: int
    pattern_index: int
    material: str
    thickness_cm: float
    z_start_cm: float
    z_end_cm: float
    depth_x0_start: float
    depth_x0_end: float
    depth_lambda_start: float
    depth_lambda_end: float
    nx: int
    ny: int
    cell_size_cm: tuple[float, float]
    offset: int

    @property
    def n_cells(self) -> int:
        return self.nx * self.ny

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "section": self.section,
            "period": self.period,
            "material": self.material,
            "thickness_cm": self.thickness_cm,
            "z_start_cm": self.z_start_cm,
            "z_end_cm": self.z_end_cm,
            "depth_x0_start": self.depth_x0_start,
            "depth_x0_end": self.depth_x0_end,
            "depth_lambda_start": self.depth_lambda_start,
            "depth_lambda_end": self.depth_lambda_end,
            "nx": self.nx,
            "ny": self.ny,
            "cell_size_cm": list(self.cell_size_cm),
            "offset": self.offset,
        }


@dataclass(frozen=True)
class Calorimeter:
    """A calorimeter: an ordered stack of sections with one transverse size.

    Parameters
    ----------
    name:
        Detector name.
    transverse_size_cm:
        ``(Lx, Ly)`` in cm; every section's cell size must divide it.
    sections:
        Sections from front (z = 0) to back.
    material_specs:
        The ``[materials]`` table of a detector file (user-defined materials and price
        overrides), kept for exact round trips; the layers already hold resolved materials.
    description:
        Free text.
    """

    name: str
    transverse_size_cm: tuple[float, float]
    sections: tuple[Section, ...]
    description: str = ""
    material_specs: Mapping[str, Mapping[str, object]] = field(default_factory=dict, hash=False)

    def __init__(
        self,
        name: str,
        transverse_size_cm: float | Sequence[float],
        sections: Sequence[Section],
        description: str = "",
        material_specs: Mapping[str, Mapping[str, object]] | None = None,
    ):
        _check_name("detector name", name)
        where = f"detector '{name}'"
        object.__setattr__(self, "name", name)
        object.__setattr__(
            self, "transverse_size_cm", _pair(where, "transverse_size_cm", transverse_size_cm)
        )
        sections = tuple(sections)
        if not sections:
            raise GeometryError(f"{where}: sections is empty; give at least one section")
        seen: set[str] = set()
        for s in sections:
            if not isinstance(s, Section):
                raise GeometryError(f"{where}: {s!r} is not a Section")
            if s.name in seen:
                raise GeometryError(f"{where}: section name '{s.name}' is used twice")
            seen.add(s.name)
            for axis, (size, cell) in enumerate(zip(self.transverse_size_cm, s.cell_size_cm)):
                n = size / cell
                if not n <= MAX_CHANNELS:  # also catches inf
                    raise GeometryError(
                        f"{where}, section '{s.name}': cell_size_cm[{axis}] {cell} gives "
                        f"{n:.3g} cells across transverse_size_cm[{axis}] {size}; calolab "
                        f"supports at most {MAX_CHANNELS:,} channels — use larger cells"
                    )
                if abs(n - round(n)) > 1e-6 * max(1.0, n) or round(n) < 1:
                    raise GeometryError(
                        f"{where}, section '{s.name}': cell_size_cm[{axis}] {cell} does not divide "
                        f"transverse_size_cm[{axis}] {size} ({size}/{cell} = {n:.4g} cells); "
                        "choose a cell size that divides the transverse size"
                    )
        n_layers = sum(len(s.layers) * s.repeat for s in sections)
        if n_layers > MAX_LAYERS:
            raise GeometryError(
                f"{where}: {n_layers:,} layers in total (sections × repeat × pattern) is more "
                f"than the {MAX_LAYERS:,} calolab supports; check the repeat counts"
            )
        channels = sum(
            round(self.transverse_size_cm[0] / s.cell_size_cm[0])
            * round(self.transverse_size_cm[1] / s.cell_size_cm[1])
            * s.n_sensitive
            * s.repeat
            for s in sections
        )
        if channels > MAX_CHANNELS:
            raise GeometryError(
                f"{where}: {channels:,} readout channels is more than the {MAX_CHANNELS:,} "
                "calolab supports; use larger cells or fewer sensitive layers"
            )
        if sum(s.n_sensitive for s in sections) == 0:
            raise GeometryError(
                f"{where}: no layer is sensitive; mark at least one layer 'sensitive = true'"
            )
        object.__setattr__(self, "sections", sections)
        if not isinstance(description, str):
            raise GeometryError(f"{where}: description {description!r} must be a string")
        if len(description) > MAX_DESCRIPTION_LENGTH:
            raise GeometryError(
                f"{where}: description has {len(description):,} characters; at most "
                f"{MAX_DESCRIPTION_LENGTH:,} are allowed"
            )
        if any(ord(c) < 32 and c not in "\n\t" or ord(c) == 127 for c in description):
            raise GeometryError(
                f"{where}: description contains control characters (such as NUL); use "
                "printable text"
            )
        object.__setattr__(self, "description", description)
        object.__setattr__(
            self,
            "material_specs",
            {k: dict(v) for k, v in (material_specs or {}).items()},
        )

    # ------------------------------------------------------------------ sizes
    @property
    def depth_cm(self) -> float:
        """Total depth in cm."""
        return sum(s.depth_cm for s in self.sections)

    @property
    def depth_x0(self) -> float:
        """Total depth in radiation lengths."""
        return sum(s.period_x0 * s.repeat for s in self.sections)

    @property
    def depth_lambda_i(self) -> float:
        """Total depth in nuclear interaction lengths."""
        return sum(s.period_lambda_i * s.repeat for s in self.sections)

    @property
    def n_layers(self) -> int:
        """Number of physical layers (all materials)."""
        return sum(len(s.layers) * s.repeat for s in self.sections)

    def section_grid(self, section: Section) -> tuple[int, int]:
        """``(nx, ny)`` cells of a section's readout layers."""
        return (
            int(round(self.transverse_size_cm[0] / section.cell_size_cm[0])),
            int(round(self.transverse_size_cm[1] / section.cell_size_cm[1])),
        )

    @cached_property
    def readout_layers(self) -> tuple[ReadoutLayer, ...]:
        """Every sensitive layer instance, front to back, with its cell grid and depth."""
        out: list[ReadoutLayer] = []
        z = x0 = lam = 0.0
        offset = 0
        for si, s in enumerate(self.sections):
            nx, ny = self.section_grid(s)
            for period in range(s.repeat):
                for pi, layer in enumerate(s.layers):
                    z1 = z + layer.thickness_cm
                    x1 = x0 + layer.x0
                    l1 = lam + layer.lambda_i
                    if layer.sensitive:
                        out.append(
                            ReadoutLayer(
                                index=len(out),
                                section=s.name,
                                section_index=si,
                                period=period,
                                pattern_index=pi,
                                material=layer.material.name,
                                thickness_cm=layer.thickness_cm,
                                z_start_cm=z,
                                z_end_cm=z1,
                                depth_x0_start=x0,
                                depth_x0_end=x1,
                                depth_lambda_start=lam,
                                depth_lambda_end=l1,
                                nx=nx,
                                ny=ny,
                                cell_size_cm=s.cell_size_cm,
                                offset=offset,
                            )
                        )
                        offset += nx * ny
                    z, x0, lam = z1, x1, l1
        return tuple(out)

    @property
    def n_readout_layers(self) -> int:
        return len(self.readout_layers)

    @property
    def n_channels(self) -> int:
        """Number of readout cells (channels)."""
        return sum(r.n_cells for r in self.readout_layers)

    @property
    def uniform_grid(self) -> tuple[int, int] | None:
        """``(nx, ny)`` when every readout layer has the same grid, else ``None``."""
        grids = {(r.nx, r.ny) for r in self.readout_layers}
        return next(iter(grids)) if len(grids) == 1 else None

    # ------------------------------------------------------------------ mass and cost
    def mass_kg_by_material(self) -> dict[str, float]:
        """Mass in kg of each material."""
        area = self.transverse_size_cm[0] * self.transverse_size_cm[1]
        out: dict[str, float] = {}
        for s in self.sections:
            for layer in s.layers:
                m = layer.thickness_cm * area * layer.material.density_g_cm3 * s.repeat / 1000.0
                out[layer.material.name] = out.get(layer.material.name, 0.0) + m
        return out

    def cost_chf_by_material(self) -> dict[str, float]:
        """Cost in CHF of each material (mass × price)."""
        prices = {
            layer.material.name: layer.material.price_chf_per_kg
            for s in self.sections
            for layer in s.layers
        }
        return {k: m * prices[k] for k, m in self.mass_kg_by_material().items()}

    @property
    def mass_kg(self) -> float:
        return sum(self.mass_kg_by_material().values())

    def section_channels(self, section: Section) -> int:
        """Readout channels of a section: cells per layer × sensitive layers."""
        nx, ny = self.section_grid(section)
        return nx * ny * section.n_sensitive * section.repeat

    def section_noise_hits(self, section: Section) -> float:
        """Expected number of channels of a section above threshold on noise alone, per event."""
        nx, ny = self.section_grid(section)
        return sum(
            section.readout.for_layer(layer.mip_loss_mev).noise_occupancy * nx * ny * section.repeat
            for layer in section.layers
            if layer.sensitive
        )

    @property
    def noise_hits_per_event(self) -> float:
        """Expected number of noise hits per event in the whole detector."""
        return sum(self.section_noise_hits(s) for s in self.sections)

    def readout_warnings(self) -> list[str]:
        """Problems of the sections' readouts (thresholds below 3σ of the noise)."""
        return [
            w
            for s in self.sections
            for w in s.readout.warnings(f"section '{s.name}'", self.section_channels(s))
        ]

    def channel_cost_chf_by_section(self) -> dict[str, float]:
        """Cost in CHF of the readout channels of each section (channels × price per channel
        of its readout technology)."""
        return {
            s.name: self.section_channels(s) * s.readout.channel_cost_chf for s in self.sections
        }

    @property
    def material_cost_chf(self) -> float:
        """Material cost in CHF (mass × price; what the design course's cost tracker counts)."""
        return sum(self.cost_chf_by_material().values())

    @property
    def channel_cost_chf(self) -> float:
        """Cost of all readout channels in CHF."""
        return sum(self.channel_cost_chf_by_section().values())

    @property
    def cost_chf(self) -> float:
        """Total cost in CHF: materials plus readout channels, so that granularity costs."""
        return self.material_cost_chf + self.channel_cost_chf

    def check_constraints(
        self, *, budget_chf: float | None = None, max_depth_cm: float | None = None
    ) -> list[str]:
        """Return human-readable violations of a budget and/or a maximum depth (empty if none)."""
        problems = []
        if budget_chf is not None and self.cost_chf > budget_chf:
            problems.append(
                f"cost {self.cost_chf:,.0f} CHF (materials {self.material_cost_chf:,.0f} + "
                f"{self.n_channels:,} readout channels {self.channel_cost_chf:,.0f}) exceeds "
                f"the budget of {budget_chf:,.0f} CHF by {self.cost_chf - budget_chf:,.0f} CHF"
            )
        if max_depth_cm is not None and self.depth_cm > max_depth_cm + 1e-9:
            problems.append(
                f"depth {self.depth_cm:.2f} cm exceeds the maximum of {max_depth_cm:.2f} cm"
            )
        return problems

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain-data description in the detector-file schema."""
        d: dict[str, Any] = {"name": self.name}
        if self.description:
            d["description"] = self.description
        d["transverse_size_cm"] = list(self.transverse_size_cm)
        if self.material_specs:
            d["materials"] = {k: dict(v) for k, v in self.material_specs.items()}
        d["sections"] = [
            {
                "name": s.name,
                "cell_size_cm": list(s.cell_size_cm),
                "repeat": s.repeat,
                "layers": [
                    {
                        "material": layer.material.name,
                        "thickness_cm": layer.thickness_cm,
                        "sensitive": layer.sensitive,
                    }
                    for layer in s.layers
                ],
                "readout": s.readout.to_table(),
            }
            for s in self.sections
        ]
        return d

    @cached_property
    def hash(self) -> str:
        """SHA-256 of the canonical description, including all material properties used."""
        payload = self.to_dict()
        payload["_material_properties"] = {
            layer.material.name: layer.material.to_dict()
            for s in self.sections
            for layer in s.layers
        }
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()

    def layer_table(self) -> list[dict[str, Any]]:
        """One row per physical layer: section, period, material, thickness and depths."""
        rows = []
        z = x0 = lam = 0.0
        for s in self.sections:
            fmip = s.mip_sampling_fractions()
            for period in range(s.repeat):
                for pi, layer in enumerate(s.layers):
                    rows.append(
                        {
                            "section": s.name,
                            "period": period,
                            "material": layer.material.name,
                            "thickness_cm": layer.thickness_cm,
                            "sensitive": layer.sensitive,
                            "z_start_cm": z,
                            "z_end_cm": z + layer.thickness_cm,
                            "depth_x0_end": x0 + layer.x0,
                            "depth_lambda_end": lam + layer.lambda_i,
                            "mip_fraction": fmip[pi],
                        }
                    )
                    z += layer.thickness_cm
                    x0 += layer.x0
                    lam += layer.lambda_i
        return rows

    def summary(self) -> dict[str, Any]:
        """Depth, channels, mass and cost, per section and in total (plain data)."""
        sections = []
        for s in self.sections:
            nx, ny = self.section_grid(s)
            sections.append(
                {
                    "name": s.name,
                    "pattern": " + ".join(
                        f"{layer.thickness_cm:g} cm {layer.material.name}"
                        + (" (sensitive)" if layer.sensitive else "")
                        for layer in s.layers
                    ),
                    "repeat": s.repeat,
                    "depth_cm": s.depth_cm,
                    "depth_x0": s.period_x0 * s.repeat,
                    "depth_lambda_i": s.period_lambda_i * s.repeat,
                    "mip_sampling_fraction": s.mip_sampling_fraction,
                    "cells": [nx, ny],
                    "cell_size_cm": list(s.cell_size_cm),
                    "channels": self.section_channels(s),
                    "readout": s.readout.to_table(),
                    "readout_summary": s.readout.describe(),
                    "readout_layers": [
                        {
                            "material": layer.material.name,
                            **{
                                k: (None if isinstance(v, float) and math.isinf(v) else v)
                                for k, v in asdict(s.readout.for_layer(layer.mip_loss_mev)).items()
                            },
                        }
                        for layer in s.layers
                        if layer.sensitive
                    ],
                    "channel_cost_chf": self.section_channels(s) * s.readout.channel_cost_chf,
                    "noise_hits_per_event": self.section_noise_hits(s),
                    "warnings": s.readout.warnings(f"section '{s.name}'", self.section_channels(s)),
                }
            )
        return {
            "name": self.name,
            "description": self.description,
            "transverse_size_cm": list(self.transverse_size_cm),
            "depth_cm": self.depth_cm,
            "depth_x0": self.depth_x0,
            "depth_lambda_i": self.depth_lambda_i,
            "readout_layers": self.n_readout_layers,
            "channels": self.n_channels,
            "mass_kg": self.mass_kg_by_material(),
            "cost_chf": self.cost_chf_by_material(),
            "total_mass_kg": self.mass_kg,
            "material_cost_chf": self.material_cost_chf,
            "channel_cost_chf": self.channel_cost_chf,
            "total_cost_chf": self.cost_chf,
            "noise_hits_per_event": self.noise_hits_per_event,
            "readout_warnings": self.readout_warnings(),
            "sections": sections,
        }
