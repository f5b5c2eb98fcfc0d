"""Detector files (TOML): reading, validation and exact round trips.

Schema::

    name = "pbwo4-block"
    description = "optional text"
    transverse_size_cm = [60.0, 60.0]

    [materials.PbWO4]            # optional: override properties of a built-in material
    price_chf_per_kg = 300.0

    [materials.my_brass]         # optional: a new material, as a mixture by mass fraction
    mixture = { Cu = 0.62, Zn = 0.38 }
    density_g_cm3 = 8.5

    [materials.my_scint]         # or a copy of a built-in with changes
    base = "polystyrene"
    density_g_cm3 = 1.032

    [[sections]]
    name = "ecal"
    cell_size_cm = [1.0, 1.0]
    repeat = 40
    layers = [{ material = "PbWO4", thickness_cm = 0.89, sensitive = true }]
    [sections.readout]           # optional (default: that of the sensitive material, if any)
    technology = "apd"           # sipm, apd, pmt, silicon, lar or ideal
    photoelectrons_per_mev = 4.5 # or photoelectrons_per_mip
    noise_mev = 40.0             # or noise_mip (σ per channel)
    threshold_sigma = 3.0        # zero suppression, in units of the noise
    saturation_mev = 1.7e6       # or saturation_mip
    cost_chf_per_channel = 50.0

See :mod:`calolab.geometry.readout` for the units and the defaults.

Unknown keys, unknown materials and non-positive sizes raise :class:`GeometryError` naming
the key and the value.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from calolab.core.config import from_table
from calolab.core.errors import ConfigError, GeometryError, MaterialError, OutputError
from calolab.geometry.detector import Calorimeter, Layer, Section
from calolab.geometry.materials import BUILTIN_MATERIALS, Material, get_material, mixture
from calolab.geometry.readout import Readout

_TOP_KEYS = {"name", "description", "transverse_size_cm", "sections", "materials"}
_SECTION_KEYS = {"name", "cell_size_cm", "repeat", "layers", "readout"}
_LAYER_KEYS = {"material", "thickness_cm", "sensitive"}
_MATERIAL_NUMERIC = {
    f.name for f in fields(Material) if f.name not in {"name", "composition", "source", "aliases"}
}
_MATERIAL_KEYS = _MATERIAL_NUMERIC | {"base", "mixture", "composition"}


def _finite(v: object) -> bool:
    """True for a finite int or float (not bool); huge TOML integers are not finite floats."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _check_keys(where: str, data: Mapping[str, object], allowed: set[str]) -> None:
    if not isinstance(data, Mapping):
        raise GeometryError(f"{where} must be a table, got {data!r}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise GeometryError(
            f"{where}: unknown key '{unknown[0]}'; allowed keys: {', '.join(sorted(allowed))}"
        )


