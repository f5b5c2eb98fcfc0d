"""HDF5 files: CaloChallenge-compatible, streamed, compressed, written atomically.

Layout::

    /incident_energies            (N, 1)        float64  MeV   (CaloChallenge)
    /showers                      (N, n_cells)  float32  MeV   (CaloChallenge): visible energy
                                                                of the readout layers, layer by
                                                                layer, each in C order (ix, iy)
    /calolab                      attrs: format_version, calolab_version, n_events
    /calolab/truth/<field>        truth arrays in GeV and cm (pdg, energy, direction, ...)
    /calolab/extras/<field>       optional per-event arrays
    /calolab/records/<name>/...   optional ragged records (offsets + columns)
    /calolab/digitized/showers    (N, n_cells) float32 MeV, if digitised
    /calolab/times                (N, n_cells) float32 ns, energy-weighted cell times, if timed
    /calolab/digitized/times      (N, n_cells) float32 ns, after the readout's time resolution
    /calolab/conditions/dead      (n_cells,) uint8, dead channels (attrs: json provenance);
    /calolab/conditions/noise_gev (n_cells,) float32, extra noise σ of noisy channels (GeV)
    /calolab/detector             attrs: toml, hash, name, layers_json
    /calolab/provenance           attrs: json

or, in the sparse cell layout (:mod:`calolab.data.sparse`), instead of ``showers`` and
``calolab/digitized/showers``: only the non-zero cells of each event, in
``calolab/sparse/{starts,stops,index,energy}`` and ``calolab/digitized/sparse/...``. Every
reader (:meth:`ShowerFile.read`, :meth:`ShowerFile.read_cells`, the merge) gives the same dense
arrays from either layout.

Files are written through :mod:`calolab.core.files`: under a unique temporary name (or the
resumable ``<name>.partial``), under the output's lock, fsync-ed and renamed at the end, so
an interrupted run never leaves a file that looks complete, two runs never share one, and a
full disk is a one-line error (:class:`H5Output`). Files that hold only the two
CaloChallenge datasets can be read too.

Reading is safe against hostile files (:class:`ReadLimits`): external links, external
storage and virtual datasets are refused unless allowed, declared sizes are checked against
the bytes stored and the memory available, and compressed chunks are inflated with bounded
output (:func:`read_rows`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import math
import os
import shutil
import threading
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from calolab.core.errors import ConfigError, DataError, OutputError
from calolab.core.files import (
    AtomicFile,
    GuardedFile,
    PartialFile,
    check_input,
    check_output,
    os_error,
    partial_path,
)
from calolab.core.machine import physical_memory_bytes
from calolab.data.conditions import ChannelConditions
from calolab.data.showers import TRUTH_FIELDS, Ragged, Showers
from calolab.data.sparse import (
    AUTO_SAMPLE_EVENTS,
    SPARSE_CHUNK,
    check_layout,
    choose_layout,
    encode,
    occupancy,
    scatter,
)
from calolab.geometry.detector import Calorimeter
from calolab.geometry.io import dumps_detector, loads_detector

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MEV_PER_GEV = 1000.0

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _forget_pool_after_fork() -> None:
    # a forked child (a DataLoader worker) has none of the parent's threads, and the lock may
    # have been held by one of them at the fork
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _decode_pool() -> ThreadPoolExecutor:
    """Threads that inflate chunks (zlib and numpy release the GIL); one pool per process."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
            n = max(1, min(8, cores or os.cpu_count() or 1))
            _POOL = ThreadPoolExecutor(n, thread_name_prefix="calolab-inflate")
        return _POOL


def _whole_row_chunks(ds: h5py.Dataset) -> bool | None:
    """Whether ``ds`` can be read chunk by chunk without HDF5's filter pipeline: 2-D little-
    endian float32 in chunks of whole rows, deflate-compressed or not compressed.
    Returns the 'compressed' flag, or None when HDF5 must read it."""
    if ds.ndim != 2 or ds.chunks is None or ds.chunks[1] != ds.shape[1] or ds.dtype.str != "<f4":
        return None
    plist = ds.id.get_create_plist()
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    if filters == []:
        return False
    if filters == [h5py.h5z.FILTER_DEFLATE]:
        return True
    return None


def _version() -> str:
    from calolab.core.provenance import package_version

    __version__ = package_version()

    return __version__


def check_writable(
    path: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]] = ()
) -> Path:
    """The output guard for an HDF5 file: :func:`calolab.core.files.check_output`."""
    return check_output(path, inputs=inputs, suffix_hint="out.h5")


#: Groups of the sparse cell layout (true visible cells, digitised cells).
SPARSE_GROUPS = ("calolab/sparse", "calolab/digitized/sparse")


