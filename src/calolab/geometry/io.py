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
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from calolab.core import files
from calolab.core.config import (
    check_keys,
    check_name,
    from_table,
    loads_toml,
    read_json,
    read_toml,
)
from calolab.core.errors import ConfigError, GeometryError, MaterialError
from calolab.geometry.detector import MAX_NAME_LENGTH, Calorimeter, Layer, Section
from calolab.geometry.materials import (
    BUILTIN_MATERIALS,
    Material,
    get_material,
    material_key,
    mixture,
)
from calolab.geometry.readout import Readout

_TOP_KEYS = {"name", "description", "transverse_size_cm", "sections", "materials"}
_SECTION_KEYS = {"name", "cell_size_cm", "repeat", "layers", "readout"}
_LAYER_KEYS = {"material", "thickness_cm", "sensitive"}
_MATERIAL_NUMERIC = {
    f.name for f in fields(Material) if f.name not in {"name", "composition", "source", "aliases"}
}
_MATERIAL_KEYS = _MATERIAL_NUMERIC | {"base", "mixture", "composition"}
#: Most materials one detector file may define (the built-in table has a few dozen).
MAX_MATERIALS = 1000
#: Most components of one mixture or elements of one composition.
MAX_COMPONENTS = 100
_BUILTIN_KEYS = {material_key(k) for k in BUILTIN_MATERIALS}


