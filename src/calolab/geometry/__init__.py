"""Detector description: materials, layers, sections, calorimeters, presets and files."""

from calolab.geometry.detector import Calorimeter, Layer, ReadoutLayer, Section
from calolab.geometry.io import (
    detector_from_dict,
    dumps_detector,
    load_detector,
    loads_detector,
    save_detector,
)
from calolab.geometry.materials import (
    BUILTIN_MATERIALS,
    Material,
    get_material,
    material_names,
    mixture,
)
from calolab.geometry.presets import PRESETS, preset, preset_names, resolve_detector
from calolab.geometry.readout import DEFAULT_READOUTS, TECHNOLOGIES, CellReadout, Readout

__all__ = [
    "BUILTIN_MATERIALS",
    "DEFAULT_READOUTS",
    "PRESETS",
    "TECHNOLOGIES",
    "Calorimeter",
    "CellReadout",
    "Layer",
    "Material",
    "Readout",
    "ReadoutLayer",
    "Section",
    "detector_from_dict",
    "dumps_detector",
    "get_material",
    "load_detector",
    "loads_detector",
    "material_names",
    "mixture",
    "preset",
    "preset_names",
    "resolve_detector",
    "save_detector",
]
