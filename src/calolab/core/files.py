"""Files calolab reads and writes: guards on paths, one atomic writer, one lock.

Every file calolab writes goes through this module, so that a run never destroys what it
reads, never leaves a half-written file that looks complete, never shares a temporary file
with another run, and survives a full disk with a one-line error:

* :func:`check_output` refuses an output path that is a directory, a device, a FIFO, a
  socket or any other non-regular file (also through a symbolic link), a dangling link, one
  of the run's inputs (the same file, however it is spelled, or a hard link to it), or whose
  directory does not exist or is not writable (a read-only mount included). The message
  names the path, what is wrong and what to do. :func:`check_output_dir` does the same for
  output directories, :func:`check_input` refuses to open an input that is not a regular
  file (a FIFO named ``*.h5`` would block a reader forever).
* :class:`AtomicFile` (and its context-manager form :func:`atomic_output`) is the one atomic
  writer: the content is written to a temporary file created exclusively (``O_EXCL``, a
  unique name ``.<name>.<random>.partial``) in the target directory, ``fsync``-ed, renamed
  over the target and the directory entry synced; any failure removes the temporary file.
  :func:`write_bytes`, :func:`write_text` and :func:`write_json` use it.
* :class:`PartialFile` is its resumable form: a fixed ``<name>.partial`` that a later run can
  finish.
* :class:`OutputLock` is the one lock: an exclusive ``flock`` on ``.<name>.lock`` taken
  before anything is created or truncated, so that a second writer of the same output is
  refused with a clear message and cannot damage the first one's file. :class:`PartialFile`
  always holds it; :class:`AtomicFile` holds it with ``lock=True`` (long runs).
* :class:`GuardedFile` is the file object handed to libraries that do not survive a failed
  write (HDF5: a full disk during a flush leaves half-closed objects behind, and the process
  then dies of a segmentation fault when they are freed). Its first failed write is
  recorded instead of raised, the library finishes in memory, and the caller raises the
  failure as one :class:`OutputError` and deletes the file.
* :func:`os_error` turns an :class:`OSError` of a write into an :class:`OutputError`; a full
  disk (``ENOSPC``, ``EDQUOT``) gets its own one-line message.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from calolab.core.errors import DataError, OutputError

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Suffix of temporary and resumable files.
PARTIAL_SUFFIX = ".partial"
#: Suffix of lock files (``.<name>.lock`` next to the output).
LOCK_SUFFIX = ".lock"

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


# ----------------------------------------------------------------------------- the guards
def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _plain(path: PathLike, what: str, error: type[Exception] = OutputError) -> Path:
    """``path`` as a Path, refusing names the operating system cannot hold (NUL)."""
    text = os.fspath(path)
    if isinstance(text, bytes):  # pragma: no cover - calolab passes str paths
        text = os.fsdecode(text)
    if "\x00" in text:
        raise error(f"{what} {text!r} contains a NUL character; give a plain file name")
    return Path(text)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return os.path.abspath(a) == os.path.abspath(b)


def _refuse_inputs(p: Path, inputs: Iterable[PathLike], what: str) -> None:
    for inp in inputs:
        try:
            ip = Path(os.fspath(inp))
            both = ip.exists() and p.exists()
        except (OSError, ValueError, TypeError):
            continue
        if (both and _same_file(p, ip)) or (not both and os.path.abspath(p) == os.path.abspath(ip)):
            raise OutputError(
                f"{what} '{p}' is also an input ('{inp}'); writing it would destroy the input; "
                "choose another output file"
            )


def check_output(
    path: PathLike,
    *,
    inputs: Iterable[PathLike] = (),
    what: str = "output",
    suffix_hint: str = "out.h5",
    create_parent: bool = False,
) -> Path:
    """Check that ``path`` may be written as a regular file, before any work is done.

    Parameters
    ----------
    path:
        The output file.
    inputs:
        Files the run reads; the output must be none of them (compared as files, so a
        different spelling of the same path or a hard link is caught too).
    what:
        How the output is called in messages (e.g. ``"--output"``).
    suffix_hint:
        Example file name suggested when ``path`` is a directory.
    create_parent:
        The caller will create a missing parent directory (with ``mkdir(parents=True)``):
        check that it can be created instead of requiring that it exists.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputError
        Naming the path, the problem and the fix.
    """
    p = _plain(path, what)
    if str(p) in ("", "."):
        raise OutputError(f"{what} is empty; give a file name such as {suffix_hint}")
    _refuse_inputs(p, inputs, what)
    try:
        st = os.stat(p)  # follows links: what a write would reach
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"{what} '{p}' cannot be inspected: {exc.strerror}") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(
                f"{what} '{p}' is a directory; give a file name such as {p / suffix_hint}"
            )
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(
                f"{what} '{p}' is {_kind(st.st_mode)}, not a regular file; calolab writes only "
                "regular files: give a file name"
            )
    elif p.is_symlink():
        raise OutputError(
            f"{what} '{p}' is a symbolic link to a missing file; remove the link or give "
            "another name"
        )
    parent = p.parent if str(p.parent) else Path(".")
    if create_parent and not parent.exists():
        check_output_dir(parent, what=f"the directory of {what} '{p}'")
    else:
        _check_writable_dir(parent, f"the directory of {what} '{p}'")
    if st is not None and not os.access(p, os.W_OK):
        raise OutputError(f"{what} '{p}' exists and is not writable")
    return p


def _check_writable_dir(d: Path, what: str) -> None:
    if not d.exists():
        raise OutputError(f"{what} ('{d}') does not exist; create it first")
    if not d.is_dir():
        raise OutputError(f"{what} ('{d}') is not a directory")
    if not os.access(d, os.W_OK | os.X_OK):
        ro = ""
        with contextlib.suppress(OSError):
            if os.statvfs(d).f_flag & os.ST_RDONLY:
                ro = " (a read-only file system)"
        raise OutputError(f"{what} ('{d}') is not writable{ro}; choose another place")


def check_output_dir(
    path: PathLike, *, inputs: Iterable[PathLike] = (), what: str = "output directory"
) -> Path:
    """Check that ``path`` is, or can be created as, a writable directory (not created)."""
    p = _plain(path, what)
    if str(p) == "":
        raise OutputError(f"{what} is empty; give a directory name")
    _refuse_inputs(p, inputs, what)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"{what} '{p}' cannot be inspected: {exc.strerror}") from None
    if st is not None:
        if not stat.S_ISDIR(st.st_mode):
            kind = "a file" if stat.S_ISREG(st.st_mode) else _kind(st.st_mode)
            raise OutputError(
                f"{what} '{p}' exists and is {kind}, not a directory; give a directory name"
            )
        _check_writable_dir(p, what)
        return p
    if p.is_symlink():
        raise OutputError(f"{what} '{p}' is a symbolic link to a missing directory")
    anc = p.parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise OutputError(f"{what} '{p}' cannot be created: '{anc}' is not a directory")
    _check_writable_dir(anc, f"{what} '{p}' cannot be created: its parent")
    return p


def check_input(path: PathLike, *, what: str = "input file") -> Path:
    """Refuse, without opening it, an existing input that is not a regular file.

    A FIFO, a device or a socket would block or stream forever when opened for reading; a
    directory is not a file. A missing file passes (the reader says what is missing).

    Raises
    ------
    DataError
        Naming the path and what it is.
    """
    p = _plain(path, what, DataError)
    try:
        st = os.stat(p)
    except (FileNotFoundError, NotADirectoryError):
        return p
    except OSError as exc:
        raise DataError(f"{what} '{p}' cannot be inspected: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise DataError(
            f"{what} '{p}' is {_kind(st.st_mode)}, not a regular file; calolab reads only "
            "regular files"
        )
    return p


def is_regular_file(path: PathLike) -> bool:
    """Whether ``path`` is a regular file (following links); never opens it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


