"""Datasets: the Showers result object, HDF5 files (CaloChallenge-compatible) and importers
of the files of other tools (EDM4hep calorimeter hits)."""

from calolab.data.cellid import CellIDEncoding
from calolab.data.edm4hep import (
    CellMapping,
    PositionMapping,
    import_edm4hep,
    inspect_edm4hep,
    read_edm4hep,
)
from calolab.data.hdf5 import ShowerFile, ShowerWriter, read_showers, write_showers
from calolab.data.showers import Ragged, Showers

__all__ = [
    "CellIDEncoding",
    "CellMapping",
    "PositionMapping",
    "Ragged",
    "ShowerFile",
    "ShowerWriter",
    "Showers",
    "import_edm4hep",
    "inspect_edm4hep",
    "read_edm4hep",
    "read_showers",
    "write_showers",
]
