"""calolab: machine-learning calorimetry, from a detector idea to a measured reconstruction."""

from calolab.core.errors import CalolabError, ConfigError, DataError, GeometryError, MaterialError
from calolab.core.provenance import package_version

__version__ = package_version()

__all__ = [
    "CalolabError",
    "ConfigError",
    "DataError",
    "GeometryError",
    "MaterialError",
    "__version__",
]