# ------------------------------------------------------------------------------ errors
def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says the disk or the quota is full."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(e).lower()
        if "no space left" in text or "disk quota exceeded" in text:
            return True
        e = e.__cause__ or e.__context__
    return False


def free_bytes(directory: PathLike) -> int | None:
    """Bytes available to this user in ``directory``'s file system (``None`` if unknown)."""
    try:
        st = os.statvfs(directory)
    except (OSError, ValueError):
        return None
    return int(st.f_bavail * st.f_frsize)


def os_error(path: PathLike, exc: BaseException, action: str = "writing") -> OutputError:
    """An :class:`OutputError` for a failed write of ``path`` (one line, no traceback)."""
    p = Path(path)
    if is_disk_full(exc):
        where = p.parent if str(p.parent) else Path(".")
        free = free_bytes(where)
        left = "unknown space" if free is None else f"{free / 2**20:,.1f} MiB"
        return OutputError(
            f"the disk is full ({_reason(exc)}): {action} '{p}' failed ({left} left in "
            f"'{where}'); nothing was kept: free some space or write elsewhere"
        )
    return OutputError(f"{action} '{p}' failed: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    """The first line of what went wrong (HDF5 messages span several lines)."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return reason.strip().splitlines()[0] if reason.strip() else type(exc).__name__


# ------------------------------------------------------------------------------- locks
def lock_path(path: PathLike) -> Path:
    """The lock file of an output: ``.<name>.lock`` in the same directory."""
    p = Path(path)
    return p.with_name(f".{p.name}{LOCK_SUFFIX}")


class OutputLock:
    """An exclusive, non-blocking ``flock`` that one writer of an output holds.

    The lock file (``.<name>.lock`` next to ``path`` unless ``lock_file`` is given) is
    removed on release; a lock taken on a file that a releasing holder has just unlinked is
    detected (the inode changed) and taken again, so two processes can never both believe
    they hold it. The operating system releases the lock when a holder dies (``kill -9``).

    Parameters
    ----------
    path:
        What is locked (used in messages).
    lock_file:
        The lock file (default :func:`lock_path`).
    what:
        How the locked thing is called in messages.
    """

    def __init__(self, path: PathLike, *, lock_file: PathLike | None = None, what: str = ""):
        self.path = Path(path)
        self.lock_file = Path(lock_file) if lock_file is not None else lock_path(self.path)
        self.what = what or f"'{self.path}'"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> OutputLock:
        import fcntl

        for _ in range(5):
            try:
                flags = os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC
                fd = os.open(self.lock_file, flags, 0o666)
            except OSError as exc:
                raise os_error(self.lock_file, exc, "creating the lock file") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise OutputError(
                        f"another calolab process is writing {self.what} (it holds the lock "
                        f"'{self.lock_file}'); wait for it to finish or choose another output"
                    ) from None
                # a file system without locks (some network mounts): go on unprotected
                log.warning("cannot lock %s (%s); continuing without a lock", self.lock_file, exc)
                return self
            try:
                on_disk = os.stat(self.lock_file, follow_symlinks=False)
                same = on_disk.st_ino == os.fstat(fd).st_ino
            except OSError:
                same = False
            if same:
                self._fd = fd
                return self
            os.close(fd)  # the previous holder removed the file meanwhile: take the new one
        raise OutputError(f"cannot take the lock '{self.lock_file}': it keeps changing")

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                self.lock_file.unlink()
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


# ----------------------------------------------------------------------- atomic writes
def fsync_dir(directory: PathLike) -> None:
    """Make a rename in ``directory`` durable (best effort where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. some network file systems
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def fsync_path(path: PathLike) -> None:
    """``fsync`` a file written by another library (h5py, torch) before it is renamed."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_path(path: PathLike) -> Path:
    """Create, exclusively, an empty temporary file next to ``path`` and return its name.

    The name is ``.<name>.<random>.partial`` in the same directory (so the final rename is
    atomic); the file is created with ``O_EXCL``, so no other process can own it.
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=PARTIAL_SUFFIX, dir=parent)
    except OSError as exc:
        raise os_error(p, exc, "creating a temporary file for") from None
    os.close(fd)
    # mkstemp makes the file 0600; give it the permissions a plain open() would
    umask = os.umask(0)
    os.umask(umask)
    with contextlib.suppress(OSError):
        os.chmod(name, 0o666 & ~umask)
    return Path(name)


def _temporaries_of(path: Path) -> list[Path]:
    """Temporary files of ``path`` left by writers that died (``.<name>.XXXXXXXX.partial``)."""
    parent = path.parent if str(path.parent) else Path(".")
    pattern = re.compile(
        rf"^\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}{re.escape(PARTIAL_SUFFIX)}$"
    )
    try:
        return [parent / n for n in os.listdir(parent) if pattern.match(n)]
    except OSError:
        return []


def commit(tmp: PathLike, path: PathLike) -> Path:
    """``fsync`` ``tmp``, rename it to ``path`` and sync the directory entry."""
    p = Path(path)
    try:
        fsync_path(tmp)
        os.replace(tmp, p)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise os_error(p, exc) from None
    fsync_dir(p.parent if str(p.parent) else ".")
    return p


class AtomicFile:
    """A new version of ``path`` written under a unique temporary name and renamed at the end.

    ``open()`` checks the output (:func:`check_output`, unless ``check`` is false), takes the
    output's :class:`OutputLock` when ``lock`` is true (removing temporary files of writers
    of the same output that died), and creates the temporary file :attr:`tmp` exclusively;
    the caller writes it with any library; :meth:`commit` syncs and renames it over ``path``,
    :meth:`abort` deletes it. As a context manager: commit when the block ends cleanly,
    abort otherwise (an :class:`OSError` becomes an :class:`OutputError`).
    """

    def __init__(
        self,
        path: PathLike,
        *,
        inputs: Iterable[PathLike] = (),
        what: str = "output",
        check: bool = True,
        lock: bool = False,
    ):
        self.path = check_output(path, inputs=inputs, what=what) if check else Path(path)
        self.lock = OutputLock(self.path) if lock else None
        self._tmp: Path | None = None

    @property
    def tmp(self) -> Path:
        if self._tmp is None:
            raise OutputError(f"the temporary file of '{self.path}' is not open")
        return self._tmp

    def open(self) -> AtomicFile:
        if self.lock is not None:
            self.lock.acquire()
            for stale in _temporaries_of(self.path):  # left by a writer that was killed
                with contextlib.suppress(OSError):
                    stale.unlink()
        try:
            self._tmp = temporary_path(self.path)
        except BaseException:
            self._release()
            raise
        return self

    def _release(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def commit(self) -> Path:
        try:
            return commit(self.tmp, self.path)
        finally:
            self._tmp = None
            self._release()

    def abort(self) -> None:
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None
        self._release()

    def __enter__(self) -> Path:
        return self.open().tmp

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            self.commit()
            return
        self.abort()
        if isinstance(exc, OSError):
            raise os_error(self.path, exc) from None


@contextlib.contextmanager
def atomic_output(
    path: PathLike,
    *,
    inputs: Iterable[PathLike] = (),
    what: str = "output",
    check: bool = True,
    lock: bool = False,
) -> Iterator[Path]:
    """Write ``path`` atomically: yields a fresh temporary file name next to it.

    The caller writes the temporary file (with any library: h5py, torch, matplotlib);
    when the block ends without an exception the file is synced and renamed to ``path``;
    otherwise it is deleted and ``path`` is left as it was. An :class:`OSError` becomes an
    :class:`OutputError` (a full disk says so). See :class:`AtomicFile`.
    """
    with AtomicFile(path, inputs=inputs, what=what, check=check, lock=lock) as tmp:
        yield tmp


@contextlib.contextmanager
def atomic_open(
    path: PathLike,
    mode: str = "w",
    *,
    inputs: Iterable[PathLike] = (),
    what: str = "output",
    encoding: str | None = "utf-8",
    check: bool = True,
) -> Iterator[IO[Any]]:
    """``open()`` a temporary file that replaces ``path`` when the block ends cleanly."""
    binary = "b" in mode
    with atomic_output(path, inputs=inputs, what=what, check=check) as tmp:
        with open(tmp, mode, encoding=None if binary else encoding) as fh:
            yield fh
            fh.flush()


def write_bytes(path: PathLike, data: bytes, **kwargs: Any) -> Path:
    """Write ``data`` to ``path`` atomically (keywords of :func:`atomic_open`)."""
    with atomic_open(path, "wb", **kwargs) as fh:
        fh.write(data)
    return Path(path)


def write_text(path: PathLike, text: str, **kwargs: Any) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (keywords of :func:`atomic_open`)."""
    with atomic_open(path, "w", **kwargs) as fh:
        fh.write(text)
    return Path(path)