def _build_materials(specs: Mapping[str, object]) -> dict[str, Material]:
    if not isinstance(specs, Mapping):
        raise MaterialError(f"[materials] must be a table of tables, got {specs!r}")
    out: dict[str, Material] = {}
    for name, spec in specs.items():
        where = f"[materials.{name}]"
        _check_keys(where, spec, _MATERIAL_KEYS)  # type: ignore[arg-type]
        assert isinstance(spec, Mapping)
        numeric: dict[str, Any] = {}
        for k in _MATERIAL_NUMERIC & set(spec):
            v = spec[k]
            if not _finite(v):
                raise MaterialError(f"{where}: {k} {v!r} must be a finite number")
            numeric[k] = float(v)
        composition = spec.get("composition")
        if isinstance(composition, Mapping):
            for element, fraction in composition.items():
                if not _finite(fraction):
                    raise MaterialError(
                        f"{where}: composition fraction of '{element}' {fraction!r} must be a "
                        "finite number"
                    )
        if "mixture" in spec:
            mix = spec["mixture"]
            if not isinstance(mix, Mapping) or not mix:
                raise MaterialError(
                    f"{where}: mixture {mix!r} must be a table of material = mass fraction"
                )
            if "density_g_cm3" not in numeric:
                raise MaterialError(f"{where}: a mixture needs density_g_cm3 (g/cm³)")
            comps = []
            for comp_name, w in mix.items():
                if not _finite(w):
                    raise MaterialError(
                        f"{where}: mass fraction of '{comp_name}' {w!r} is not a finite number"
                    )
                comps.append((get_material(comp_name, out), float(w)))
            base = mixture(name, comps, density_g_cm3=numeric.pop("density_g_cm3"))
        elif (
            "base" in spec
            or name.lower() in {k.lower() for k in BUILTIN_MATERIALS}
            or _is_alias(name)
        ):
            base_name = spec.get("base", name)
            if not isinstance(base_name, str):
                raise MaterialError(f"{where}: base {base_name!r} must be a material name")
            base = replace(get_material(base_name, out), name=name, aliases=())
            if base_name != name:
                base = replace(base, source=f"{base.source}; modified copy of {base_name}")
        else:
            missing = sorted(
                _MATERIAL_NUMERIC - set(numeric) - {"price_chf_per_kg", "moliere_radius_g_cm2"}
            )
            if missing:
                raise MaterialError(
                    f"{where}: '{name}' is not a built-in material, so it needs 'base', "
                    f"'mixture' or all properties; missing: {', '.join(missing)}"
                )
            numeric.setdefault("price_chf_per_kg", 0.0)
            if "moliere_radius_g_cm2" not in numeric:
                numeric["moliere_radius_g_cm2"] = (
                    numeric["x0_g_cm2"] * 21.2052 / numeric["critical_energy_mev"]
                )
            if not isinstance(composition, Mapping):
                raise MaterialError(
                    f"{where}: a new material needs composition = {{ element = mass fraction }}"
                )
            out[name] = Material(
                name=name,
                composition=tuple((str(k), float(v)) for k, v in composition.items()),
                source="user-defined in the detector file",
                **numeric,
            )
            continue
        if composition is not None:
            if not isinstance(composition, Mapping):
                raise MaterialError(f"{where}: composition {composition!r} must be a table")
            base = replace(
                base, composition=tuple((str(k), float(v)) for k, v in composition.items())
            )
        try:
            out[name] = replace(base, **numeric) if numeric else base
        except MaterialError as exc:
            raise MaterialError(f"{where}: {exc}") from None
    return out


def _is_alias(name: str) -> bool:
    try:
        get_material(name)
    except MaterialError:
        return False
    return True


