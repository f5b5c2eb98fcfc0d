"""On-disk cache of computed physics tables (numpy arrays), verified by a checksum.

Files live under ``$CALOLAB_CACHE_DIR`` (default ``~/.cache/calolab``), are named after a
hash of everything the tables depend on, are written atomically (temporary file, then
rename) and are rebuilt when unreadable, truncated or corrupt. An unwritable cache
directory only costs the rebuild: the tables still work in memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from calolab.core.errors import OutputError
from calolab.core.files import atomic_output

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """``$CALOLAB_CACHE_DIR`` or ``~/.cache/calolab``."""
    env = os.environ.get("CALOLAB_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "calolab"


def key_of(description: dict[str, Any]) -> str:
    """Short hash of a JSON-serialisable description."""
    blob = json.dumps(description, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def load_arrays(path: Path, version: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """Arrays and metadata of a cache file, or ``None`` (with a warning) if it is unusable."""
    try:
        with np.load(path, allow_pickle=False) as d:
            arrays = {k: np.array(d[k]) for k in d.files if k not in ("checksum", "meta")}
            stored = str(d["checksum"])
            meta = json.loads(str(d["meta"]))
    except Exception as exc:  # unreadable, truncated, not an npz …
        log.warning("cache file %s is unreadable (%s); rebuilding it", path, exc)
        return None
    if stored != checksum(arrays) or meta.get("version") != version:
        log.warning("cache file %s is corrupt or stale; rebuilding it", path)
        return None
    return arrays, meta


def save_arrays(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write ``arrays`` with their checksum and ``meta`` atomically; warn if impossible."""
    payload: dict[str, Any] = {
        "checksum": np.array(checksum(arrays)),
        "meta": np.array(json.dumps(meta)),
        **arrays,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a unique temporary file, no lock: processes building the same table write the
        # same bytes, and the last rename wins
        with atomic_output(path, what="cache file") as tmp, open(tmp, "wb") as f:
            np.savez(f, **payload)
    except (OSError, OutputError) as exc:  # read-only home, full disk
        log.warning("could not write the cache file %s: %s", path, exc)


def cached(
    subdir: str,
    stem: str,
    description: dict[str, Any],
    version: str,
    build: Callable[[], tuple[dict[str, np.ndarray], dict[str, Any]]],
    use_cache: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load ``cache_dir()/subdir/stem-<hash>.npz`` or build it with ``build()`` and save it."""
    path = cache_dir() / subdir / f"{stem}-{key_of({**description, 'version': version})}.npz"
    if use_cache and path.exists():
        got = load_arrays(path, version)
        if got is not None:
            return got
    arrays, meta = build()
    meta = {**meta, "version": version}
    if use_cache:
        save_arrays(path, arrays, meta)
    return arrays, meta
