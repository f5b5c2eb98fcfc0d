"""Provenance: what made a file — package version, source revision, model versions, config.

Every dataset, training run, evaluation and report records :func:`stamp`: the calolab
version, ``git describe`` of the source tree when calolab runs from a git checkout, the
versions of the physics models that made the showers, and the configuration with its hash.
The physics model versions are declared by :mod:`calolab.physics` (one place to bump them)
and passed in by the layers that simulate.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any


@functools.cache
def package_version() -> str:
    """The installed calolab version (``0.0.0+unknown`` when run from an uninstalled tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("calolab")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0+unknown"


@functools.cache
def git_describe() -> str | None:
    """``git describe --always --dirty --tags`` of the tree calolab is imported from, or None
    when it is not a git checkout (an installed wheel) or git is unavailable."""
    src = Path(__file__).resolve().parents[3]
    if not (src / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "describe", "--always", "--dirty", "--tags"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return text or None


def config_hash(config: Any) -> str:
    """SHA-256 of the canonical JSON of ``config``."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def stamp(
    config: Mapping[str, Any] | None = None,
    *,
    models: Mapping[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The provenance record of an output.

    Parameters
    ----------
    config:
        What was asked for (JSON-serialisable); stored with its hash.
    models:
        Versions of the physics models involved (``{"em": "gflash-2", ...}``).
    extra:
        Further top-level entries (e.g. ``source_files``).

    Returns
    -------
    dict
        ``{"calolab_version", "git", "physics", "config", "config_hash", **extra}`` (the keys
        whose value is unknown are left out).
    """
    out: dict[str, Any] = {"calolab_version": package_version()}
    rev = git_describe()
    if rev:
        out["git"] = rev
    if models is not None:
        out["physics"] = dict(models)
    if config is not None:
        out["config"] = dict(config)
        out["config_hash"] = config_hash(config)
    out.update(extra)
    return out