def detector_from_dict(data: Mapping[str, object]) -> Calorimeter:
    """Build a :class:`Calorimeter` from plain data in the detector-file schema.

    Raises
    ------
    GeometryError
        For unknown keys, missing keys, unknown materials or invalid values.
    """
    _check_keys("detector", data, _TOP_KEYS)
    for key in ("name", "transverse_size_cm", "sections"):
        if key not in data:
            raise GeometryError(f"detector: missing key '{key}'")
    specs = data.get("materials", {}) or {}
    user_materials = _build_materials(specs)  # type: ignore[arg-type]
    sections_data = data["sections"]
    if not isinstance(sections_data, list) or not sections_data:
        raise GeometryError(
            f"detector: sections {sections_data!r} must be a non-empty list of [[sections]] tables"
        )
    sections = []
    for si, sd in enumerate(sections_data):
        where = f"section {si}" + (f" '{sd.get('name')}'" if isinstance(sd, Mapping) else "")
        _check_keys(where, sd, _SECTION_KEYS)
        assert isinstance(sd, Mapping)
        for key in ("name", "layers"):
            if key not in sd:
                raise GeometryError(f"{where}: missing key '{key}'")
        layers_data = sd["layers"]
        if not isinstance(layers_data, list) or not layers_data:
            raise GeometryError(f"{where}: layers {layers_data!r} must be a non-empty list")
        layers = []
        for li, ld in enumerate(layers_data):
            lwhere = f"{where}, layer {li}"
            _check_keys(lwhere, ld, _LAYER_KEYS)
            assert isinstance(ld, Mapping)
            for key in ("material", "thickness_cm"):
                if key not in ld:
                    raise GeometryError(f"{lwhere}: missing key '{key}'")
            try:
                mat = get_material(str(ld["material"]), user_materials)
                layers.append(Layer(mat, ld["thickness_cm"], ld.get("sensitive", False)))  # type: ignore[arg-type]
            except (GeometryError, MaterialError) as exc:
                raise type(exc)(f"{lwhere}: {exc}") from None
        readout = None
        if "readout" in sd:
            try:
                readout = from_table(Readout, sd["readout"], f"{where}, readout")
            except ConfigError as exc:
                msg = str(exc)
                if not msg.startswith(where):
                    msg = f"{where}, {msg}"
                raise GeometryError(msg) from None
        try:
            sections.append(
                Section(
                    sd["name"],  # type: ignore[arg-type]
                    layers,
                    repeat=sd.get("repeat", 1),  # type: ignore[arg-type]
                    cell_size_cm=sd.get("cell_size_cm", 1.0),  # type: ignore[arg-type]
                    readout=readout,
                )
            )
        except GeometryError as exc:
            raise GeometryError(f"{where}: {exc}") from None
    return Calorimeter(
        data["name"],  # type: ignore[arg-type]
        data["transverse_size_cm"],  # type: ignore[arg-type]
        sections,
        description=data.get("description", ""),  # type: ignore[arg-type]
        material_specs=specs,  # type: ignore[arg-type]
    )


def loads_detector(text: str, source: str = "<string>") -> Calorimeter:
    """Parse a detector from TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GeometryError(f"{source}: malformed TOML: {exc}") from None
    return detector_from_dict(data)


def load_detector(path: str | os.PathLike[str]) -> Calorimeter:
    """Read a detector file (TOML)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"detector file '{p}' does not exist") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: NUL in the name
        raise ConfigError(f"detector file '{p}' cannot be read: {exc}") from None
    return loads_detector(text, source=str(p))


def _fmt(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise GeometryError(f"cannot write non-finite number {value!r} to TOML")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_fmt(v)}" for k, v in value.items()) + " }"
    raise GeometryError(f"cannot write {value!r} to TOML")


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else json.dumps(k)


def dumps_detector(det: Calorimeter) -> str:
    """Serialise a detector to TOML text (inverse of :func:`loads_detector`)."""
    d = det.to_dict()
    lines = [f"name = {_fmt(d['name'])}"]
    if "description" in d:
        lines.append(f"description = {_fmt(d['description'])}")
    lines.append(f"transverse_size_cm = {_fmt(d['transverse_size_cm'])}")
    for mname, spec in (d.get("materials") or {}).items():  # type: ignore[union-attr]
        lines.append("")
        lines.append(f"[materials.{_key(mname)}]")
        for k, v in spec.items():
            lines.append(f"{_key(k)} = {_fmt(v)}")
    for s in d["sections"]:  # type: ignore[union-attr]
        lines.append("")
        lines.append("[[sections]]")
        lines.append(f"name = {_fmt(s['name'])}")
        lines.append(f"cell_size_cm = {_fmt(s['cell_size_cm'])}")
        lines.append(f"repeat = {_fmt(s['repeat'])}")
        lines.append("layers = [")
        for layer in s["layers"]:
            lines.append(f"  {_fmt(layer)},")
        lines.append("]")
        if s.get("readout"):
            lines.append("[sections.readout]")
            for k, v in s["readout"].items():
                lines.append(f"{_key(k)} = {_fmt(v)}")
    return "\n".join(lines) + "\n"


def save_detector(det: Calorimeter, path: str | os.PathLike[str]) -> Path:
    """Write a detector file atomically (temporary name, then rename)."""
    p = Path(path)
    text = dumps_detector(det)
    tmp = p.with_name(p.name + ".partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write detector file '{p}': {exc.strerror or exc}") from None
    return p
