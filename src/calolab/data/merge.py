"""Concatenate HDF5 shower files of one detector into one file, byte-exact and atomically.

Used by simulation campaigns to join their chunk files. The datasets are copied as stored
(MeV, float32), without a round trip through GeV, so the merged file holds exactly the values
a single streamed run writes. Where an input's rows start on an HDF5 chunk boundary of the
output (campaign chunk sizes are chosen so for the cell datasets), its compressed HDF5 chunks
are copied as they are (``read_direct_chunk``/``write_direct_chunk``): no decompression and
recompression. Other datasets are copied row by row; ragged-record offsets are rebased.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from calolab.core.errors import DataError
from calolab.core.files import check_output, os_error
from calolab.data.hdf5 import H5Output, ShowerFile, read_rows

log = logging.getLogger(__name__)

#: Rows copied per read, so that memory stays bounded whatever the file size.
_BLOCK_BYTES = 64 << 20


def _datasets(f: h5py.File) -> dict[str, h5py.Dataset]:
    out: dict[str, h5py.Dataset] = {}

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            out[name] = obj

    f.visititems(visit)
    return out


def _layout(path: Path, f: h5py.File) -> dict[str, tuple[str, tuple[int, ...]]]:
    layout = {}
    for name, ds in _datasets(f).items():
        if ds.ndim == 0 or ds.maxshape[0] is not None:
            raise DataError(
                f"'{path}': dataset '{name}' is not extendable (shape {ds.shape}, maxshape "
                f"{ds.maxshape}); only files written by calolab's ShowerWriter can be merged"
            )
        layout[name] = (ds.dtype.str, ds.shape[1:])
    return layout


def _same_storage(dst: h5py.Dataset, src: h5py.Dataset) -> bool:
    return (
        dst.chunks is not None
        and dst.chunks == src.chunks
        and dst.compression == src.compression
        and dst.compression_opts == src.compression_opts
        and dst.shuffle == src.shuffle
        and dst.fletcher32 == src.fletcher32
        and dst.scaleoffset == src.scaleoffset
        and dst.dtype == src.dtype
        and all(c == s for c, s in zip(dst.chunks[1:], dst.shape[1:]))  # whole rows per chunk
    )


def _append(dst: h5py.Dataset, src: h5py.Dataset, offset_base: int | None) -> None:
    rows = src.shape[0] - (1 if offset_base is not None else 0)
    if rows <= 0:
        return
    n0 = dst.shape[0]
    if offset_base is None and _same_storage(dst, src) and n0 % dst.chunks[0] == 0:
        # copy the compressed chunks as they are
        dst.resize(n0 + rows, axis=0)
        zeros = (0,) * (src.ndim - 1)
        for a in range(0, rows, src.chunks[0]):
            mask, data = src.id.read_direct_chunk((a, *zeros))
            dst.id.write_direct_chunk((n0 + a, *zeros), data, filter_mask=mask)
        return
    row_bytes = max(1, int(np.prod(src.shape[1:], dtype=np.int64)) * src.dtype.itemsize)
    block = max(1, _BLOCK_BYTES // row_bytes)
    dst.resize(n0 + rows, axis=0)
    first = 1 if offset_base is not None else 0
    for a in range(0, rows, block):
        b = min(rows, a + block)
        data = read_rows(src, first + a, first + b)
        if offset_base is not None:
            data = data + offset_base
        dst[n0 + a : n0 + b] = data


def merge_files(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    provenance: dict[str, Any] | None = None,
    check: Callable[[int, ShowerFile], None] | None = None,
) -> Path:
    """Concatenate calolab HDF5 files of the same detector into ``output``.

    Parameters
    ----------
    inputs:
        Files written by :class:`~calolab.data.hdf5.ShowerWriter`, in event order.
    output:
        The merged file; written under a unique temporary name and the output's lock, and
        renamed when complete. It must not be one of the inputs.
    provenance:
        Provenance of the merged file (default: that of the first input).
    check:
        Called as ``check(i, ShowerFile)`` for every input before it is copied; raise to
        reject an input (e.g. wrong event range).

    Raises
    ------
    DataError
        An input is unreadable or its layout (datasets, dtypes, row shapes, detector) differs
        from the first input's.
    OutputError
        The output cannot be written, or is one of the inputs (the temporary file is removed).
    """
    paths = [Path(p) for p in inputs]
    if not paths:
        raise DataError("merge_files: no input files")
    out = check_output(output, inputs=paths)
    with ShowerFile(paths[0]) as first:
        if not first.is_calolab:
            raise DataError(f"'{paths[0]}' is not a calolab file; cannot merge it")
        if check is not None:
            check(0, first)
        layout = _layout(paths[0], first.f)
        det_hash = first.detector.hash if first.detector is not None else None
        prov = dict(first.provenance) if provenance is None else provenance
        n_total = len(first)
    dest = H5Output(out, inputs=paths, initial=paths[0])
    try:
        dst = dest.f
        assert dst is not None
        for i, path in enumerate(paths[1:], start=1):
            with ShowerFile(path) as src:
                if check is not None:
                    check(i, src)
                if (src.detector.hash if src.detector is not None else None) != det_hash:
                    raise DataError(f"'{path}' has a different detector from '{paths[0]}'")
                if _layout(path, src.f) != layout:
                    raise DataError(
                        f"'{path}' has different datasets, dtypes or shapes from '{paths[0]}'"
                    )
                for name, ds in _datasets(src.f).items():
                    base = None
                    if name.startswith("calolab/records/") and name.endswith("/offsets"):
                        base = int(dst[name][-1])
                    _append(dst[name], ds, base)
                n_total += len(src)
            dest.check()
        dst["calolab"].attrs["n_events"] = n_total
        dst["calolab/provenance"].attrs["json"] = json.dumps(prov, sort_keys=True, default=str)
        dest.check()
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        failure = dest.raw.failure if dest.raw is not None else None
        dest.abort()
        if isinstance(exc, (OSError, RuntimeError)) or failure is not None:
            raise os_error(out, failure or exc) from None
        raise DataError(f"merging into '{out}' failed: {type(exc).__name__}: {exc}") from None
    except BaseException:
        dest.abort()
        raise
    dest.commit()
    log.info("merged %d files (%d events) into %s", len(paths), n_total, out)
    return out