def _strict(obj: Any) -> Any:
    """``obj`` with NaN and ±inf replaced by ``None`` (strict JSON), numpy scalars unwrapped."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    item = getattr(obj, "item", None)
    if callable(item) and getattr(obj, "shape", None) == ():
        return _strict(item())
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return _strict(tolist())
    return obj


def dumps_json(
    data: Any,
    *,
    indent: int | None = 2,
    sort_keys: bool = False,
    compact: bool = False,
    ensure_ascii: bool = True,
) -> str:
    """Strict JSON (NaN and ±inf become ``null``; numpy values become plain numbers);
    ``compact``: one line without spaces; ``ensure_ascii=False`` keeps non-ASCII text (σ, ±)
    readable in the UTF-8 file."""
    return json.dumps(
        _strict(data),
        indent=None if compact else indent,
        separators=(",", ":") if compact else None,
        sort_keys=sort_keys,
        allow_nan=False,
        default=str,
        ensure_ascii=ensure_ascii,
    )


def write_json(
    path: PathLike,
    data: Any,
    *,
    sort_keys: bool = False,
    ensure_ascii: bool = True,
    **kwargs: Any,
) -> Path:
    """Write ``data`` as strict JSON to ``path`` atomically (keywords of :func:`atomic_open`)."""
    text = dumps_json(data, sort_keys=sort_keys, ensure_ascii=ensure_ascii)
    return write_text(path, text + "\n", **kwargs)


# ------------------------------------------------------------------- resumable writes
def partial_path(path: PathLike) -> Path:
    """The fixed temporary name of a resumable output: ``<name>.partial``."""
    p = Path(path)
    return p.with_name(p.name + PARTIAL_SUFFIX)


class PartialFile:
    """The resumable temporary file ``<name>.partial`` of an output, held under a lock.

    ``with PartialFile(path) as pf:`` checks the output (:func:`check_output` with
    ``inputs``) and takes its :class:`OutputLock` *before* anything is created or truncated,
    so a second writer of the same output is refused with :class:`OutputError` and cannot
    damage the first one's file. :meth:`commit` syncs the partial file and renames it to the
    output; on an exception the partial file is kept (it can be resumed) unless
    ``keep_on_error`` is false.

    Attributes
    ----------
    path:
        The final output.
    tmp:
        ``<name>.partial``.
    existed:
        Whether ``tmp`` existed when the lock was taken (a run to resume).
    """

    def __init__(
        self,
        path: PathLike,
        *,
        inputs: Iterable[PathLike] = (),
        what: str = "output",
        keep_on_error: bool = True,
        check: bool = True,
    ):
        self.path = check_output(path, inputs=inputs, what=what) if check else Path(path)
        self.tmp = partial_path(self.path)
        self.lock = OutputLock(self.path)
        self.keep_on_error = keep_on_error
        self.existed = False

    @property
    def lock_path(self) -> Path:
        return self.lock.lock_file

    def acquire(self) -> PartialFile:
        self.lock.acquire()
        try:
            st = os.stat(self.tmp, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            self.release()
            raise os_error(self.tmp, exc, "inspecting") from None
        if st is not None and not stat.S_ISREG(st.st_mode):
            self.release()
            what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else _kind(st.st_mode)
            raise OutputError(
                f"'{self.tmp}' exists and is {what}, not a partial file of calolab; remove it"
            )
        self.existed = st is not None
        return self

    def release(self) -> None:
        self.lock.release()

    def discard(self) -> None:
        """Delete the partial file."""
        with contextlib.suppress(OSError):
            self.tmp.unlink()

    def commit(self) -> Path:
        """Sync the partial file and rename it to the output."""
        return commit(self.tmp, self.path)

    def __enter__(self) -> PartialFile:
        return self.acquire()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is not None and not self.keep_on_error:
                self.discard()
        finally:
            self.release()


# ------------------------------------------------------------- library-facing file object
class GuardedFile:
    """A read-write file object for libraries that must not see a failed write (h5py).

    HDF5 does not survive an ``ENOSPC`` in the middle of a flush: the failed close leaves
    half-closed identifiers behind, and the process dies of a segmentation fault when Python
    frees them. Given to ``h5py.File`` (its ``fileobj`` driver), this object records the first
    failed write or truncation in :attr:`failure` instead of raising it; later writes are
    kept in memory (up to :attr:`MAX_OVERLAY` bytes, read back from there), so the library
    finishes and closes cleanly. The caller checks :meth:`raise_if_failed` after each step,
    closes the library's file, deletes this one and reports one :class:`OutputError` (a full
    disk says so).

    Parameters
    ----------
    path:
        The file.
    mode:
        ``"w"``: create or truncate; ``"r+"``: an existing file, read and written.
    """

    #: Bytes of writes kept in memory after a failure (the rest is dropped).
    MAX_OVERLAY = 256 << 20

    def __init__(self, path: PathLike, mode: str = "w"):
        if mode not in ("w", "r+"):
            raise ValueError(f"GuardedFile mode {mode!r} must be 'w' or 'r+'")
        flags = os.O_RDWR | _O_NOFOLLOW | _O_CLOEXEC
        if mode == "w":
            flags |= os.O_CREAT | os.O_TRUNC
        self.path = Path(path)
        self.fd = os.open(self.path, flags, 0o666)
        self.failure: OSError | None = None
        self._pos = 0
        self._size = os.fstat(self.fd).st_size
        self._overlay: list[tuple[int, bytes]] = []
        self._overlay_bytes = 0

    def __repr__(self) -> str:  # h5py names the file after this
        return f"<GuardedFile {str(self.path)!r} at {id(self):#x}>"

    # -- the file protocol h5py's fileobj driver uses ---------------------------------
    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            self._pos = offset
        elif whence == 1:
            self._pos += offset
        else:
            self._pos = self._size + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, self._size - self._pos)
        parts = []
        got = 0
        while got < size:
            chunk = os.pread(self.fd, size - got, self._pos + got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        data = b"".join(parts)
        end = min(size, max(0, self._size - self._pos))
        if len(data) < end or self._overlay:
            buf = bytearray(data.ljust(end, b"\0"))
            for off, blob in self._overlay:  # writes kept in memory after a failure
                lo, hi = max(off, self._pos), min(off + len(blob), self._pos + end)
                if lo < hi:
                    buf[lo - self._pos : hi - self._pos] = blob[lo - off : hi - off]
            data = bytes(buf)
        self._pos += len(data)
        return data

    def write(self, data: Any) -> int:
        mv = memoryview(data).cast("B")
        n = len(mv)
        done = 0
        if self.failure is None:
            try:
                while done < n:
                    done += self._pwrite(mv[done:], self._pos + done)
            except OSError as exc:
                self.failure = exc
        if done < n:
            self._remember(self._pos + done, mv[done:])
        self._pos += n
        self._size = max(self._size, self._pos)
        return n

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else int(size)
        if self.failure is None:
            try:
                os.ftruncate(self.fd, size)
            except OSError as exc:
                self.failure = exc
        self._size = size
        return size

    def flush(self) -> None:
        """Nothing to do: writes go straight to the file; :func:`commit` syncs it."""

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def _pwrite(self, data: memoryview, offset: int) -> int:
        """One ``pwrite`` (the place where a full disk shows up; tests replace it)."""
        return os.pwrite(self.fd, data, offset)

    # -- failures ------------------------------------------------------------------------
    def _remember(self, offset: int, blob: memoryview) -> None:
        if self._overlay_bytes + len(blob) <= self.MAX_OVERLAY:
            self._overlay.append((offset, bytes(blob)))
            self._overlay_bytes += len(blob)

    def raise_if_failed(self, path: PathLike | None = None, action: str = "writing") -> None:
        """Raise the recorded failure as an :class:`OutputError` about ``path``."""
        if self.failure is not None:
            raise os_error(path if path is not None else self.path, self.failure, action)
