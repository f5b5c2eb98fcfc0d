"""Files calolab writes: a guard on output paths and one atomic writer.

Every file calolab writes goes through this module, so that a run never destroys what it
reads, never leaves a half-written file that looks complete, and never shares a temporary
file with another run:

* :func:`check_output` refuses an output path that is a directory, a device, a FIFO, a
  socket or any other non-regular file (also through a symbolic link), that is one of the
  run's inputs (the same file, however it is spelled), or whose directory does not exist or
  is not writable. The message names the path, what is wrong and what to do.
* :func:`atomic_output` is the one atomic writer: the content is written to a temporary file
  created exclusively (``O_EXCL``) in the target directory, flushed and ``fsync``-ed, then
  renamed over the target and the directory entry synced; any failure removes the temporary
  file. :func:`write_bytes`, :func:`write_text` and :func:`write_json` use it.
* :class:`PartialFile` is its resumable form: a fixed ``<name>.partial`` that a later run
  can finish, held under an exclusive lock (``<name>.partial.lock``) so that two writers
  cannot share it; the second one is refused before it touches anything.
* :func:`os_error` turns an :class:`OSError` of a write into an :class:`OutputError`; a full
  disk (``ENOSPC``, ``EDQUOT``) gets its own one-line message.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from calolab.core.errors import OutputError

PathLike = str | os.PathLike[str]

#: Suffix of temporary and resumable files.
PARTIAL_SUFFIX = ".partial"


# ----------------------------------------------------------------------------- the guard
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


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_output(
    path: PathLike,
    *,
    inputs: Iterable[PathLike] = (),
    what: str = "output",
    suffix_hint: str = "out.h5",
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

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputError
        Naming the path, the problem and the fix.
    """
    if isinstance(path, str) and "\x00" in path:
        raise OutputError(f"{what} {path!r} contains a NUL character; give a plain file name")
    p = Path(path)
    if str(p) in ("", "."):
        raise OutputError(f"{what} is empty; give a file name such as {suffix_hint}")
    for inp in inputs:
        ip = Path(inp)
        if ip.exists() and p.exists() and _same_file(p, ip):
            raise OutputError(
                f"{what} '{p}' is also an input ('{inp}'); writing it would destroy the input; "
                "choose another output file"
            )
        if not p.exists() and os.path.abspath(p) == os.path.abspath(ip):
            raise OutputError(f"{what} '{p}' is also an input; choose another output file")
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
    if not parent.exists():
        raise OutputError(f"output directory '{parent}' of {what} does not exist; create it first")
    if not parent.is_dir():
        raise OutputError(f"'{parent}' (the directory of {what} '{p}') is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output directory '{parent}' is not writable; choose another place")
    if st is not None and not os.access(p, os.W_OK):
        raise OutputError(f"{what} '{p}' exists and is not writable")
    return p


