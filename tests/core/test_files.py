"""calolab.core.files: the output guard, the one atomic writer, the lock, the guarded file.

Hostile paths are made by the tests themselves (FIFOs, sockets, device nodes, dangling links,
hard links to inputs, read-only mounts); the ones that need root (device nodes, mounts) are
skipped where the operating system does not permit them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from calolab.core import files
from calolab.core.errors import DataError, OutputError
from calolab.core.files import (
    AtomicFile,
    GuardedFile,
    OutputLock,
    PartialFile,
    atomic_output,
    check_input,
    check_output,
    check_output_dir,
    is_disk_full,
    os_error,
)


# ------------------------------------------------------------------------ hostile paths
def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def make_socket(path: Path) -> Path:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # the socket file stays
    return path


def make_chardev(path: Path) -> Path:
    """A copy of /dev/null (major 1, minor 3): skipped without the right to make one."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here ({exc})")
    return path


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "1m", readonly: bool = False):
    """A small tmpfs at ``path`` (skipped where mounting is not permitted)."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if readonly else "")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here ({r.stderr.strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def listing(d: Path) -> list[str]:
    return sorted(os.listdir(d))


# ------------------------------------------------------------------------ check_output
def test_output_that_is_an_input_is_refused_however_spelled(tmp_path):
    data = tmp_path / "in.h5"
    data.write_bytes(b"precious")
    other = tmp_path / "sub"
    other.mkdir()
    hard = tmp_path / "hard.h5"
    os.link(data, hard)
    soft = tmp_path / "soft.h5"
    soft.symlink_to(data)
    for spelling in (data, other / ".." / "in.h5", hard, soft):
        with pytest.raises(OutputError, match="is also an input"):
            check_output(spelling, inputs=[data])
    # an input that does not exist yet is compared by path
    with pytest.raises(OutputError, match="is also an input"):
        check_output(tmp_path / "new.h5", inputs=[tmp_path / "sub" / ".." / "new.h5"])
    assert data.read_bytes() == b"precious"
    assert check_output(tmp_path / "out.h5", inputs=[data]) == tmp_path / "out.h5"


@pytest.mark.parametrize(
    "make,kind",
    [
        (lambda p: p.mkdir(), "a directory"),
        (make_fifo, "FIFO"),
        (make_socket, "a socket"),
        (make_chardev, "a character device"),
    ],
)
def test_special_outputs_are_refused_and_left_alone(tmp_path, make, kind):
    p = tmp_path / "out.h5"
    make(p)
    mode = os.lstat(p).st_mode
    with pytest.raises(OutputError, match=kind):
        check_output(p)
    # also through a symbolic link
    link = tmp_path / "link.h5"
    link.symlink_to(p)
    with pytest.raises(OutputError, match=kind):
        check_output(link)
    # the atomic writer refuses before creating anything
    with pytest.raises(OutputError, match=kind):
        files.write_text(p, "x")
    assert os.lstat(p).st_mode == mode
    assert listing(tmp_path) == ["link.h5", "out.h5"]


def test_other_bad_outputs(tmp_path):
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputError, match="symbolic link to a missing file"):
        check_output(tmp_path / "dangling")
    for bad in ("a\x00b.h5", Path("a\x00b.h5")):
        with pytest.raises(OutputError, match="NUL"):
            check_output(bad)
    with pytest.raises(OutputError, match="does not exist; create it first"):
        check_output(tmp_path / "missing" / "x.h5")
    with pytest.raises(OutputError, match="empty"):
        check_output("")


def test_read_only_mount_is_one_clear_error(tmp_path):
    with tmpfs(tmp_path / "ro", readonly=True) as ro:
        with pytest.raises(OutputError, match="not writable \\(a read-only file system\\)"):
            check_output(ro / "report.html")
        with pytest.raises(OutputError, match="read-only"):
            check_output_dir(ro / "run")


def test_output_directories(tmp_path):
    f = tmp_path / "data.h5"
    f.write_bytes(b"x")
    with pytest.raises(OutputError, match="is a file, not a directory"):
        check_output_dir(f)
    with pytest.raises(OutputError, match="FIFO"):
        check_output_dir(make_fifo(tmp_path / "fifo"))
    with pytest.raises(OutputError, match="is also an input"):
        check_output_dir(tmp_path / "x" / ".." / "data.h5", inputs=[f])
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"


def test_inputs_that_are_not_regular_files_are_never_opened(tmp_path):
    fifo = make_fifo(tmp_path / "data.h5")  # opening it for reading would block forever
    with pytest.raises(DataError, match="FIFO.*not a regular file"):
        check_input(fifo)
    with pytest.raises(DataError, match="directory"):
        check_input(tmp_path)
    assert check_input(tmp_path / "missing.h5") == tmp_path / "missing.h5"
    assert not files.is_regular_file(fifo) and not files.is_regular_file(tmp_path / "missing")


# ------------------------------------------------------------------------ atomic writes
def test_atomic_output_replaces_only_on_success(tmp_path):
    p = tmp_path / "out.json"
    files.write_json(p, {"a": float("nan"), "b": [1.5]})
    assert json.loads(p.read_text()) == {"a": None, "b": [1.5]}  # strict JSON
    with pytest.raises(RuntimeError):
        with atomic_output(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert json.loads(p.read_text())["b"] == [1.5]
    assert listing(tmp_path) == ["out.json"]  # the temporary file is gone
    with pytest.raises(OutputError, match="disk is full"):
        with atomic_output(p):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert listing(tmp_path) == ["out.json"]


def test_temporary_files_are_unique_and_exclusive(tmp_path):
    a = AtomicFile(tmp_path / "x.h5").open()
    b = AtomicFile(tmp_path / "x.h5").open()
    assert a.tmp != b.tmp and a.tmp.parent == tmp_path and a.tmp.name.startswith(".x.h5.")
    a.tmp.write_text("A")
    b.tmp.write_text("B")
    a.commit()
    b.abort()
    assert (tmp_path / "x.h5").read_text() == "A" and listing(tmp_path) == ["x.h5"]


def test_locked_writer_refuses_a_second_and_cleans_dead_temporaries(tmp_path):
    out = tmp_path / "x.h5"
    stale = tmp_path / ".x.h5.abcd1234.partial"  # left by a writer that was killed
    stale.write_text("junk")
    other = tmp_path / ".x.h5.other.abcd1234.partial"  # another output's: kept
    other.write_text("keep")
    first = AtomicFile(out, lock=True).open()
    assert not stale.exists() and other.exists()
    with pytest.raises(OutputError, match="another calolab process is writing"):
        AtomicFile(out, lock=True).open()
    first.tmp.write_text("done")
    first.commit()
    assert out.read_text() == "done"
    assert not files.lock_path(out).exists()  # the lock file goes with the lock
    AtomicFile(out, lock=True).open().abort()  # free again


def test_output_lock_detects_a_replaced_lock_file(tmp_path, monkeypatch):
    out = tmp_path / "x.h5"
    lock = OutputLock(out)
    real_stat = os.stat
    calls = {"n": 0}

    def stat_after_unlink(path, *a, **kw):  # the holder removed the file between open and stat
        if Path(path) == lock.lock_file and calls["n"] == 0:
            calls["n"] += 1
            raise FileNotFoundError(path)
        return real_stat(path, *a, **kw)

    monkeypatch.setattr(files.os, "stat", stat_after_unlink)
    with lock:
        assert lock.held and calls["n"] == 1
    assert not lock.held


def test_partial_file_second_writer_cannot_touch_the_first(tmp_path):
    out = tmp_path / "ev.h5"
    with PartialFile(out) as first:
        first.tmp.write_text("committed events")
        with pytest.raises(OutputError, match="another calolab process"):
            PartialFile(out).acquire()
        assert first.tmp.read_text() == "committed events"
    again = PartialFile(out).acquire()
    assert again.existed  # a run to resume
    again.commit()
    again.release()
    assert out.read_text() == "committed events"


def test_partial_file_that_is_a_link_is_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "ev.h5.partial").symlink_to(victim)
    with pytest.raises(OutputError, match="symbolic link"):
        PartialFile(tmp_path / "ev.h5").acquire()
    assert victim.read_text() == "precious"
    assert not files.lock_path(tmp_path / "ev.h5").exists()


# ------------------------------------------------------------------------ a full disk
class FullAfter(GuardedFile):
    """A GuardedFile on a disk that fills up after ``budget`` bytes."""

    budget = 1000

    def _pwrite(self, data, offset):
        if offset + len(data) > self.budget:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super()._pwrite(data, offset)


def test_guarded_file_records_the_failure_and_keeps_the_library_going(tmp_path):
    g = FullAfter(tmp_path / "f.bin", "w")
    assert g.write(b"a" * 600) == 600 and g.failure is None
    assert g.write(b"b" * 600) == 600  # the library sees success
    assert g.failure is not None and g.failure.errno == errno.ENOSPC
    g.write(b"c" * 10)
    g.seek(0)
    assert g.read(1210) == b"a" * 600 + b"b" * 600 + b"c" * 10  # kept in memory
    assert g.seek(0, 2) == 1210
    with pytest.raises(OutputError, match="disk is full.*No space left"):
        g.raise_if_failed(tmp_path / "out.h5")
    g.close()


def test_real_full_disk_on_a_small_tmpfs(tmp_path):
    with tmpfs(tmp_path / "small", size="64k") as mnt:
        g = GuardedFile(mnt / "f.bin", "w")
        for _ in range(40):
            g.write(b"x" * 4096)
        assert g.failure is not None and is_disk_full(g.failure)
        g.close()
        with pytest.raises(OutputError, match="disk is full"):
            files.write_bytes(mnt / "big.bin", b"y" * (1 << 20))
        assert "big.bin" not in listing(mnt)
        assert not any(n.endswith(".partial") for n in listing(mnt))


def test_os_error_messages():
    full = os_error("/d/x.h5", OSError(errno.ENOSPC, "No space left on device"))
    assert str(full).startswith("the disk is full (No space left on device): writing '/d/x.h5'")
    assert is_disk_full(RuntimeError("Can't write data (No space left on device)"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    multi = os_error("x", RuntimeError("line one\nline two"))
    assert "\n" not in str(multi) and "line one" in str(multi)