def _chunk_rows(n_cells: int) -> int:
    return int(max(1, min(1024, (1 << 20) // (4 * max(n_cells, 1)))))


# ------------------------------------------------------------------------- safe reading
#: Environment variables that carry the read limits to every reader of a process and its
#: workers (the command line sets them from its options).
ENV_ALLOW_EXTERNAL = "CALOLAB_ALLOW_EXTERNAL_DATA"
ENV_MAX_INFLATION = "CALOLAB_MAX_INFLATION"
ENV_MAX_CHUNK_MB = "CALOLAB_MAX_CHUNK_MB"
ENV_MAX_MEMORY_MB = "CALOLAB_MAX_MEMORY_MB"
#: Deflate cannot compress by more than ~1032:1 (RFC 1951: 258 bytes per 2-bit code at best),
#: so a dataset that declares more than this many bytes per stored byte is not deflated data.
DEFAULT_MAX_INFLATION = 1100.0
#: Links and objects visited when a file is opened (calolab files hold a few dozen).
MAX_OBJECTS = 10_000
#: Declared sizes below this are never questioned (attributes, small arrays).
_SLACK_BYTES = 1 << 20
#: Filters calolab decodes itself, with bounded output (others are left to HDF5).
_OWN_FILTERS = {h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32}


def default_read_limit() -> int:
    """Bytes one :meth:`ShowerFile.read` may allocate: half the machine's memory."""
    return physical_memory_bytes() // 2


def _default_chunk_limit() -> int:
    return int(min(256 << 20, max(16 << 20, physical_memory_bytes() // 16)))


def _env_float(name: str) -> float | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"environment variable {name}={text!r} must be a number") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"environment variable {name}={text!r} must be a finite number >= 0")
    return value


@dataclass(frozen=True)
class ReadLimits:
    """What a reader of HDF5 files accepts; the defaults refuse hostile files.

    Parameters
    ----------
    allow_external:
        Follow external links, external storage (raw data in other files, e.g.
        ``/etc/passwd``) and virtual datasets. Off by default: a data file must not make
        calolab read other files. CLI: ``--allow-external-data``.
    max_inflation:
        Largest ratio of a dataset's declared size to the bytes stored for it (compressed
        chunks, capped by the file size); deflate cannot exceed ~1032:1, so a larger ratio
        means chunks that were never written or a file built to exhaust memory. ``0``: no
        limit, and datasets whose filters calolab cannot bound (LZF, SZIP, plugins) are
        decoded by HDF5. CLI: ``--max-inflation``.
    max_chunk_bytes:
        Largest inflated HDF5 chunk (HDF5 inflates whole chunks; default 256 MiB or 1/16 of
        the memory if less). CLI: ``--max-chunk-mb``.
    max_memory_bytes:
        Largest total of the per-event arrays a reader keeps in memory (energies, labels,
        truth; default half the machine's memory). CLI: ``--max-memory-mb``.
    """

    allow_external: bool = False
    max_inflation: float = DEFAULT_MAX_INFLATION
    max_chunk_bytes: int = field(default_factory=_default_chunk_limit)
    max_memory_bytes: int = field(default_factory=default_read_limit)

    @classmethod
    def from_env(cls) -> ReadLimits:
        """The limits set for this process (environment variables ``CALOLAB_*``)."""
        kw: dict[str, Any] = {}
        if os.environ.get(ENV_ALLOW_EXTERNAL, "").strip().lower() in ("1", "true", "yes"):
            kw["allow_external"] = True
        if (v := _env_float(ENV_MAX_INFLATION)) is not None:
            kw["max_inflation"] = v
        if (v := _env_float(ENV_MAX_CHUNK_MB)) is not None:
            kw["max_chunk_bytes"] = int(v * 2**20)
        if (v := _env_float(ENV_MAX_MEMORY_MB)) is not None:
            kw["max_memory_bytes"] = int(v * 2**20)
        return cls(**kw)

    def replace(self, **changes: Any) -> ReadLimits:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


_OPTION = {
    "allow_external": "allow_external=True (CLI: --allow-external-data)",
    "max_inflation": "max_inflation= (CLI: --max-inflation)",
    "max_chunk_bytes": "max_chunk_bytes= (CLI: --max-chunk-mb)",
    "max_memory_bytes": "max_memory_bytes= (CLI: --max-memory-mb)",
}


def _size(nbytes: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:,.1f} {unit}"
    return f"{nbytes:,.0f} bytes"


def _filters(ds: h5py.Dataset) -> list[int]:
    plist = ds.id.get_create_plist()
    return [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]


def _filter_name(code: int) -> str:
    names = {
        h5py.h5z.FILTER_DEFLATE: "deflate",
        h5py.h5z.FILTER_SHUFFLE: "shuffle",
        h5py.h5z.FILTER_FLETCHER32: "fletcher32",
        h5py.h5z.FILTER_SZIP: "szip",
        h5py.h5z.FILTER_NBIT: "nbit",
        h5py.h5z.FILTER_SCALEOFFSET: "scaleoffset",
        32000: "lzf",
    }
    return names.get(code, f"plugin filter {code}")


def check_dataset(
    ds: h5py.Dataset, name: str, path: Path, limits: ReadLimits, file_size: int
) -> None:
    """Refuse a dataset that reads outside the file or declares more than it stores.

    Raises
    ------
    DataError
        Naming the dataset, the limit and the option that raises it.
    """
    where = f"'{path}': dataset '{name}'"
    plist = ds.id.get_create_plist()
    if not limits.allow_external:
        if plist.get_external_count() > 0:
            target = plist.get_external(0)[0].decode(errors="replace")
            raise DataError(
                f"{where} keeps its data in another file ('{target}', HDF5 external storage); "
                f"calolab reads only the file it is given unless allowed: "
                f"{_OPTION['allow_external']}"
            )
        if ds.is_virtual:
            raise DataError(
                f"{where} is a virtual dataset assembled from other files; calolab reads only "
                f"the file it is given unless allowed: {_OPTION['allow_external']}"
            )
    elif plist.get_external_count() > 0 or ds.is_virtual:
        return
    itemsize = int(ds.dtype.itemsize)
    declared = math.prod(int(n) for n in ds.shape) * itemsize if ds.shape else itemsize
    if ds.chunks is not None:
        chunk = math.prod(int(n) for n in ds.chunks) * itemsize
        if chunk > limits.max_chunk_bytes:
            raise DataError(
                f"{where} has chunks of {_size(chunk)} {tuple(ds.chunks)}, which HDF5 inflates "
                f"whole, more than the {_size(limits.max_chunk_bytes)} allowed; raise the limit "
                f"with {_OPTION['max_chunk_bytes']} only for a file you trust"
            )
    if limits.max_inflation > 0:
        unknown = [c for c in _filters(ds) if c not in _OWN_FILTERS]
        if unknown and ds.chunks is not None:
            raise DataError(
                f"{where} is compressed with {_filter_name(unknown[0])}, whose output calolab "
                "cannot bound; convert the file (h5repack -f GZIP=1 IN OUT) or, for a file you "
                f"trust, lift the inflation limit: max_inflation=0 (CLI: --max-inflation 0)"
            )
        stored = min(int(ds.id.get_storage_size()), file_size)
        if declared > max(_SLACK_BYTES, limits.max_inflation * stored):
            raise DataError(
                f"{where} declares shape {tuple(ds.shape)} ({_size(declared)}) but only "
                f"{_size(stored)} are stored, a ratio above the {limits.max_inflation:g} allowed "
                "(deflate cannot exceed ~1032); the file is damaged or built to exhaust memory; "
                f"raise the limit with {_OPTION['max_inflation']} only for a file you trust"
            )


def check_hdf5(f: h5py.File, path: Path, limits: ReadLimits) -> None:
    """Walk the links of an open file and check every dataset (:func:`check_dataset`).

    Refuses external links (to other files, e.g. ``/etc/passwd``) and user-defined links
    unless ``limits.allow_external``; soft links stay inside the file (their targets are
    visited as what they are); hard-link cycles are visited once.
    """
    try:
        file_size = os.path.getsize(path)
    except OSError:
        file_size = 0
    seen: set[int] = set()
    stack: list[tuple[str, h5py.Group]] = [("", f)]
    count = 0
    while stack:
        prefix, group = stack.pop()
        for key in group:
            count += 1
            if count > MAX_OBJECTS:
                raise DataError(
                    f"'{path}' holds more than {MAX_OBJECTS:,} objects; calolab files hold a "
                    "few dozen: this is not a calolab or CaloChallenge file"
                )
            name = f"{prefix}/{key}" if prefix else key
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                if not limits.allow_external:
                    raise DataError(
                        f"'{path}': '/{name}' is a link to '{link.path}' in another file "
                        f"('{link.filename}'); calolab reads only the file it is given unless "
                        f"allowed: {_OPTION['allow_external']}"
                    )
                continue
            if isinstance(link, h5py.SoftLink):
                continue  # its target is a path in this file, checked where it lives
            if not isinstance(link, h5py.HardLink):
                raise DataError(
                    f"'{path}': '/{name}' is a user-defined HDF5 link calolab does not follow"
                )
            obj = group.get(key)
            if obj is None:
                continue
            ident = hash(obj)
            if ident in seen:
                continue
            seen.add(ident)
            if isinstance(obj, h5py.Group):
                stack.append((name, obj))
            elif isinstance(obj, h5py.Dataset):
                check_dataset(obj, name, path, limits, file_size)


def open_hdf5(path: Path, limits: ReadLimits, what: str = "data file") -> h5py.File:
    """Open ``path`` read-only after checking it is a regular file, then check its contents
    (:func:`check_hdf5`); :class:`DataError` on any problem."""
    check_input(path, what=what)
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise DataError(f"'{path}' is not a readable HDF5 file ({exc})") from None
    try:
        check_hdf5(f, path, limits)
    except DataError:
        f.close()
        raise
    except _READ_ERRORS as exc:
        f.close()
        raise DataError(
            f"'{path}' is damaged ({type(exc).__name__}: {exc}); it cannot be inspected"
        ) from None
    return f


def _inflate(data: bytes, nominal: int, where: str) -> bytes:
    """Inflate a deflate stream to at most ``nominal`` bytes (a bomb or a truncated stream
    is a :class:`DataError`, never an allocation of what the stream claims)."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, nominal)
        if not d.eof and (d.decompress(d.unconsumed_tail, 1) or not d.eof):
            raise DataError(
                f"{where}: a compressed chunk is truncated or inflates beyond its declared "
                f"{_size(nominal)}; the file is damaged or built to exhaust memory"
            )
    except zlib.error as exc:
        raise DataError(f"{where}: a compressed chunk is damaged ({exc})") from None
    return out


def _decode_chunk(
    data: bytes, mask: int, filters: list[int], ds: h5py.Dataset, where: str
) -> bytes:
    itemsize = ds.dtype.itemsize
    nominal = math.prod(int(n) for n in ds.chunks) * itemsize
    for i in reversed(range(len(filters))):
        if mask & (1 << i):
            continue
        code = filters[i]
        if code == h5py.h5z.FILTER_FLETCHER32:
            data = data[:-4]
        elif code == h5py.h5z.FILTER_DEFLATE:
            data = _inflate(data, nominal, where)
        elif code == h5py.h5z.FILTER_SHUFFLE and itemsize > 1:
            n = len(data) // itemsize
            raw = np.frombuffer(data, np.uint8)
            data = raw[: n * itemsize].reshape(itemsize, n).T.tobytes() + data[n * itemsize :]
    if len(data) != nominal:
        raise DataError(
            f"{where}: a chunk holds {len(data):,} bytes instead of {nominal:,}; the file is "
            "damaged"
        )
    return data


def read_rows(ds: h5py.Dataset, start: int, stop: int, where: str = "") -> np.ndarray:
    """Rows ``[start, stop)`` of ``ds``, decoding compressed chunks with bounded output.

    HDF5's own deflate filter inflates a chunk's stream to whatever size it holds (a few MB
    of zeros become gigabytes); datasets compressed with deflate (and shuffle, fletcher32)
    are therefore read chunk by chunk here, each inflated to at most its declared size.
    Uncompressed data and other filters (allowed by :class:`ReadLimits` only when the
    inflation limit is lifted) are read by HDF5.
    """
    stop = min(int(stop), int(ds.shape[0]))
    start = max(0, min(int(start), stop))
    filters = _filters(ds) if ds.chunks is not None else []
    if not filters or any(c not in _OWN_FILTERS for c in filters):
        return np.asarray(ds[start:stop])
    where = where or f"dataset '{ds.name}'"
    shape, chunks = ds.shape, ds.chunks
    out = np.empty((stop - start, *shape[1:]), dtype=ds.dtype)
    if stop == start:
        return out
    grids = [range(0, int(n), int(c)) for n, c in zip(shape[1:], chunks[1:])]
    for r0 in range((start // chunks[0]) * chunks[0], stop, chunks[0]):
        for rest in itertools.product(*grids):
            offset = (r0, *rest)
            lo, hi = max(start, r0), min(stop, r0 + chunks[0])
            dst = (slice(lo - start, hi - start),) + tuple(
                slice(o, min(o + c, n)) for o, c, n in zip(rest, chunks[1:], shape[1:])
            )
            info = ds.id.get_chunk_info_by_coord(offset)
            if info.byte_offset is None:  # never written: the fill value
                out[dst] = ds.fillvalue
                continue
            mask, data = ds.id.read_direct_chunk(offset)
            block = np.frombuffer(
                _decode_chunk(data, mask, filters, ds, where), dtype=ds.dtype
            ).reshape(chunks)
            src = (slice(lo - r0, hi - r0),) + tuple(
                slice(0, min(c, n - o)) for o, c, n in zip(rest, chunks[1:], shape[1:])
            )
            out[dst] = block[src]
    return out


# ------------------------------------------------------------------------------ writing
class H5Output:
    """An HDF5 file being written, through :mod:`calolab.core.files`.

    The file is a unique temporary file (:class:`~calolab.core.files.AtomicFile`, under the
    output's lock when ``lock``) or, with ``resumable``, the output's ``<name>.partial``
    (:class:`~calolab.core.files.PartialFile`, always locked). HDF5 writes through a
    :class:`~calolab.core.files.GuardedFile`: a full disk is recorded, not crashed on, and
    :meth:`check` raises it as one :class:`OutputError` after removing the file.

    Parameters
    ----------
    path:
        The output file.
    inputs:
        Files the run reads (the output must be none of them).
    resumable:
        Write ``<name>.partial`` and keep it on :meth:`suspend`; :attr:`resumed` says whether
        an existing partial file was opened (its content is the caller's to check).
    lock:
        Hold the output's lock (always for resumable outputs).
    initial:
        A file whose bytes start the output (copied, then opened for appending).

    Attributes
    ----------
    f:
        The open ``h5py.File``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        inputs: Sequence[str | os.PathLike[str]] = (),
        what: str = "output",
        resumable: bool = False,
        lock: bool = True,
        initial: str | os.PathLike[str] | None = None,
    ):
        self.path = Path(path)
        self.target: AtomicFile | PartialFile
        if resumable:
            self.target = PartialFile(path, inputs=inputs, what=what).acquire()
        else:
            self.target = AtomicFile(path, inputs=inputs, what=what, lock=lock).open()
        self.raw: GuardedFile | None = None
        self.f: h5py.File | None = None
        self.resumed = False
        try:
            if initial is not None:
                shutil.copyfile(initial, self.tmp)
                self._open("r+")
            elif isinstance(self.target, PartialFile) and self.target.existed:
                try:
                    self._open("r+")
                    self.resumed = True
                except OutputError:
                    raise
                except (OSError, RuntimeError, ValueError) as exc:
                    log.warning("cannot reopen partial file %s (%s); starting again", self.tmp, exc)
                    self.restart()
            else:
                self._open("w")
        except OSError as exc:
            self.abort()
            raise os_error(self.path, exc) from None
        except BaseException:
            self.abort()
            raise

    @property
    def tmp(self) -> Path:
        return self.target.tmp

    def _open(self, mode: str) -> None:
        self.raw = GuardedFile(self.tmp, mode)
        try:
            self.f = h5py.File(self.raw, mode)
        except BaseException:
            self.raw.close()
            self.raw = None
            raise
        self.check()

    def restart(self) -> None:
        """Start the file again, empty."""
        self._close_file()
        self._open("w")
        self.resumed = False

    def _close_file(self) -> None:
        if self.f is not None:
            with contextlib.suppress(Exception):  # a damaged file: best effort
                self.f.close()
            self.f = None
        if self.raw is not None:
            self.raw.close()

    def check(self) -> None:
        """Raise a failed write (a full disk) as :class:`OutputError`, removing the file."""
        if self.raw is not None and self.raw.failure is not None:
            failure = self.raw.failure
            self.abort()
            raise os_error(self.path, failure) from None

    def commit(self) -> Path:
        """Close, check and move the file to its final name."""
        if self.f is None:
            raise OutputError(f"'{self.path}' is not open for writing")
        try:
            self.f.close()
        except (OSError, RuntimeError, ValueError) as exc:
            self.abort()
            raise os_error(self.path, exc, "finishing") from None
        self.f = None
        self.check()
        assert self.raw is not None
        self.raw.close()
        if isinstance(self.target, PartialFile):
            try:
                return self.target.commit()
            finally:
                self.target.release()
        return self.target.commit()

    def abort(self) -> None:
        """Close and delete the file (and release the lock)."""
        self._close_file()
        if isinstance(self.target, PartialFile):
            self.target.discard()
            self.target.release()
        else:
            self.target.abort()

    def suspend(self) -> None:
        """Close, keeping a resumable partial file for a later run (deleted if damaged)."""
        failed = self.raw is not None and self.raw.failure is not None
        self._close_file()
        if isinstance(self.target, PartialFile):
            if failed:
                self.target.discard()
            self.target.release()
        else:
            self.target.abort()

    def __enter__(self) -> h5py.File:
        assert self.f is not None
        return self.f

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            self.commit()
            return
        self.abort()
        if isinstance(exc, OSError):
            raise os_error(self.path, exc) from None


class HDF5Writer:
    """Base of the streaming HDF5 writers (:class:`ShowerWriter`, the event-image writer):
    an :class:`H5Output` plus the bookkeeping every writer shares. Subclasses write their
    last metadata in :meth:`_finish_attrs`."""

    path: Path
    out: H5Output | None
    n: int

    @property
    def f(self) -> h5py.File | None:
        return self.out.f if self.out is not None else None

    @property
    def tmp(self) -> Path:
        assert self.out is not None
        return self.out.tmp

    @staticmethod
    def _append(ds: h5py.Dataset, data: np.ndarray) -> None:
        n0 = ds.shape[0]
        ds.resize(n0 + len(data), axis=0)
        ds[n0:] = data

    @contextlib.contextmanager
    def _writing(self) -> Iterator[h5py.File]:
        """Wrap HDF5 writes: any failure removes the file and becomes one OutputError."""
        if self.out is None or self.out.f is None:
            raise OutputError(f"the writer of '{self.path}' is closed")
        try:
            yield self.out.f
        except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:
            failure = self.out.raw.failure if self.out.raw is not None else None
            self.abort()
            raise os_error(self.path, failure or exc) from None
        self.out.check()

    def _finish_attrs(self) -> None:
        """Write the last metadata; raise :class:`OutputError` if the file must not be
        finished (e.g. no events)."""

    def close(self) -> Path:
        """Finish the file and move it to its final name."""
        if self.out is None:
            return self.path
        try:
            with self._writing():
                self._finish_attrs()
        except OutputError:
            self.abort()
            raise
        out, self.out = self.out, None
        out.commit()
        return self.path

    def abort(self) -> None:
        """Close and delete the file."""
        if self.out is not None:
            out, self.out = self.out, None
            out.abort()

    def suspend(self) -> None:
        """Close, keeping a resumable partial file."""
        if self.out is not None:
            out, self.out = self.out, None
            out.suspend()


class ShowerWriter(HDF5Writer):
    """Streams :class:`Showers` batches into one HDF5 file.

    Use as a context manager; on an exception the temporary file is removed. Memory use is
    that of one batch, whatever the total number of events. The output is written under a
    unique temporary name and, with ``lock`` (the default), under the output's lock, so a
    second writer of the same file is refused before it touches anything.

    Parameters
    ----------
    path:
        The output file.
    detector, provenance:
        Stored with the events.
    inputs:
        Files the run reads (the output must be none of them).
    lock:
        Refuse a second writer of the same output (campaign chunks, which may legitimately
        be written twice by a retried task, do not lock).
    layout:
        ``"dense"`` (the CaloChallenge ``showers`` dataset), ``"sparse"`` (the non-zero cells
        only, :mod:`calolab.data.sparse`) or ``"auto"`` (decided on the first batch by
        :func:`calolab.data.sparse.choose_layout`). :attr:`layout` is the one written; it
        may be set until the first :meth:`append`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        detector: Calorimeter | None,
        provenance: dict[str, Any] | None = None,
        *,
        compression: str | None = "gzip",
        compression_opts: int | None = 1,
        inputs: Sequence[str | os.PathLike[str]] = (),
        lock: bool = True,
        layout: str = "dense",
    ):
        self.path = Path(path)
        self.detector = detector
        self.provenance = provenance or {}
        self.compression = compression
        self.compression_opts = compression_opts if compression == "gzip" else None
        self.layout = check_layout(layout)
        self.n = 0
        self._created = False
        self._conditions: ChannelConditions | None = None
        self.out = H5Output(path, inputs=inputs, lock=lock)

    def __enter__(self) -> ShowerWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _dataset(self, name: str, row_shape: tuple[int, ...], dtype: Any, chunk_rows: int) -> None:
        assert self.f is not None
        self.f.create_dataset(
            name,
            shape=(0, *row_shape),
            maxshape=(None, *row_shape),
            dtype=dtype,
            chunks=(chunk_rows, *row_shape),
            compression=self.compression if row_shape and np.prod(row_shape) > 4 else None,
            compression_opts=(
                self.compression_opts if row_shape and np.prod(row_shape) > 4 else None
            ),
            # no byte shuffle: shower rows are mostly zeros, which gzip level 1 alone packs
            # tighter and ~3x faster than shuffle + gzip 4 (0.35 vs 1.0 ms per 51,200-cell event)
            shuffle=False,
        )

    def _sparse_group(self, name: str, n_cells: int) -> None:
        assert self.f is not None
        g = self.f.create_group(name)
        g.attrs["n_cells"] = n_cells
        for key in ("starts", "stops"):
            self._dataset(f"{name}/{key}", (), np.int64, 4096)
        for key, dtype in (("index", np.int32), ("energy", np.float32)):
            # byte-shuffled, increasing cell indices compress ~2x better; the energies of a
            # 50 GeV shower in muon_block to 0.83 instead of 0.91 of their size, and deflate
            # then takes ~40 % less CPU (BENCHMARKS.md, issue 17, showers per core)
            g.create_dataset(
                key,
                shape=(0,),
                maxshape=(None,),
                dtype=dtype,
                chunks=(SPARSE_CHUNK,),
                compression=self.compression,
                compression_opts=self.compression_opts,
                shuffle=self.compression is not None,
            )

    def _create(self, batch: Showers) -> None:
        assert self.f is not None
        check_layout(self.layout)
        if self.layout == "auto":
            self.layout = choose_layout(
                "auto",
                batch.n_cells,
                occupancy(batch.cells, batch.digitized, n_events=AUTO_SAMPLE_EVENTS),
            )
        rows = _chunk_rows(batch.n_cells)
        self._dataset("incident_energies", (1,), np.float64, 4096)
        if self.layout == "dense":
            self._dataset("showers", (batch.n_cells,), np.float32, rows)
        g = self.f.create_group("calolab")
        if self.layout == "sparse":
            self._sparse_group(SPARSE_GROUPS[0], batch.n_cells)
        for k, v in batch.truth.items():
            self._dataset(f"calolab/truth/{k}", v.shape[1:], v.dtype, 4096)
        for k, v in batch.extras.items():
            self._dataset(f"calolab/extras/{k}", v.shape[1:], v.dtype, 4096)
        for name, rec in batch.records.items():
            self.f.create_dataset(
                f"calolab/records/{name}/offsets",
                data=np.zeros(1, np.int64),
                maxshape=(None,),
                chunks=(4096,),
            )
            for k, v in rec.columns.items():
                self._dataset(f"calolab/records/{name}/{k}", v.shape[1:], v.dtype, 4096)
        if batch.digitized is not None:
            if self.layout == "dense":
                self._dataset("calolab/digitized/showers", (batch.n_cells,), np.float32, rows)
            else:
                self._sparse_group(SPARSE_GROUPS[1], batch.n_cells)
        if batch.times is not None:
            self._dataset("calolab/times", (batch.n_cells,), np.float32, rows)
        if batch.digitized_times is not None:
            self._dataset("calolab/digitized/times", (batch.n_cells,), np.float32, rows)
        if batch.conditions is not None:
            cg = g.create_group("conditions")
            cg.attrs["json"] = json.dumps(batch.conditions.provenance, sort_keys=True, default=str)
            cg.create_dataset("dead", data=batch.conditions.dead.astype(np.uint8))
            if batch.conditions.noise_gev is not None:
                cg.create_dataset("noise_gev", data=batch.conditions.noise_gev)
        self._conditions = batch.conditions
        g.attrs["format_version"] = FORMAT_VERSION
        g.attrs["layout"] = self.layout
        g.attrs["calolab_version"] = _version()
        det = g.create_group("detector")
        if self.detector is not None:
            det.attrs["toml"] = dumps_detector(self.detector)
            det.attrs["hash"] = self.detector.hash
            det.attrs["name"] = self.detector.name
            det.attrs["layers_json"] = json.dumps(
                [r.to_dict() for r in self.detector.readout_layers]
            )
        prov = g.create_group("provenance")
        prov.attrs["json"] = json.dumps(self.provenance, sort_keys=True, default=str)
        self._created = True

    def append(
        self,
        batch: Showers,
        nonzero: tuple[Sequence[np.ndarray], Sequence[np.ndarray] | None] | None = None,
    ) -> None:
        """Append a batch of events (GeV in memory, MeV on disk for the CaloChallenge datasets).

        ``nonzero``, from the simulator that made the batch (and nothing that changed its cells
        since): per event, the ascending indices of its non-zero cells and digitised cells
        (``None`` for the digitised: not known); the sparse encoder then need not scan the
        rows (:func:`calolab.data.sparse.encode`)."""
        if self.out is None:
            raise OutputError("writer is closed")
        if len(batch) == 0:
            return
        if self._created and not same_conditions(self._conditions, batch.conditions):
            raise OutputError(
                f"'{self.path}': a batch with other dead/noisy channels than the first one "
                "cannot join the file (one file holds one set of conditions)"
            )
        with self._writing() as f:
            if not self._created:
                self._create(batch)
            self._append(f["incident_energies"], (batch.energy * MEV_PER_GEV).reshape(-1, 1))
            self._append_cells(f, batch.cells, 0, None if nonzero is None else nonzero[0])
            for k, v in batch.truth.items():
                self._append(f[f"calolab/truth/{k}"], v)
            for k, v in batch.extras.items():
                self._append(f[f"calolab/extras/{k}"], v)
            for name, rec in batch.records.items():
                off = f[f"calolab/records/{name}/offsets"]
                base = int(off[-1])
                self._append(off, rec.offsets[1:] + base)
                for k, v in rec.columns.items():
                    self._append(f[f"calolab/records/{name}/{k}"], v)
            if batch.digitized is not None:
                self._append_cells(f, batch.digitized, 1, None if nonzero is None else nonzero[1])
            for name, arr in (
                ("calolab/times", batch.times),
                ("calolab/digitized/times", batch.digitized_times),
            ):
                if arr is not None:
                    self._append(f[name], arr.astype(np.float32))
        self.n += len(batch)

    def _append_cells(
        self,
        f: h5py.File,
        cells: np.ndarray,
        which: int,
        nonzero: Sequence[np.ndarray] | None = None,
    ) -> None:
        """Cells (GeV) of a batch → MeV float32, dense rows or sparse entries (``which``: 0 for
        the true cells, 1 for the digitised ones; ``nonzero``: see :meth:`append`)."""
        if self.layout == "dense":
            name = ("showers", "calolab/digitized/showers")[which]
            self._append(f[name], np.multiply(cells, np.float32(MEV_PER_GEV), dtype=np.float32))
            return
        g = f[SPARSE_GROUPS[which]]
        counts, index, energy = encode(cells, MEV_PER_GEV, nonzero)
        ends = int(g["index"].shape[0]) + np.cumsum(counts)
        self._append(g["starts"], ends - counts)
        self._append(g["stops"], ends)
        self._append(g["index"], index)
        self._append(g["energy"], energy)

    def _finish_attrs(self) -> None:
        assert self.f is not None
        if not self._created:
            raise OutputError(f"no events were written to '{self.path}'")
        self.f["calolab"].attrs["n_events"] = self.n
        for name in SPARSE_GROUPS:
            if name in self.f:
                # whole HDF5 chunks: a merge copies this file's compressed chunks as they are
                for key in ("index", "energy"):
                    ds = self.f[f"{name}/{key}"]
                    pad = -int(ds.shape[0]) % SPARSE_CHUNK
                    if pad:
                        self._append(ds, np.zeros(pad, dtype=ds.dtype))


def same_conditions(a: ChannelConditions | None, b: ChannelConditions | None) -> bool:
    """Whether two sets of conditions (or two ``None``) are the same masks and noises."""
    if a is None or b is None:
        return a is b
    na = a.noise_gev if a.noise_gev is not None else np.zeros(0)
    nb = b.noise_gev if b.noise_gev is not None else np.zeros(0)
    return bool(np.array_equal(a.dead, b.dead) and np.array_equal(na, nb))


def write_showers(path: str | os.PathLike[str], showers: Showers, **kwargs: Any) -> Path:
    """Write a whole :class:`Showers` object to ``path`` atomically."""
    with ShowerWriter(path, showers.detector, showers.provenance, **kwargs) as w:
        w.append(showers)
    return Path(path)


#: Errors h5py and numpy raise on damaged or malformed files; turned into DataError.
_READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError)
_ROW_SHAPES = {"direction": (3,), "entry_point": (3,)}


def _is_real(ds: h5py.Dataset) -> bool:
    return ds.dtype.kind in "fiu"


class ShowerFile:
    """Lazy reader of a calolab or CaloChallenge HDF5 file.

    Files are validated when opened (datasets, dtypes, shapes, metadata) and every read is
    checked (NaN/inf energies, ragged-record offsets, size), so a damaged, truncated or
    malformed file raises :class:`DataError` naming the file and the problem.

    Parameters
    ----------
    path:
        The file.
    layer_sizes:
        For files without a calolab detector: cells per layer, to split ``showers``.
    binning, binning_particle:
        For files without a calolab detector and without ``layer_sizes``: a CaloChallenge
        binning XML and the entry to use (:func:`calolab.data.binning.layout_for`); without
        one, the CaloChallenge 2022 layouts are recognised by their voxel count, and
        ``layer_sizes`` stays ``None`` when none matches.
    check_finite:
        Raise :class:`DataError` when a read batch contains NaN or infinite energies.
    max_read_bytes:
        Largest allocation one :meth:`read` may make (default :func:`default_read_limit`);
        larger requests raise :class:`DataError` suggesting :meth:`iter_batches`.
    allow_external:
        Follow external links, external storage and virtual datasets (refused by default:
        a data file must not make calolab read other files); overrides ``limits``.
    limits:
        What the reader accepts (:class:`ReadLimits`; default :meth:`ReadLimits.from_env`,
        the limits the command line set). A file that declares more than it stores, chunks
        larger than the limit, or per-event arrays larger than the memory allowed is refused
        with a :class:`DataError` naming the limit and the option that raises it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        layer_sizes: tuple[int, ...] | None = None,
        check_finite: bool = True,
        max_read_bytes: int | None = None,
        binning: str | os.PathLike[str] | None = None,
        binning_particle: str | None = None,
        *,
        allow_external: bool | None = None,
        limits: ReadLimits | None = None,
    ):
        self.path = Path(path)
        self._binning_request = (binning, binning_particle)
        if not self.path.exists():
            hint = ""
            if partial_path(self.path).exists():
                hint = (
                    " (an unfinished '.partial' file exists: the run that wrote it was interrupted)"
                )
            raise DataError(f"data file '{self.path}' does not exist{hint}")
        self.limits = (limits or ReadLimits.from_env()).replace(allow_external=allow_external)
        self.f = open_hdf5(self.path, self.limits)
        self.check_finite = check_finite
        self.max_read_bytes = max_read_bytes or default_read_limit()
        try:
            try:
                self._validate(layer_sizes)
            except _READ_ERRORS as exc:
                raise DataError(
                    f"'{self.path}' is damaged or not a calolab/CaloChallenge file "
                    f"({type(exc).__name__}: {exc})"
                ) from None
        except Exception:
            self.f.close()
            raise

    def _group(self, name: str) -> h5py.Group | None:
        obj = self.f.get(name)
        if obj is not None and not isinstance(obj, h5py.Group):
            raise DataError(
                f"'{self.path}': '/{name}' should be a group, found a {type(obj).__name__}"
            )
        return obj

    def _per_event(self, name: str, ds: object, row_shape: tuple[int, ...] | None = None) -> None:
        """Check that ``ds`` is a real-valued dataset with one row per event."""
        if not isinstance(ds, h5py.Dataset):
            raise DataError(f"'{self.path}': '/{name}' should be a dataset")
        if not _is_real(ds):
            raise DataError(f"'{self.path}': '/{name}' has non-numeric dtype {ds.dtype}")
        if ds.ndim == 0 or ds.shape[0] != self.n_events:
            raise DataError(
                f"'{self.path}': '/{name}' has shape {ds.shape}; expected {self.n_events} rows, "
                "one per event"
            )
        if row_shape is not None and ds.shape[1:] != row_shape:
            raise DataError(
                f"'{self.path}': '/{name}' has shape {ds.shape}, expected "
                f"{(self.n_events, *row_shape)}"
            )
        self._row_bytes += int(np.prod(ds.shape[1:], dtype=np.float64)) * (ds.dtype.itemsize + 8)

    @staticmethod
    def _text_attr(obj: h5py.Group | None, key: str) -> str | None:
        if obj is None or key not in obj.attrs:
            return None
        value = obj.attrs[key]
        if isinstance(value, bytes):
            return value.decode("utf-8")
        if not isinstance(value, str):
            raise ValueError(f"attribute '{key}' is a {type(value).__name__}, not text")
        return value

    def _validate(self, layer_sizes: tuple[int, ...] | None) -> None:
        f = self.f
        self.layout = "dense"
        if "showers" not in f and isinstance(f.get("calolab"), h5py.Group):
            if isinstance(f["calolab"].get("sparse"), h5py.Group):
                self.layout = "sparse"
        names = (
            ("incident_energies", "showers") if self.layout == "dense" else ("incident_energies",)
        )
        for name in names:
            if name not in f or not isinstance(f[name], h5py.Dataset):
                raise DataError(
                    f"'{self.path}' has no '{name}' dataset; calolab reads files with the "
                    "CaloChallenge datasets 'incident_energies' (N, 1) and 'showers' (N, cells), "
                    "or with calolab's sparse cells ('calolab/sparse')"
                )
        inc = f["incident_energies"]
        if not _is_real(inc):
            raise DataError(f"'{self.path}': 'incident_energies' has non-numeric dtype {inc.dtype}")
        if self.layout == "dense":
            sh = f["showers"]
            if sh.ndim != 2:
                raise DataError(
                    f"'{self.path}': 'showers' has shape {sh.shape}, expected (N, cells)"
                )
            if not _is_real(sh):
                raise DataError(f"'{self.path}': 'showers' has non-numeric dtype {sh.dtype}")
            n_rows, what = int(sh.shape[0]), f"'showers' {sh.shape}"
        else:
            n_rows = int(inc.shape[0]) if inc.ndim else -1
            what = "'calolab/sparse'"
        if (
            inc.ndim not in (1, 2)
            or inc.shape[0] != n_rows
            or (inc.ndim == 2 and inc.shape[1] != 1)
        ):
            raise DataError(
                f"'{self.path}': 'incident_energies' has shape {inc.shape}, expected "
                f"({n_rows}, 1) to match {what}"
            )
        self.n_events = n_rows
        self.n_cells = (
            int(f["showers"].shape[1])
            if self.layout == "dense"
            else self._sparse_cells_of(SPARSE_GROUPS[0])
        )
        if self.n_cells == 0:
            raise DataError(f"'{self.path}': {what} has no cells")
        per_event = sum(
            math.prod(int(n) for n in ds.shape[1:]) * int(ds.dtype.itemsize)
            for ds in self._per_event_datasets()
        )
        need = self.n_events * max(per_event, 16)
        if need > self.limits.max_memory_bytes:
            raise DataError(
                f"'{self.path}' declares {self.n_events:,} events, whose per-event arrays "
                f"(energies, truth) alone need {_size(need)}, more than the "
                f"{_size(self.limits.max_memory_bytes)} allowed; raise the limit with "
                f"{_OPTION['max_memory_bytes']} if this machine has the memory"
            )
        # bytes of one event read into memory: dense float32 cells (+ the stored row)
        self._row_bytes = self.n_cells * 8 + inc.dtype.itemsize + 8
        if self.layout == "sparse":
            for key in ("starts", "stops"):
                self._per_event(f"{SPARSE_GROUPS[0]}/{key}", f[f"{SPARSE_GROUPS[0]}/{key}"])
        self.is_calolab = "calolab" in f
        self.detector: Calorimeter | None = None
        self.provenance: dict[str, Any] = {}
        self._records: list[str] = []
        self.conditions: ChannelConditions | None = None
        if self.is_calolab:
            self._group("calolab")  # a group, not a dataset
            det = self._group("calolab/detector")
            try:
                toml = self._text_attr(det, "toml")
                if toml:
                    self.detector = loads_detector(toml, source=f"{self.path}:/calolab/detector")
                prov = json.loads(
                    self._text_attr(self._group("calolab/provenance"), "json") or "{}"
                )
            except (ValueError, UnicodeDecodeError) as exc:
                raise DataError(f"'{self.path}': calolab metadata is damaged ({exc})") from None
            if not isinstance(prov, dict):
                raise DataError(
                    f"'{self.path}': calolab provenance is a JSON {type(prov).__name__}, "
                    "expected an object"
                )
            self.provenance = prov
            for sub in ("truth", "extras"):
                grp = self._group(f"calolab/{sub}")
                for k in grp or {}:
                    row = _ROW_SHAPES.get(k, ()) if (sub == "truth" and k in TRUTH_FIELDS) else None
                    self._per_event(f"calolab/{sub}/{k}", grp[k], row)  # type: ignore[index]
            records = self._group("calolab/records")
            for name in records or {}:
                rg = records.get(name)  # type: ignore[union-attr]
                if not isinstance(rg, h5py.Group):
                    raise DataError(f"'{self.path}': records '{name}' is not a readable group")
                off = rg.get("offsets")
                if (
                    not isinstance(off, h5py.Dataset)
                    or off.dtype.kind not in "iu"
                    or off.shape != (self.n_events + 1,)
                ):
                    raise DataError(
                        f"'{self.path}': records '{name}' need integer 'offsets' of shape "
                        f"({self.n_events + 1},)"
                    )
                for k in rg:
                    if k != "offsets":
                        col = rg[k]
                        if not isinstance(col, h5py.Dataset) or not _is_real(col) or col.ndim != 1:
                            raise DataError(
                                f"'{self.path}': record column '{name}/{k}' must be a 1-D "
                                "numeric dataset"
                            )
                self._records.append(name)
            if "calolab/digitized/showers" in f:
                dig = f["calolab/digitized/showers"]
                self._per_event("calolab/digitized/showers", dig)
                if dig.ndim != 2 or dig.shape[1] != self.n_cells:
                    raise DataError(
                        f"'{self.path}': digitised showers have shape {dig.shape}, expected "
                        f"({self.n_events}, {self.n_cells})"
                    )
            elif isinstance(f["calolab"].get("digitized"), h5py.Group) and isinstance(
                f["calolab/digitized"].get("sparse"), h5py.Group
            ):
                n = self._sparse_cells_of(SPARSE_GROUPS[1])
                if n != self.n_cells:
                    raise DataError(
                        f"'{self.path}': the digitised cells have {n} cells per event, the "
                        f"true cells {self.n_cells}"
                    )
                for key in ("starts", "stops"):
                    self._per_event(f"{SPARSE_GROUPS[1]}/{key}", f[f"{SPARSE_GROUPS[1]}/{key}"])
            for name in ("calolab/times", "calolab/digitized/times"):
                if name in f:
                    self._per_event(name, f[name])
                    if f[name].shape != (self.n_events, self.n_cells):
                        what = "cell times" if name == "calolab/times" else "digitised cell times"
                        raise DataError(
                            f"'{self.path}': {what} have shape {f[name].shape}, expected "
                            f"({self.n_events}, {self.n_cells}): one time per cell and event"
                        )
            self.conditions = self._read_conditions()
        if self.detector is not None and self.detector.n_channels != self.n_cells:
            raise DataError(
                f"'{self.path}': the showers have {self.n_cells} cells but the stored detector "
                f"'{self.detector.name}' has {self.detector.n_channels} channels"
            )
        if layer_sizes is not None:
            if sum(layer_sizes) != self.n_cells:
                raise DataError(
                    f"layer_sizes sum to {sum(layer_sizes)} but '{self.path}' has {self.n_cells} cells"
                )
        self.binning = None
        if layer_sizes is None and self.detector is None:  # a foreign file: its binning XML
            from calolab.data.binning import layout_for

            self.binning = layout_for(self.n_cells, *self._binning_request, where=f"'{self.path}'")
            layer_sizes = self.binning.layer_sizes if self.binning is not None else None
        self.layer_sizes = layer_sizes

    def _read_conditions(self) -> ChannelConditions | None:
        g = self._group("calolab/conditions")
        if g is None:
            return None
        dead = g.get("dead")
        if (
            not isinstance(dead, h5py.Dataset)
            or dead.shape != (self.n_cells,)
            or not _is_real(dead)
        ):
            raise DataError(
                f"'{self.path}': '/calolab/conditions/dead' must hold one flag per cell "
                f"({self.n_cells},)"
            )
        noise = g.get("noise_gev")
        if noise is not None and (
            not isinstance(noise, h5py.Dataset)
            or noise.shape != (self.n_cells,)
            or not _is_real(noise)
        ):
            raise DataError(
                f"'{self.path}': '/calolab/conditions/noise_gev' must hold one σ per cell "
                f"({self.n_cells},)"
            )
        prov = json.loads(self._text_attr(g, "json") or "{}")
        return ChannelConditions(
            np.asarray(dead[()]) != 0,
            None if noise is None else np.asarray(noise[()], dtype=np.float32),
            prov if isinstance(prov, dict) else {},
        )

    @property
    def has_times(self) -> bool:
        return self.is_calolab and "calolab/times" in self.f

    def _sparse_cells_of(self, name: str) -> int:
        """Check the sparse group ``name`` (datasets, dtypes, shapes) and return its cells per
        event."""
        g = self._group(name)
        assert g is not None
        try:
            n_cells = g.attrs["n_cells"]
        except KeyError:
            raise DataError(f"'{self.path}': '/{name}' has no 'n_cells' attribute") from None
        if isinstance(n_cells, np.generic):
            n_cells = n_cells.item()
        if not isinstance(n_cells, int) or isinstance(n_cells, bool) or n_cells < 1:
            raise DataError(
                f"'{self.path}': '/{name}' has n_cells {n_cells!r}; expected an integer >= 1"
            )
        ds = {}
        for key, kinds, ndim in (
            ("starts", "iu", 1),
            ("stops", "iu", 1),
            ("index", "iu", 1),
            ("energy", "fiu", 1),
        ):
            d = g.get(key)
            if not isinstance(d, h5py.Dataset) or d.dtype.kind not in kinds or d.ndim != ndim:
                raise DataError(
                    f"'{self.path}': '/{name}/{key}' must be a 1-D "
                    f"{'integer' if kinds == 'iu' else 'numeric'} dataset"
                )
            ds[key] = d
        if ds["index"].shape != ds["energy"].shape:
            raise DataError(
                f"'{self.path}': '/{name}/index' {ds['index'].shape} and 'energy' "
                f"{ds['energy'].shape} differ in length"
            )
        return int(n_cells)

    def _cell_source(self, digitized: bool) -> tuple[str, str]:
        """``("dense", dataset)`` or ``("sparse", group)`` of the true or digitised cells."""
        if not digitized:
            return (self.layout, "showers" if self.layout == "dense" else SPARSE_GROUPS[0])
        if not (self.is_calolab and self.has_digitized):
            raise DataError(
                f"'{self.path}' holds no digitised showers (simulate with digitisation)"
            )
        if "calolab/digitized/showers" in self.f:
            return ("dense", "calolab/digitized/showers")
        return ("sparse", SPARSE_GROUPS[1])

    def _per_event_datasets(self) -> list[h5py.Dataset]:
        """The datasets of one value (or a small row) per event that readers load whole."""
        out = [self.f["incident_energies"]]
        for sub in ("calolab/truth", "calolab/extras"):
            g = self.f.get(sub)
            if isinstance(g, h5py.Group):
                out.extend(v for v in g.values() if isinstance(v, h5py.Dataset))
        return out

    def __len__(self) -> int:
        return self.n_events

    def close(self) -> None:
        self.f.close()

    def rows(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows ``[start, stop)`` of dataset ``name`` as stored (compressed chunks inflated
        with bounded output, see :func:`read_rows`)."""
        ds = self.f[name]
        if not isinstance(ds, h5py.Dataset):
            raise DataError(f"'{self.path}': '{name}' is not a dataset")
        stop = ds.shape[0] if stop is None else stop
        return read_rows(ds, start, stop, f"'{self.path}': dataset '{name}'")

    def __enter__(self) -> ShowerFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def has_digitized(self) -> bool:
        if "calolab/digitized/showers" in self.f:
            return True
        g = self.f.get("calolab/digitized") if self.is_calolab else None
        return isinstance(g, h5py.Group) and isinstance(g.get("sparse"), h5py.Group)

    @property
    def cell_chunk_rows(self) -> int | None:
        """Events per HDF5 chunk of the dense cells (readers that align their blocks on it
        inflate no chunk twice); ``None`` for unchunked or sparse cells."""
        if self.layout != "dense":
            return None
        chunks = self.f["showers"].chunks
        return int(chunks[0]) if chunks is not None else None

    def cell_rows(self, start: int, stop: int, digitized: bool = False) -> np.ndarray:
        """Events ``[start, stop)`` of the cells as stored (MeV), dense rows whatever the
        layout (sparse cells are scattered into float32 rows)."""
        kind, name = self._cell_source(digitized)
        stop = min(int(stop), self.n_events)
        start = max(0, min(int(start), stop))
        if kind == "dense":
            return self.rows(name, start, stop)
        out = np.zeros((stop - start, self.n_cells), dtype=np.float32)
        self._read_sparse(name, [(start, stop)], 0, self.n_cells, [out], None)
        return out

    def _check_size(self, nbytes: float, what: str) -> None:
        if nbytes > self.max_read_bytes:
            raise DataError(
                f"'{self.path}': reading {what} needs about {nbytes / 2**30:,.1f} GiB, more than "
                f"the {self.max_read_bytes / 2**30:,.1f} GiB allowed (max_read_bytes); read fewer "
                "events at a time with ShowerFile.read(start, stop) or iter_batches(n)"
            )

    def read(self, start: int = 0, stop: int | None = None) -> Showers:
        """Events ``[start, stop)`` as :class:`Showers` (GeV)."""
        for name, value in (("start", start), ("stop", stop)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, np.integer))
            ):
                raise DataError(f"read: {name} {value!r} must be an integer event index")
        start = int(start)
        stop = self.n_events if stop is None else min(int(stop), self.n_events)
        start = max(0, min(start, stop))
        self._check_size((stop - start) * self._row_bytes, f"events {start}-{stop}")
        try:
            return self._read(start, stop)
        except _READ_ERRORS as exc:
            raise DataError(
                f"'{self.path}': reading events {start}-{stop} failed; the file is damaged "
                f"(truncated or corrupted?) ({type(exc).__name__}: {exc})"
            ) from None

    def _read(self, start: int, stop: int) -> Showers:
        f = self.f
        with np.errstate(over="ignore", invalid="ignore"):  # out-of-range values → inf, below
            cells = self._gev_cells(False, start, stop)
            inc = (
                np.asarray(self.rows("incident_energies", start, stop), dtype=np.float64).reshape(
                    -1
                )
                / MEV_PER_GEV
            )
            digitized = None
            if self.is_calolab and self.has_digitized:
                digitized = self._gev_cells(True, start, stop)
        times = digitized_times = None
        if self.is_calolab and "calolab/times" in f:
            times = np.asarray(self.rows("calolab/times", start, stop), dtype=np.float32)
        if self.is_calolab and "calolab/digitized/times" in f:
            digitized_times = np.asarray(
                self.rows("calolab/digitized/times", start, stop), dtype=np.float32
            )
        for name, arr in (
            ("showers", cells),
            ("incident_energies", inc),
            ("digitized", digitized),
            ("times", times),
            ("digitized times", digitized_times),
        ):
            if arr is not None:
                self._refuse_non_finite(name, arr, start, stop)
        truth: dict[str, np.ndarray] = {}
        extras: dict[str, np.ndarray] = {}
        records: dict[str, Ragged] = {}
        if self.is_calolab:
            g = f["calolab"]
            for k in g.get("truth", {}):
                truth[k] = self.rows(f"calolab/truth/{k}", start, stop)
            for k in g.get("extras", {}):
                extras[k] = self.rows(f"calolab/extras/{k}", start, stop)
            for name in self._records:
                rg = g["records"][name]
                off = np.asarray(
                    self.rows(f"calolab/records/{name}/offsets", start, stop + 1), dtype=np.int64
                )
                cols = [k for k in rg if k != "offsets"]
                if (
                    len(off) != stop - start + 1
                    or off[0] < 0
                    or np.any(np.diff(off) < 0)
                    or any(off[-1] > rg[k].shape[0] for k in cols)
                ):
                    raise DataError(
                        f"'{self.path}': records '{name}' have invalid offsets in events "
                        f"{start}-{stop} (they must increase and stay within the columns)"
                    )
                self._check_size(
                    float(off[-1] - off[0]) * sum(rg[k].dtype.itemsize for k in cols),
                    f"records '{name}' of events {start}-{stop}",
                )
                columns = {
                    k: self.rows(f"calolab/records/{name}/{k}", int(off[0]), int(off[-1]))
                    for k in cols
                }
                records[name] = Ragged(off - off[0], columns)
        truth.setdefault("energy", inc)
        truth.setdefault("pdg", np.zeros(len(inc), dtype=np.int32))
        return Showers(
            cells=cells,
            truth=truth,
            detector=self.detector,
            provenance=dict(self.provenance),
            digitized=digitized,
            extras=extras,
            records=records,
            layer_sizes=self.layer_sizes,
            conditions=self.conditions,
            times=times,
            digitized_times=digitized_times,
        )

    def _gev_cells(self, digitized: bool, start: int, stop: int) -> np.ndarray:
        kind, name = self._cell_source(digitized)
        if kind == "dense":
            return np.asarray(self.rows(name, start, stop), dtype=np.float32) / np.float32(
                MEV_PER_GEV
            )
        out = np.zeros((stop - start, self.n_cells), dtype=np.float32)
        self._read_sparse(name, [(start, stop)], 0, self.n_cells, [out], MEV_PER_GEV)
        return out

    def _read_sparse(
        self,
        group: str,
        spans: Sequence[tuple[int, int]],
        a: int,
        b: int,
        outs: Sequence[np.ndarray],
        divide: float | None,
    ) -> None:
        """Scatter the sparse cells of events ``[lo, hi)`` (columns ``[a, b)``) into the zeroed
        rows ``outs``, values divided by ``divide`` when given. Every event's entries are
        checked (within the arrays, at most ``n_cells`` of them, cells in range) and the
        entries read at once are bounded by ``max_read_bytes``."""
        g = self.f[group]
        n_index = int(g["index"].shape[0])
        entry_bytes = g["index"].dtype.itemsize + g["energy"].dtype.itemsize
        where = f"'{self.path}': '/{group}'"
        for (lo, hi), out in zip(spans, outs):
            if hi <= lo:
                continue
            st = np.asarray(self.rows(f"{group}/starts", lo, hi), dtype=np.int64)
            sp = np.asarray(self.rows(f"{group}/stops", lo, hi), dtype=np.int64)
            counts = sp - st
            if (
                st.min() < 0
                or counts.min() < 0
                or sp.max() > n_index
                or counts.max() > self.n_cells
            ):
                raise DataError(
                    f"{where}: events {lo}-{hi} have invalid starts/stops (each event needs "
                    f"0 <= start <= stop <= {n_index:,} and at most {self.n_cells:,} entries); "
                    "the file is damaged"
                )
            first, last = int(st.min()), int(sp.max())
            self._check_size(
                float(last - first) * entry_bytes + float(counts.sum()) * 24,
                f"the sparse cells of events {lo}-{hi}",
            )
            index = self.rows(f"{group}/index", first, last)
            energy = self.rows(f"{group}/energy", first, last)
            if np.array_equal(st[1:], sp[:-1]):  # one block (no padding in between)
                index = index[st[0] - first : sp[-1] - first]
                energy = energy[st[0] - first : sp[-1] - first]
            else:
                before = np.cumsum(counts) - counts
                pos = np.repeat(st - first - before, counts) + np.arange(int(counts.sum()))
                index, energy = index[pos], energy[pos]
            if len(index) and (int(index.min()) < 0 or int(index.max()) >= self.n_cells):
                raise DataError(
                    f"{where}: events {lo}-{hi} have cell indices outside 0..{self.n_cells - 1}; "
                    "the file is damaged"
                )
            scatter(out, counts, index, energy, None if b - a == self.n_cells else (a, b), divide)

    def read_cells(
        self,
        start: int,
        stop: int,
        columns: tuple[int, int] | None = None,
        digitized: bool = False,
    ) -> np.ndarray:
        """Only the cell energies (GeV, float32) of events ``[start, stop)``, cells
        ``columns = (first, stop)`` of each row (default all): the fast path of training.

        Files written by calolab (deflate or no compression, chunks of whole rows) are read
        chunk by chunk with :meth:`h5py.h5d.DatasetID.read_direct_chunk` and inflated by a
        pool of threads; other layouts go through HDF5's own filter pipeline. Both give the
        same numbers (tested).
        """
        return self.read_cell_spans([(start, stop)], columns, digitized)[0]

    def read_cell_spans(
        self,
        spans: Sequence[tuple[int, int]],
        columns: tuple[int, int] | None = None,
        digitized: bool = False,
    ) -> list[np.ndarray]:
        """:meth:`read_cells` of several ranges of events ``[(start, stop), ...]`` at once: the
        chunks of all of them are inflated by the thread pool together."""
        kind, name = self._cell_source(digitized)
        a, b = columns if columns is not None else (0, self.n_cells)
        if not 0 <= a < b <= self.n_cells:
            raise DataError(f"read_cells: columns {columns} must lie within 0..{self.n_cells}")
        clipped = []
        for start, stop in spans:
            stop = min(int(stop), self.n_events)
            clipped.append((max(0, min(int(start), stop)), stop))
        n_rows = sum(hi - lo for lo, hi in clipped)
        self._check_size(n_rows * (b - a) * 4.0, f"cells of {n_rows} events")
        alloc = np.zeros if kind == "sparse" else np.empty
        outs = [alloc((hi - lo, b - a), dtype=np.float32) for lo, hi in clipped]
        where = ", ".join(f"{lo}-{hi}" for lo, hi in clipped[:3]) + (
            ", ..." if len(clipped) > 3 else ""
        )
        try:
            if kind == "sparse":
                self._read_sparse(name, clipped, a, b, outs, MEV_PER_GEV)
            else:
                self._read_dense(self.f[name], clipped, a, b, outs, f"dataset '{name}'")
        except DataError as exc:
            raise DataError(
                f"'{self.path}': reading the cells of events {where} failed; the file is "
                f"damaged or hostile ({exc})"
            ) from None
        except (*_READ_ERRORS, zlib.error) as exc:
            raise DataError(
                f"'{self.path}': reading the cells of events {where} failed; the file is "
                f"damaged (truncated or corrupted?) ({type(exc).__name__}: {exc})"
            ) from None
        for (lo, hi), out in zip(clipped, outs):
            self._refuse_non_finite(name, out, lo, hi)
        return outs

    def _read_dense(
        self,
        ds: h5py.Dataset,
        spans: list[tuple[int, int]],
        a: int,
        b: int,
        outs: list[np.ndarray],
        where: str,
    ) -> None:
        compressed = _whole_row_chunks(ds)
        if compressed is not None:
            self._read_chunks(ds, compressed, spans, a, b, outs, where)
            return
        for (lo, hi), out in zip(spans, outs):
            if hi > lo:
                rows = read_rows(ds, lo, hi, where)
                with np.errstate(over="ignore", invalid="ignore"):
                    np.divide(rows[:, a:b], np.float32(MEV_PER_GEV), out=out)

    def _refuse_non_finite(self, name: str, arr: np.ndarray, start: int, stop: int) -> None:
        """With ``check_finite``: DataError naming the first event of rows ``start..stop``
        with a NaN or infinite value in ``arr``."""
        if self.check_finite and not np.isfinite(arr).all():
            bad = np.flatnonzero(~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1))
            raise DataError(
                f"'{self.path}': '{name}' has NaN or infinite values in event "
                f"{start + int(bad[0])} (and {len(bad) - 1} more in rows {start}-{stop}); "
                "remove or fix these events"
            )

    @staticmethod
    def _read_chunks(
        ds: h5py.Dataset,
        compressed: bool,
        spans: list[tuple[int, int]],
        a: int,
        b: int,
        outs: list[np.ndarray],
        where: str = "",
    ) -> None:
        rows, width = ds.chunks[0], ds.shape[1]
        nominal = rows * width * 4
        items = []  # (chunk, first event, span start, output), compressed bytes read in order
        for (start, stop), out in zip(spans, outs):
            if stop > start:
                for c in range(start // rows, (stop - 1) // rows + 1):
                    items.append((c, start, stop, out, ds.id.read_direct_chunk((c * rows, 0))))

        def inflate(item: tuple[int, int, int, np.ndarray, tuple[int, bytes]]) -> None:
            c, start, stop, out, (mask, data) = item
            buf = _inflate(data, nominal, where) if compressed and not mask & 1 else data
            block = np.frombuffer(buf, dtype="<f4").reshape(-1, width)
            lo, hi = max(start, c * rows), min(stop, (c + 1) * rows)
            with np.errstate(over="ignore", invalid="ignore"):
                np.divide(
                    block[lo - c * rows : hi - c * rows, a:b],
                    np.float32(MEV_PER_GEV),
                    out=out[lo - start : hi - start],
                )

        list(_decode_pool().map(inflate, items))

    def iter_batches(self, batch_size: int = 1024) -> Iterator[Showers]:
        """Stream the file in batches of ``batch_size`` events."""
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1
        ):
            raise DataError(f"batch_size {batch_size!r} must be an integer >= 1")
        for a in range(0, self.n_events, batch_size):
            yield self.read(a, a + batch_size)


def read_showers(
    path: str | os.PathLike[str],
    start: int = 0,
    stop: int | None = None,
    layer_sizes: tuple[int, ...] | None = None,
) -> Showers:
    """Read events ``[start, stop)`` of a file into memory."""
    with ShowerFile(path, layer_sizes=layer_sizes) as f:
        return f.read(start, stop)