def _finite(v: object) -> bool:
    """True for a finite int or float (not bool); huge TOML integers are not finite floats."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


class _Materials(dict):
    """User materials by name, with an index of their normalised names kept up to date, so
    that each lookup is O(1) and a [materials] table of n entries loads in O(n)."""

    def __init__(self) -> None:
        super().__init__()
        self.index: dict[str, Material] = {}

    def add(self, name: str, material: Material) -> None:
        self[name] = material
        for n in (material.name, *material.aliases):
            self.index[material_key(n)] = material

    def get_material(self, name: object) -> Material:
        if isinstance(name, str) and name.strip():
            found = self.index.get(material_key(name))
            if found is not None:
                return found
        try:
            return get_material(name)  # type: ignore[arg-type]
        except MaterialError:
            if not self:
                raise
            raise MaterialError(
                f"unknown material '{name}'; not a built-in material (calolab detector show "
                f"lists them) nor one of the {len(self):,} defined in [materials]"
            ) from None


def _build_materials(specs: Mapping[str, object]) -> dict[str, Material]:
    if not isinstance(specs, Mapping):
        raise MaterialError(f"[materials] must be a table of tables, got {specs!r}")
    if len(specs) > MAX_MATERIALS:
        raise MaterialError(
            f"[materials] defines {len(specs):,} materials; at most {MAX_MATERIALS:,} are allowed"
        )
    out = _Materials()
    for name, spec in specs.items():
        where = f"[materials.{name}]"
        try:
            check_name("material name", name, where="[materials]", max_length=MAX_NAME_LENGTH)
        except ConfigError as exc:
            raise MaterialError(str(exc)) from None
        check_keys(where, spec, _MATERIAL_KEYS, error=GeometryError)
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
            if len(mix) > MAX_COMPONENTS:
                raise MaterialError(
                    f"{where}: mixture has {len(mix):,} components; at most {MAX_COMPONENTS}"
                )
            comps = []
            for comp_name, w in mix.items():
                if not _finite(w):
                    raise MaterialError(
                        f"{where}: mass fraction of '{comp_name}' {w!r} is not a finite number"
                    )
                try:
                    comps.append((out.get_material(comp_name), float(w)))
                except MaterialError as exc:
                    raise MaterialError(f"{where}: {exc}") from None
            base = mixture(name, comps, density_g_cm3=numeric.pop("density_g_cm3"))
        elif "base" in spec or material_key(name) in _BUILTIN_KEYS or _is_alias(name):
            base_name = spec.get("base", name)
            if not isinstance(base_name, str):
                raise MaterialError(f"{where}: base {base_name!r} must be a material name")
            try:
                base = replace(out.get_material(base_name), name=name, aliases=())
            except MaterialError as exc:
                raise MaterialError(f"{where}: {exc}") from None
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
            if len(composition) > MAX_COMPONENTS:
                raise MaterialError(
                    f"{where}: composition has {len(composition):,} elements; at most "
                    f"{MAX_COMPONENTS}"
                )
            out.add(
                name,
                Material(
                    name=name,
                    composition=tuple((str(k), float(v)) for k, v in composition.items()),
                    source="user-defined in the detector file",
                    **numeric,
                ),
            )
            continue
        if composition is not None:
            if not isinstance(composition, Mapping):
                raise MaterialError(f"{where}: composition {composition!r} must be a table")
            base = replace(
                base, composition=tuple((str(k), float(v)) for k, v in composition.items())
            )
        try:
            out.add(name, replace(base, **numeric) if numeric else base)
        except MaterialError as exc:
            raise MaterialError(f"{where}: {exc}") from None
    return dict(out)


def _is_alias(name: str) -> bool:
    try:
        get_material(name)
    except MaterialError:
        return False
    return True


def detector_from_dict(data: Mapping[str, Any]) -> Calorimeter:
    """Build a :class:`Calorimeter` from plain data in the detector-file schema.

    Raises
    ------
    GeometryError
        For unknown keys, missing keys, unknown materials or invalid values.
    """
    check_keys("detector", data, _TOP_KEYS, error=GeometryError)
    for key in ("name", "transverse_size_cm", "sections"):
        if key not in data:
            raise GeometryError(f"detector: missing key '{key}'")
    specs = data.get("materials", {}) or {}
    user_materials = _Materials()
    for mname, mat in _build_materials(specs).items():
        user_materials.add(mname, mat)
    sections_data = data["sections"]
    if not isinstance(sections_data, list) or not sections_data:
        raise GeometryError(
            f"detector: sections {sections_data!r} must be a non-empty list of [[sections]] tables"
        )
    sections = []
    for si, sd in enumerate(sections_data):
        where = f"section {si}" + (f" '{sd.get('name')}'" if isinstance(sd, Mapping) else "")
        check_keys(where, sd, _SECTION_KEYS, error=GeometryError)
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
            check_keys(lwhere, ld, _LAYER_KEYS, error=GeometryError)
            assert isinstance(ld, Mapping)
            for key in ("material", "thickness_cm"):
                if key not in ld:
                    raise GeometryError(f"{lwhere}: missing key '{key}'")
            try:
                mat = user_materials.get_material(str(ld["material"]))
                layers.append(Layer(mat, ld["thickness_cm"], ld.get("sensitive", False)))
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
                    sd["name"],
                    layers,
                    repeat=sd.get("repeat", 1),
                    cell_size_cm=sd.get("cell_size_cm", 1.0),
                    readout=readout,
                )
            )
        except GeometryError as exc:
            raise GeometryError(f"{where}: {exc}") from None
    return Calorimeter(
        data["name"],
        data["transverse_size_cm"],
        sections,
        description=data.get("description", ""),
        material_specs=specs,
    )


def loads_detector(text: str, source: str = "<string>") -> Calorimeter:
    """Parse a detector from TOML text (bounded nesting, see :func:`calolab.core.config.loads_toml`)."""
    try:
        data = loads_toml(text, source)
    except GeometryError:
        raise
    except ConfigError as exc:
        raise GeometryError(str(exc)) from None
    return detector_from_dict(data)


def load_detector(path: str | os.PathLike[str]) -> Calorimeter:
    """Read a detector file (TOML, or JSON with the same keys when the name ends in
    ``.json``; bounded size and nesting, a regular file only)."""
    p = Path(path)
    if "\x00" in str(path):
        raise ConfigError(
            f"detector file {str(path)!r} cannot be read: its name contains a NUL character"
        )
    try:
        if p.suffix.lower() == ".json":
            data = read_json(p, "detector file")
            if not isinstance(data, dict):
                raise GeometryError(
                    f"detector file '{p}': the JSON document must be an object with the keys "
                    f"of a detector TOML file (name, transverse_size_cm, sections...), not "
                    f"{type(data).__name__}"
                )
        else:
            data = read_toml(p, "detector file")
    except GeometryError:
        raise
    except ConfigError as exc:
        if "malformed TOML" in str(exc) or "nested" in str(exc):
            raise GeometryError(str(exc)) from None
        raise
    return detector_from_dict(data)


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
    for mname, spec in (d.get("materials") or {}).items():
        lines.append("")
        lines.append(f"[materials.{_key(mname)}]")
        for k, v in spec.items():
            lines.append(f"{_key(k)} = {_fmt(v)}")
    for s in d["sections"]:
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


def detector_to_dict(det: Calorimeter) -> dict[str, Any]:
    """The detector as the table of its TOML file (what :func:`detector_from_dict` reads)."""
    return loads_toml(dumps_detector(det), f"detector '{det.name}'")


#: File formats :func:`save_detector` writes, by file-name suffix.
DETECTOR_FORMATS = {".toml": "TOML", ".json": "JSON"}


def save_detector(
    det: Calorimeter, path: str | os.PathLike[str], *, inputs: tuple[str, ...] = ()
) -> Path:
    """Write a detector file atomically (through :mod:`calolab.core.files`): TOML, or JSON with
    the same keys when the name ends in ``.json``; ``inputs``: files the caller read (the
    output must be none of them).

    Raises
    ------
    GeometryError
        The file name has another suffix (the message lists the formats).
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return files.write_json(path, detector_to_dict(det), inputs=inputs, what="detector file")
    if suffix != ".toml":
        raise GeometryError(
            f"detector file '{path}': unknown format {suffix or '(no suffix)'!r}; name it "
            "*.toml or *.json (or *.gdml for `calolab detector export`)"
        )
    return files.write_text(path, dumps_detector(det), inputs=inputs, what="detector file")
