"""GDML export, so that a calolab design can be simulated with Geant4 or DD4hep.

The calorimeter becomes a box world (vacuum, 20 cm margin on every side) holding one box per
physical layer, placed front to back along +z with the front face at z = 0 as in calolab.
Materials are written from their element mass fractions and densities; elements carry Z and
the atomic mass. Sensitive layers get a ``<auxiliary auxtype="SensDet" auxvalue="..."/>``
tag (the convention of Geant4's GDML reader for sensitive detectors) and their readout cell
size as ``calolab_cell_size_cm``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from calolab.core.files import atomic_output
from calolab.geometry.detector import Calorimeter
from calolab.geometry.materials import ELEMENTS

WORLD_MARGIN_CM = 20.0
_SCHEMA = "http://service-spi.web.cern.ch/service-spi/app/releases/GDML/schema/gdml.xsd"


def _f(x: float) -> str:
    return repr(float(x))


def to_gdml(det: Calorimeter) -> ET.ElementTree:
    """The GDML document of ``det`` (lengths in cm, densities in g/cm³)."""
    root = ET.Element(
        "gdml",
        {
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": _SCHEMA,
        },
    )
    ET.SubElement(root, "define")
    mats = ET.SubElement(root, "materials")
    used = {layer.material.name: layer.material for s in det.sections for layer in s.layers}
    symbols = sorted({sym for m in used.values() for sym, _ in m.composition})
    for sym in symbols:
        el = ELEMENTS[sym]
        e = ET.SubElement(
            mats, "element", {"name": f"{sym}_element", "formula": sym, "Z": str(el.z)}
        )
        ET.SubElement(e, "atom", {"unit": "g/mole", "value": _f(el.a)})
    vacuum = ET.SubElement(mats, "material", {"name": "calolab_vacuum", "Z": "1", "state": "gas"})
    ET.SubElement(vacuum, "D", {"value": "1e-25", "unit": "g/cm3"})
    ET.SubElement(vacuum, "atom", {"value": "1.008", "unit": "g/mole"})
    for name, m in used.items():
        me = ET.SubElement(mats, "material", {"name": name, "state": "solid"})
        ET.SubElement(me, "D", {"value": _f(m.density_g_cm3), "unit": "g/cm3"})
        for sym, frac in m.composition:
            ET.SubElement(me, "fraction", {"n": _f(frac), "ref": f"{sym}_element"})

    lx, ly = det.transverse_size_cm
    solids = ET.SubElement(root, "solids")
    ET.SubElement(
        solids,
        "box",
        {
            "name": "world_box",
            "lunit": "cm",
            "x": _f(lx + 2 * WORLD_MARGIN_CM),
            "y": _f(ly + 2 * WORLD_MARGIN_CM),
            "z": _f(2 * (det.depth_cm + WORLD_MARGIN_CM)),
        },
    )
    structure = ET.SubElement(root, "structure")
    volumes: dict[tuple[str, float, bool, str], str] = {}
    placements: list[tuple[str, str, float]] = []
    z = 0.0
    for s in det.sections:
        for period in range(s.repeat):
            for pi, layer in enumerate(s.layers):
                key = (layer.material.name, layer.thickness_cm, layer.sensitive, s.name)
                if key not in volumes:
                    vname = f"{s.name}_layer{pi}_{layer.material.name}"
                    volumes[key] = vname
                    ET.SubElement(
                        solids,
                        "box",
                        {
                            "name": f"{vname}_box",
                            "lunit": "cm",
                            "x": _f(lx),
                            "y": _f(ly),
                            "z": _f(layer.thickness_cm),
                        },
                    )
                    v = ET.SubElement(structure, "volume", {"name": vname})
                    ET.SubElement(v, "materialref", {"ref": layer.material.name})
                    ET.SubElement(v, "solidref", {"ref": f"{vname}_box"})
                    if layer.sensitive:
                        ET.SubElement(v, "auxiliary", {"auxtype": "SensDet", "auxvalue": s.name})
                        ET.SubElement(
                            v,
                            "auxiliary",
                            {
                                "auxtype": "calolab_cell_size_cm",
                                "auxvalue": f"{s.cell_size_cm[0]:g} {s.cell_size_cm[1]:g}",
                            },
                        )
                placements.append(
                    (volumes[key], f"{s.name}_p{period}_l{pi}", z + layer.thickness_cm / 2)
                )
                z += layer.thickness_cm
    world = ET.SubElement(structure, "volume", {"name": "world"})
    ET.SubElement(world, "materialref", {"ref": "calolab_vacuum"})
    ET.SubElement(world, "solidref", {"ref": "world_box"})
    for vname, pname, zc in placements:
        pv = ET.SubElement(world, "physvol", {"name": pname})
        ET.SubElement(pv, "volumeref", {"ref": vname})
        ET.SubElement(
            pv, "position", {"name": f"{pname}_pos", "unit": "cm", "x": "0", "y": "0", "z": _f(zc)}
        )
    setup = ET.SubElement(root, "setup", {"name": "Default", "version": "1.0"})
    ET.SubElement(setup, "world", {"ref": "world"})
    ET.indent(root)
    return ET.ElementTree(root)


def save_gdml(
    det: Calorimeter, path: str | os.PathLike[str], *, inputs: tuple[str, ...] = ()
) -> Path:
    """Write ``det`` as GDML, atomically (through :mod:`calolab.core.files`)."""
    with atomic_output(path, inputs=inputs, what="GDML file") as tmp:
        to_gdml(det).write(tmp, encoding="utf-8", xml_declaration=True)
    return Path(path)
