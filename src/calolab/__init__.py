"""calolab: machine-learning calorimetry, from a detector idea to a measured reconstruction."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("calolab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

from calolab.errors import CalolabError, ConfigError, DataError, GeometryError, MaterialError

__all__ = [
    "CalolabError",
    "ConfigError",
    "DataError",
    "GeometryError",
    "MaterialError",
    "__version__",
]
