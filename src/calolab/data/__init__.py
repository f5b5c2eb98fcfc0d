"""Datasets: the Showers result object and HDF5 files (CaloChallenge-compatible)."""

from calolab.data.hdf5 import ShowerFile, ShowerWriter, read_showers, write_showers
from calolab.data.showers import Ragged, Showers

__all__ = ["Ragged", "ShowerFile", "ShowerWriter", "Showers", "read_showers", "write_showers"]
