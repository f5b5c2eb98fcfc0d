"""The bottom layer: what every stage of calolab shares.

* :mod:`calolab.core.errors` — the exceptions (:class:`CalolabError` and its subclasses);
* :mod:`calolab.core.files` — the output-path guard and the one atomic writer;
* :mod:`calolab.core.config` — configuration tables into validated dataclasses, validators;
* :mod:`calolab.core.provenance` — package version, source revision, model versions;
* :mod:`calolab.core.particles` — the particle table (names, PDG ids, masses).

``core`` imports nothing else from calolab.
"""

from calolab.core.errors import (
    CalolabError,
    ConfigError,
    DataError,
    GeometryError,
    MaterialError,
    MissingDependencyError,
    OutputError,
    require,
)

__all__ = [
    "CalolabError",
    "ConfigError",
    "DataError",
    "GeometryError",
    "MaterialError",
    "MissingDependencyError",
    "OutputError",
    "require",
]
