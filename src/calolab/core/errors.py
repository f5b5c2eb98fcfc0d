"""Exceptions raised by calolab.

Every error a user can cause derives from :class:`CalolabError`. Messages say *where* the
problem is, *what* was wrong, the offending value and how to fix it, e.g.::

    layer 3 of section 'ecal': thickness_cm -0.2 must be > 0

The command line turns any :class:`CalolabError` into one line on stderr and exit code 2.
"""

from __future__ import annotations


class CalolabError(Exception):
    """Base class of all errors caused by user input or user data."""


class ConfigError(CalolabError, ValueError):
    """A configuration value (detector file, particle gun, CLI option) is invalid."""


class MaterialError(ConfigError):
    """An unknown material or invalid material definition."""


class GeometryError(ConfigError):
    """An invalid detector geometry."""


class DataError(CalolabError):
    """A data file is missing, unreadable, malformed or inconsistent."""


class OutputError(CalolabError):
    """An output file or directory cannot be written."""


class MissingDependencyError(CalolabError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def require(module: str, extra: str, purpose: str) -> object:
    """Import an optional dependency or raise an error naming the extra that provides it.

    Parameters
    ----------
    module:
        Importable module name, e.g. ``"torch"``.
    extra:
        Name of the calolab extra that installs it, e.g. ``"ml"``.
    purpose:
        What the module is needed for, used in the message.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingDependencyError(
            f"{purpose} needs the Python package '{module}', which is not installed; "
            f"install it with: pip install 'calolab[{extra}]'"
        ) from exc