def check_output_dir(path: PathLike, *, what: str = "output directory") -> Path:
    """Check that ``path`` is, or can be created as, a writable directory (not created)."""
    if isinstance(path, str) and "\x00" in path:
        raise OutputError(f"{what} {path!r} contains a NUL character; give a plain name")
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise OutputError(f"{what} '{p}' exists and is not a directory")
        if not os.access(p, os.W_OK | os.X_OK):
            raise OutputError(f"{what} '{p}' is not writable; choose another place")
        return p
    anc = p.parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise OutputError(f"{what} '{p}' cannot be created: '{anc}' is not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OutputError(f"{what} '{p}' cannot be created: '{anc}' is not writable")
    return p


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


def os_error(path: PathLike, exc: BaseException, action: str = "writing") -> OutputError:
    """An :class:`OutputError` for a failed write of ``path`` (one line, no traceback)."""
    if is_disk_full(exc):
        where = Path(path).parent if str(Path(path).parent) else Path(".")
        try:
            free = f"{os.statvfs(where).f_bavail * os.statvfs(where).f_frsize / 2**20:,.0f} MiB"
        except OSError:
            free = "unknown space"
        return OutputError(
            f"the disk is full: {action} '{path}' failed ({free} left in '{where}'); "
            "free some space or write elsewhere; nothing was written"
        )
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return OutputError(f"{action} '{path}' failed: {reason}")


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


@contextlib.contextmanager
def atomic_output(
    path: PathLike, *, inputs: Iterable[PathLike] = (), what: str = "output", check: bool = True
) -> Iterator[Path]:
    """Write ``path`` atomically: yields a fresh temporary file name next to it.

    The caller writes the temporary file (with any library: h5py, torch, matplotlib);
    when the block ends without an exception the file is synced and renamed to ``path``;
    otherwise it is deleted and ``path`` is left as it was. An :class:`OSError` becomes an
    :class:`OutputError` (a full disk says so).
    """
    p = check_output(path, inputs=inputs, what=what) if check else Path(path)
    tmp = temporary_path(p)
    try:
        yield tmp
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise os_error(p, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    commit(tmp, p)


@contextlib.contextmanager
def atomic_open(
    path: PathLike,
    mode: str = "w",
    *,
    inputs: Iterable[PathLike] = (),
    what: str = "output",
    encoding: str | None = "utf-8",
) -> Iterator[IO[Any]]:
    """``open()`` a temporary file that replaces ``path`` when the block ends cleanly."""
    binary = "b" in mode
    with atomic_output(path, inputs=inputs, what=what) as tmp:
        with open(tmp, mode, encoding=None if binary else encoding) as fh:
            yield fh
            fh.flush()


def write_bytes(path: PathLike, data: bytes, **kwargs: Any) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb", **kwargs) as fh:
        fh.write(data)
    return Path(path)


def write_text(path: PathLike, text: str, **kwargs: Any) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
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


def dumps_json(data: Any, *, indent: int | None = 2, ensure_ascii: bool = True) -> str:
    """Strict JSON (NaN and ±inf become ``null``; numpy values become plain numbers);
    ``ensure_ascii=False`` keeps non-ASCII text (σ, ±) readable in the UTF-8 file."""
    return json.dumps(
        _strict(data),
        indent=indent,
        sort_keys=False,
        allow_nan=False,
        default=str,
        ensure_ascii=ensure_ascii,
    )


def write_json(path: PathLike, data: Any, *, ensure_ascii: bool = True, **kwargs: Any) -> Path:
    """Write ``data`` as strict JSON to ``path`` atomically."""
    return write_text(path, dumps_json(data, ensure_ascii=ensure_ascii) + "\n", **kwargs)


# ------------------------------------------------------------------- resumable writes
def partial_path(path: PathLike) -> Path:
    """The fixed temporary name of a resumable output: ``<name>.partial``."""
    p = Path(path)
    return p.with_name(p.name + PARTIAL_SUFFIX)


class PartialFile:
    """The resumable temporary file ``<name>.partial`` of an output, held under a lock.

    ``with PartialFile(path) as pf:`` takes an exclusive, non-blocking ``flock`` on
    ``<name>.partial.lock`` *before* anything is created or truncated, so a second writer of
    the same output is refused with :class:`OutputError` and cannot damage the first one's
    file. :meth:`commit` syncs the partial file and renames it to the output; on an exception
    the partial file is kept (it can be resumed) unless ``keep_on_error`` is false.

    Attributes
    ----------
    path:
        The final output.
    tmp:
        ``<name>.partial``.
    existed:
        Whether ``tmp`` existed when the lock was taken (a run to resume).
    """

    def __init__(self, path: PathLike, *, keep_on_error: bool = True):
        self.path = Path(path)
        self.tmp = partial_path(self.path)
        self.lock_path = self.tmp.with_name(self.tmp.name + ".lock")
        self.keep_on_error = keep_on_error
        self.existed = False
        self._fh: IO[str] | None = None

    def acquire(self) -> PartialFile:
        import fcntl

        try:
            fh = open(self.lock_path, "a+")  # noqa: SIM115 - held until release()
        except OSError as exc:
            raise os_error(self.lock_path, exc, "creating the lock file") from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise OutputError(
                f"another calolab process is writing '{self.path}' (its lock "
                f"'{self.lock_path}' is held); wait for it to finish or choose another output"
            ) from None
        self._fh = fh
        if self.tmp.exists() and not self.tmp.is_file():
            self.release()
            raise OutputError(f"'{self.tmp}' exists and is not a regular file; remove it")
        self.existed = self.tmp.exists()
        return self

    def release(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self.lock_path.unlink()
            self._fh.close()
            self._fh = None

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
