"""Concatenate HDF5 shower files of one detector into one file, byte-exact, atomically and as
they arrive.

Used by simulation campaigns to join their chunk files: :class:`MergeWriter` takes the inputs
one at a time, in event order, so a campaign appends each chunk as soon as it and its
predecessors are done, while the workers simulate the next ones (the merge streams: at the end
only the last chunk is left to copy). :func:`merge_files` merges a list of files at once.

The datasets are copied as stored (MeV, float32), without a round trip through GeV, so the
merged file holds exactly the values a single streamed run writes. Where an input's rows start
on an HDF5 chunk boundary of the output, its compressed HDF5 chunks are copied as they are
(``read_direct_chunk``/``write_direct_chunk``): no decompression and recompression. Dense
cells are aligned because campaign chunk sizes are multiples of the HDF5 chunk of cells; the
sparse cell arrays (``calolab/sparse``) because every writer pads them to whole HDF5 chunks
(:class:`~calolab.data.hdf5.ShowerWriter`). Other datasets are copied row by row; ragged-
record offsets and the ``starts``/``stops`` of the sparse layout are rebased.
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
from calolab.data.hdf5 import SPARSE_GROUPS, H5Output, ShowerFile, read_rows

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


def _layout(
    path: Path, datasets: dict[str, h5py.Dataset]
) -> dict[str, tuple[str, tuple[int, ...]]]:
    layout = {}
    for name, ds in datasets.items():
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


def _append(dst: h5py.Dataset, src: h5py.Dataset, offset_base: int | None, add: int = 0) -> None:
    """Append the rows of ``src`` to ``dst``. ``offset_base``: ``src`` is a ragged-record
    ``offsets`` dataset (its first row, 0, is dropped and the rest shifted by the base);
    ``add``: a number added to every row (the ``starts``/``stops`` of the sparse layout)."""
    rows = src.shape[0] - (1 if offset_base is not None else 0)
    if rows <= 0:
        return
    n0 = dst.shape[0]
    if offset_base is None and not add and _same_storage(dst, src) and n0 % dst.chunks[0] == 0:
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
        if add:
            data = data + add
        dst[n0 + a : n0 + b] = data


class MergeWriter:
    """An HDF5 file assembled from calolab shower files of one detector, appended one at a time
    in event order (:meth:`append`), and moved to its final name by :meth:`commit`.

    The output is written under a unique temporary name and the output's lock from the first
    :meth:`append` on (a copy of the first input, the only one that is copied whole); any
    failure removes it. Memory stays bounded whatever the sizes (blocks of 64 MB at most).

    Parameters
    ----------
    output:
        The merged file. It must not be one of ``inputs``.
    inputs:
        Every file that may be appended (checked against the output now; default: none).
    provenance:
        Provenance of the merged file (default: that of the first input).
    check:
        Called as ``check(i, ShowerFile)`` for the i-th input before it is copied; raise to
        reject it (e.g. wrong event range).
    """

    def __init__(
        self,
        output: str | os.PathLike[str],
        *,
        inputs: Sequence[str | os.PathLike[str]] = (),
        provenance: dict[str, Any] | None = None,
        check: Callable[[int, ShowerFile], None] | None = None,
    ):
        self.inputs = [Path(p) for p in inputs]
        self.output = check_output(output, inputs=self.inputs)
        self.provenance = provenance
        self.check = check
        self.dest: H5Output | None = None
        self.n_inputs = 0
        self.n_events = 0
        self._first: Path | None = None
        self._layout: dict[str, tuple[str, tuple[int, ...]]] = {}
        self._det_hash: str | None = None

    def append(self, path: str | os.PathLike[str]) -> None:
        """Append the events of ``path`` (the next input, in event order).

        Raises
        ------
        DataError
            The input is unreadable, rejected by ``check``, or its layout (datasets, dtypes,
            row shapes, detector) differs from the first input's; the output is removed.
        OutputError
            The output cannot be written (a full disk); the output is removed.
        """
        path = Path(path)
        try:
            with ShowerFile(path, check_finite=False) as src:
                if self.check is not None:
                    self.check(self.n_inputs, src)
                if self.dest is None:
                    self._start(path, src)
                else:
                    self._copy(path, src)
                self.n_events += len(src)
        except BaseException:
            self.abort()
            raise
        self.n_inputs += 1

    def _start(self, path: Path, src: ShowerFile) -> None:
        if not src.is_calolab:
            raise DataError(f"'{path}' is not a calolab file; cannot merge it")
        self._layout = _layout(path, _datasets(src.f))
        self._det_hash = src.detector.hash if src.detector is not None else None
        if self.provenance is None:
            self.provenance = dict(src.provenance)
        self._first = path
        self.dest = H5Output(self.output, inputs=[*self.inputs, path], initial=path)

    def _copy(self, path: Path, src: ShowerFile) -> None:
        assert self.dest is not None and self.dest.f is not None
        dst = self.dest.f
        if (src.detector.hash if src.detector is not None else None) != self._det_hash:
            raise DataError(f"'{path}' has a different detector from '{self._first}'")
        datasets = _datasets(src.f)
        if _layout(path, datasets) != self._layout:
            raise DataError(
                f"'{path}' has different datasets, dtypes or shapes from '{self._first}' "
                "(a different cell layout, digitisation or particle mix?)"
            )
        try:
            # the bases of the ragged arrays, before anything of this input is appended
            sparse_base = {g: int(dst[f"{g}/index"].shape[0]) for g in SPARSE_GROUPS if g in dst}
            for name, ds in datasets.items():
                base, add = None, 0
                if name.startswith("calolab/records/") and name.endswith("/offsets"):
                    base = int(dst[name][-1])
                group, _, leaf = name.rpartition("/")
                if group in sparse_base and leaf in ("starts", "stops"):
                    add = sparse_base[group]
                _append(dst[name], ds, base, add)
            self.dest.check()
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            failure = self.dest.raw.failure if self.dest.raw is not None else None
            if isinstance(exc, (OSError, RuntimeError)) or failure is not None:
                raise os_error(self.output, failure or exc) from None
            raise DataError(
                f"merging '{path}' into '{self.output}' failed: {type(exc).__name__}: {exc}"
            ) from None

    def commit(self) -> Path:
        """Write the event count and provenance, close, and move the file to its final name."""
        if self.dest is None or self.dest.f is None:
            raise DataError(f"merge into '{self.output}': no input was appended")
        dest, f = self.dest, self.dest.f
        try:
            f["calolab"].attrs["n_events"] = self.n_events
            f["calolab/provenance"].attrs["json"] = json.dumps(
                self.provenance, sort_keys=True, default=str
            )
            dest.check()
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            failure = dest.raw.failure if dest.raw is not None else None
            self.abort()
            raise os_error(self.output, failure or exc) from None
        self.dest = None
        dest.commit()
        log.info("merged %d files (%d events) into %s", self.n_inputs, self.n_events, self.output)
        return self.output

    def abort(self) -> None:
        """Remove the unfinished output (and release its lock); nothing if none."""
        if self.dest is not None:
            dest, self.dest = self.dest, None
            dest.abort()

    def __enter__(self) -> MergeWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


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
    with MergeWriter(output, inputs=paths, provenance=provenance, check=check) as merged:
        for path in paths:
            merged.append(path)
    return merged.output
