"""Issue 18 at the command line: outputs never overwrite inputs, hostile files are contained,
a full disk is survived, and every bad option is one line on stderr (exit code 2).

The commands run in-process (``calolab.cli.main.main``), except where a separate process is
the point (a segmentation fault, two concurrent writers). Hostile files are made here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calolab.cli.main import main
from calolab.core.files import OutputLock, lock_path
from calolab.data import Showers
from calolab.geometry.io import save_detector
from calolab.simulation import ParticleGun, simulate_to_file
from tests.synthetic import tiny_detector

ROOT_OK = True
try:
    import skhep_testdata  # noqa: F401
except ImportError:  # pragma: no cover
    ROOT_OK = False


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """``calolab ARGV`` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def one_line_error(rc: int, err: str) -> None:
    """Exit code 2 and one line of error (commands may print progress notes before it)."""
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert lines and " error: " in lines[-1] and "Traceback" not in err, err
    assert sum(" error: " in line for line in lines) == 1, err


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _can_mknod() -> bool:
    d = tempfile.mkdtemp()
    try:
        os.mknod(os.path.join(d, "n"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        return True
    except OSError:
        return False
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _mount(path: Path, opts: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True
    )
    return r.returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


# ------------------------------------------------------------------------ inputs
@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    det = save_detector(tiny_detector("tiny"), d / "det.toml")
    data = simulate_to_file(d / "data.h5", det, ParticleGun("e-", "5:50"), 60, seed=1)
    rc = main(["train", "--data", str(data), "--model", "sum", "-o", str(d / "run"), "-q"])
    assert rc == 0
    from calolab.events.hdf5 import ImageWriter
    from calolab.events.images import ImageConfig
    from tests.events.conftest import make_objects

    img = d / "img.h5"
    with ImageWriter(img, ImageConfig(n_eta=8, n_phi=8), ["a"], {}) as w:
        w.append(make_objects(np.random.default_rng(0), 10), 0)
    out = {"dir": d, "det": det, "data": data, "run": d / "run", "img": img}
    example = Path(__file__).parents[1] / "data" / "edm4hep"
    out["edm4hep"] = Path(shutil.copy(example / "edm4hep_example_v01-01_podio_v01-07.root", d))
    if ROOT_OK:
        out["root"] = Path(shutil.copy(skhep_testdata.data_path("uproot-issue513.root"), d))
    ro = d / "readonly"
    out["ro"] = ro if _mount(ro, "size=64k,ro") else None
    yield out
    if out["ro"] is not None:
        _umount(ro)


def campaign_file(d: Path, output_dir: str) -> Path:
    p = d / "camp.toml"
    p.write_text(
        f"name = 'c'\noutput_dir = {json.dumps(output_dir)}\nevents = 4\nseed = 1\n"
        "detectors = ['course_pbscint']\nparticles = ['e-']\nenergies = ['10']\n"
    )
    return p


#: Every command that writes: (argv with OUT for the output, output kind, input it reads).
COMMANDS = {
    "simulate": (["simulate", "{det}", "-n", "5", "-o", "OUT"], "file", "det"),
    "simulate (campaign)": (
        ["simulate", "{det}", "-n", "5", "--chunk-size", "5", "-o", "OUT"],
        "file",
        "det",
    ),
    "detector export": (["detector", "export", "{det}", "-o", "OUT"], "file", "det"),
    "report": (["report", "{data}", "-o", "OUT"], "file", "data"),
    "report --plots-dir": (
        ["report", "{data}", "-o", "{dir}/fresh.html", "--plots-dir", "OUT"],
        "dir",
        "data",
    ),
    "events import": (["events", "import", "{root}", "-o", "OUT", "-q"], "file", "root"),
    "import edm4hep": (
        ["import", "edm4hep", "{edm4hep}", "-c", "SimCalorimeterHitCollection", "--no-truth"]
        + ["-o", "OUT", "-q"],
        "file",
        "edm4hep",
    ),
    "events merge": (["events", "merge", "{img}", "-o", "OUT"], "file", "img"),
    "events reimage": (
        ["events", "reimage", "{img}", "-o", "OUT", "--resolution", "4"],
        "file",
        "img",
    ),
    "events show": (["events", "show", "{img}", "-o", "OUT"], "file", "img"),
    "events generate": (
        ["events", "generate", "--process", "qcd", "-n", "2", "-o", "OUT"],
        "file",
        None,
    ),
    "validate": (["validate", "--events", "10", "--config", "V1", "-o", "OUT"], "file", None),
    "train": (["train", "--data", "{data}", "--model", "sum", "-o", "OUT", "-q"], "dir", "data"),
    "evaluate": (["evaluate", "{run}", "--data", "{data}", "-o", "OUT", "-q"], "dir", "data"),
    "demo": (["demo", "--quick", "--no-progress", "-o", "OUT"], "dir", None),
    "campaign run": (["campaign", "run", "CAMPAIGN", "-q"], "dir", "campaign"),
}

FILE_KINDS = [
    "input", "input via ..", "hard link to input", "link to input", "directory", "fifo",
    "socket", "device", "dangling link", "nul", "missing parent", "read-only",
]  # fmt: skip
DIR_KINDS = ["input", "file", "fifo", "socket", "device", "dangling link", "nul", "read-only"]


def hostile(kind: str, d: Path, inp: Path | None, ro: Path | None) -> str | None:
    """Make the hostile output ``kind`` in ``d`` (None when it does not apply here)."""
    p = d / "out.h5"
    if kind.startswith("input") or "to input" in kind:
        if inp is None:
            return None
        if kind == "input":
            return str(inp)
        if kind == "input via ..":
            (d / "sub").mkdir(exist_ok=True)
            return (
                str(inp.parent / "sub" / ".." / inp.name)
                if (inp.parent / "sub").is_dir()
                else str(inp.parent / "." / inp.name)
            )
        if kind == "hard link to input":
            os.link(inp, p)
        else:
            p.symlink_to(inp)
        return str(p)
    if kind == "file":
        p.write_bytes(b"not a directory")
    elif kind == "directory":
        p.mkdir()
    elif kind == "fifo":
        os.mkfifo(p)
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(p))
        s.close()
    elif kind == "device":
        if not _can_mknod():
            return None
        os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    elif kind == "dangling link":
        p.symlink_to(d / "nowhere")
    elif kind == "nul":
        return str(d / "a\x00b.h5")
    elif kind == "missing parent":
        return str(d / "missing" / "out.h5")
    elif kind == "read-only":
        return None if ro is None else str(ro / "out")
    return str(p)


def snapshot(d: Path) -> dict[str, tuple[int, str]]:
    """What is in ``d``: name → (file type, content hash of regular files)."""
    out = {}
    for p in sorted(d.iterdir()):
        st_ = os.lstat(p)
        h = digest(p) if stat.S_ISREG(st_.st_mode) else ""
        out[p.name] = (stat.S_IFMT(st_.st_mode), h)
    return out


@pytest.mark.parametrize("command", list(COMMANDS))
def test_output_guard_fuzz(command, inputs, capsys):
    """Every writing command refuses every kind of hostile output with one line (exit 2),
    and nothing is changed: not the inputs, not the special files, no file left behind."""
    argv, out_kind, input_key = COMMANDS[command]
    if input_key == "root" and "root" not in inputs:
        pytest.skip("no Delphes test file (scikit-hep-testdata)")
    kinds = FILE_KINDS if out_kind == "file" else DIR_KINDS

    @settings(
        max_examples=10,
        derandomize=True,
        database=None,
        deadline=timedelta(seconds=60),
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(kind=st.sampled_from(kinds), trailing_dot=st.booleans())
    def check(kind, trailing_dot):
        d = Path(tempfile.mkdtemp(dir=inputs["dir"]))
        try:
            inp = inputs.get(input_key) if input_key not in (None, "campaign") else None
            if input_key == "campaign":
                inp = d / "camp.toml"
                inp.write_text("placeholder")
            if trailing_dot and kind in ("fifo", "socket", "directory", "file"):
                d = d / "."  # another spelling of the same directory
            target = hostile(kind, d, Path(inp) if inp else None, inputs["ro"])
            if target is None:
                return
            before_in = digest(Path(inp)) if inp else None
            before = snapshot(d)
            before_inputs = snapshot(inputs["dir"])
            subs = {k: str(v) for k, v in inputs.items() if v is not None}
            subs["dir"] = str(d)
            args = [a.format(**subs) for a in argv]
            if input_key == "campaign":
                campaign_file(d, target)
                args = [str(d / "camp.toml") if a == "CAMPAIGN" else a for a in args]
                before = snapshot(d)
                before_in = digest(d / "camp.toml")
            else:
                args = [target if a == "OUT" else a for a in args]
            rc, _, err = run(capsys, *args)
            one_line_error(rc, err)
            assert snapshot(d) == before, f"{command}: {kind}: the directory changed"
            assert snapshot(inputs["dir"]) == before_inputs
            if before_in is not None:
                assert digest(Path(inp)) == before_in
        finally:
            shutil.rmtree(d, ignore_errors=True)

    check()


# ------------------------------------------------------------------------ data loss
def test_report_and_simulate_never_replace_their_inputs(inputs, capsys, tmp_path):
    data = shutil.copy(inputs["data"], tmp_path / "in.h5")
    det = shutil.copy(inputs["det"], tmp_path / "det.toml")
    for argv in (
        ["report", data, "-o", data],
        ["report", data, det, "-o", det],
        ["report", tmp_path, "-o", data],  # found in a directory it scans
        ["simulate", det, "-n", "3", "-o", det],
        ["detector", "export", det, "-o", tmp_path / "." / "det.toml"],
    ):
        before = {p: digest(Path(p)) for p in (data, det)}
        rc, _, err = run(capsys, *argv)
        one_line_error(rc, err)
        assert "is also an input" in err
        assert {p: digest(Path(p)) for p in (data, det)} == before


def test_two_plain_simulate_runs_second_refused_first_intact(inputs, tmp_path):
    out = tmp_path / "x.h5"
    cmd = [sys.executable, "-m", "calolab.cli.main", "simulate", "course_pbscint", "-q",
           "--energy", "50", "-o", str(out)]  # fmt: skip
    first = subprocess.Popen([*cmd, "-n", "1500"], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not lock_path(out).exists() and first.poll() is None:
            assert time.monotonic() < deadline, "the first run never took its lock"
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended before the second could start"
        second = subprocess.run([*cmd, "-n", "10"], capture_output=True, text=True)
        assert second.returncode == 2 and "another calolab process is writing" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert len(Showers.load(str(out))) == 1500
    assert sorted(os.listdir(tmp_path)) == ["x.h5"]


def test_held_lock_refuses_in_process(tmp_path, capsys):
    out = tmp_path / "y.h5"
    with OutputLock(out):
        rc, _, err = run(capsys, "simulate", "course_pbscint", "-n", "2", "-q", "-o", out)
    one_line_error(rc, err)
    assert "another calolab process" in err and not out.exists()


# ------------------------------------------------------------------------ train --resume
def test_resume_from_another_directory_and_refusal_of_another_file(inputs, tmp_path, capsys):
    data = shutil.copy(inputs["data"], tmp_path / "d.h5")
    os.chdir(tmp_path)
    try:
        rc, _, err = run(capsys, "train", "--data", "d.h5", "--model", "linear", "-o", "run",
                         "--epochs", "2", "-q")  # fmt: skip
        assert rc == 0, err
        stored = json.loads((tmp_path / "run" / "config.json").read_text())
        assert stored["config"]["data"]["path"] == str(Path(data).resolve())
        (tmp_path / "elsewhere").mkdir()
        os.chdir(tmp_path / "elsewhere")
        # the same file, another spelling, from another working directory
        rc, _, err = run(capsys, "train", "--resume", "-o", "../run", "--data", "../d.h5", "-q")
        assert rc == 0, err
        rc, _, err = run(capsys, "train", "--resume", "-o", str(tmp_path / "run"), "-q")
        assert rc == 0, err
        other = tmp_path / "other.h5"
        simulate_to_file(other, inputs["det"], ParticleGun("e-", "5:50"), 60, seed=2)
        rc, _, err = run(capsys, "train", "--resume", "-o", "../run", "--data", str(other), "-q")
        one_line_error(rc, err)
        assert str(Path(data).resolve()) in err and str(other) in err and "different file" in err
        # a second process resuming the same run is refused by the run's lock
        with OutputLock(tmp_path / "run", lock_file=tmp_path / "run" / ".lock"):
            rc, _, err = run(capsys, "train", "--resume", "-o", "../run", "-q")
        one_line_error(rc, err)
        assert "another calolab process" in err
    finally:
        os.chdir(Path(__file__).parent)
    assert not (tmp_path / "run" / ".lock").exists()


# ------------------------------------------------------------------------ hostile inputs
def test_external_storage_does_not_leak_through_info_train_or_report(inputs, tmp_path, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * 64)
    evil = tmp_path / "evil.h5"
    with h5py.File(evil, "w") as f:
        f["incident_energies"] = np.full((16, 1), 1000.0)
        f.create_dataset("showers", shape=(16, 8), dtype="f4", external=[(str(secret), 0, 512)])
    assert evil.stat().st_size < 4096
    for argv in (["info", evil], ["train", "--data", evil, "--model", "sum", "-o", tmp_path / "r"]):
        rc, _, err = run(capsys, *argv)
        one_line_error(rc, err)
        assert "another file" in err and "--allow-external-data" in err
    rc, _, err = run(capsys, "report", evil, "-o", tmp_path / "r.html")
    assert rc == 0
    html = (tmp_path / "r.html").read_text()
    assert "root:x:0:0" not in html and "another file" in html
    rc, _, err = run(capsys, "info", "--allow-external-data", evil)
    assert rc == 0, err


def test_declared_sizes_bombs_and_fifos(inputs, tmp_path, capsys):
    huge = tmp_path / "huge.h5"
    with h5py.File(huge, "w") as f:
        f.create_dataset("incident_energies", shape=(10**12, 1), dtype="f8", chunks=(4096, 1))
        f.create_dataset("showers", shape=(10**12, 76), dtype="f4", chunks=(64, 76))
    for argv in (
        ["info", huge],
        ["train", "--data", huge, "--model", "sum", "-o", tmp_path / "r"],
        ["evaluate", inputs["run"], "--data", huge, "-o", tmp_path / "e"],
    ):
        rc, _, err = run(capsys, *argv)
        one_line_error(rc, err)
        assert "--max-inflation" in err
    big = tmp_path / "bigchunk.h5"
    with h5py.File(big, "w") as f:
        f["incident_energies"] = np.ones((1, 1))
        f.create_dataset("showers", shape=(1, 1 << 29), dtype="f4", chunks=(1, 1 << 29),
                         compression="gzip")  # fmt: skip
    rc, _, err = run(capsys, "info", big)
    one_line_error(rc, err)
    assert "--max-chunk-mb" in err
    # a FIFO named *.h5 among the report's inputs is skipped, never opened
    scan = tmp_path / "scan"
    scan.mkdir()
    shutil.copy(inputs["data"], scan / "good.h5")
    os.mkfifo(scan / "trap.h5")
    rc, out, err = run(capsys, "report", scan, "-o", tmp_path / "s.html")
    assert rc == 0, err
    flat = out.replace("\n", "")  # the console wraps long paths
    assert "trap.h5" in flat and "not a regular file" in flat
    rc, _, err = run(capsys, "info", scan / "trap.h5")
    one_line_error(rc, err)
    assert "FIFO" in err


@pytest.mark.skipif(not ROOT_OK, reason="no Delphes test file")
def test_root_budget_from_the_command_line(inputs, tmp_path, capsys):
    rc, _, err = run(capsys, "events", "import", inputs["root"], "-o", tmp_path / "x.h5", "-q",
                     "--max-chunk-mb", "0.001")  # fmt: skip
    one_line_error(rc, err)
    assert "--max-chunk-mb" in err and not (tmp_path / "x.h5").exists()


def test_detector_files_are_bounded(tmp_path, capsys):
    base = tmp_path / "base.toml"
    save_detector(tiny_detector("tiny"), base)
    text = base.read_text()
    big = tmp_path / "big.toml"
    big.write_text(
        text.replace('name = "tiny"', 'name = "tiny"\ndescription = "' + "x" * 1_000_000 + '"')
    )
    rc, _, err = run(capsys, "detector", "show", big)
    one_line_error(rc, err)
    assert "description has 1,000,000 characters" in err
    nested = tmp_path / "nested.toml"
    nested.write_text("name = 'x'\nvalue = " + "[" * 200 + "]" * 200 + "\n")
    rc, _, err = run(capsys, "detector", "show", nested)
    one_line_error(rc, err)
    assert "nested" in err
    nul = tmp_path / "nul.toml"
    nul.write_text(text.replace('name = "tiny"', 'name = "a\\u0000b"'))
    rc, _, err = run(capsys, "simulate", nul, "-n", "2", "-o", tmp_path / "n.h5")
    one_line_error(rc, err)
    assert "control characters" in err
    markup = tmp_path / "markup.toml"
    markup.write_text(
        text.replace('name = "tiny"', 'name = "tiny"\ndescription = "[red]not markup[/red]"')
    )
    rc, out, err = run(capsys, "detector", "show", markup)
    assert rc == 0 and "[red]not markup[/red]" in out


def test_many_materials_load_in_linear_time(tmp_path, monkeypatch):
    import calolab.geometry.materials as materials
    from calolab.geometry.io import MAX_MATERIALS, load_detector

    calls = {"n": 0}
    index = materials._index

    def counted(m):
        calls["n"] += 1
        return index(m)

    monkeypatch.setattr(materials, "_index", counted)
    base = tmp_path / "base.toml"
    save_detector(tiny_detector("tiny"), base)
    head, rest = base.read_text().split("\n[[sections]]", 1)

    def with_materials(n):
        mats = "".join(
            f'[materials.m{i}]\nmixture = {{ {"m" + str(i - 1) if i else "Fe"} = 1.0 }}\n'
            "density_g_cm3 = 7.0\n"
            for i in range(n)
        )
        return head + "\n" + mats + "\n[[sections]]" + rest

    p = tmp_path / "mats.toml"
    p.write_text(with_materials(600))
    load_detector(p)
    assert calls["n"] <= 2  # no index rebuilt per lookup (that was quadratic)
    p.write_text(with_materials(MAX_MATERIALS + 1))
    with pytest.raises(Exception, match="at most 1,000"):
        load_detector(p)


def test_script_data_cannot_hide_the_report_scripts(tmp_path, capsys):
    det = tiny_detector("<!--<script>")
    data = simulate_to_file(tmp_path / "x.h5", det, ParticleGun("e-", "50"), 3, seed=1)
    rc, _, err = run(capsys, "report", data, "-o", tmp_path / "r.html")
    assert rc == 0, err
    html = (tmp_path / "r.html").read_text()
    start = html.index('<script type="application/json" id="evd-data">') + len(
        '<script type="application/json" id="evd-data">'
    )
    block = html[start : html.index("</script>", start)]
    assert "<" not in block and ">" not in block and "&" not in block
    assert "<!--<script>" in json.dumps(json.loads(block), ensure_ascii=False)
    assert html.count("<script>") == 2  # report.js and event_display.js follow intact


# ------------------------------------------------------------------------ bad options
PROBES = [
    (["simulate", "course_pbscint", "-n", "5", "-o", "X", "--energy", "1e30"], "outside"),
    (["simulate", "course_pbscint", "-n", "5", "-o", "X", "--energy", "2e5"], "100 TeV"),
    (["simulate", "course_pbscint", "-n", "5", "-o", "X", "--particle", "mu-", "--energy", "6e4"],
     "muon energy"),
    (["simulate", "course_pbscint", "-n", "5", "-o", "X", "--energy", "0.0001"], "1 MeV"),
    (["simulate", "course_pbscint", "-n", "5", "-o", "X", "--position", "nan,0"], "finite"),
    (["simulate", "course_pbscint", "-n", "5", "-o", "X", "--theta", "nan"], "--theta nan"),
    (["simulate", "course_pbscint", "-n", "5", "-o", "X", "--noise", "inf"], "--noise inf"),
    (["simulate", "course_pbscint", "-n", "100000000000000000000", "-o", "X"], "1,000,000,000"),
    (["simulate", "course_pbscint", "-n", "5", "-o", "X", "--workers", "100000"], "--workers"),
    (["simulate", "course_pbscint", "-n", "5", "-o", "X", "--scheduler", "not a url"], "Dask address"),
    (["simulate", "course_pbscint", "-n", "5", "-o", "X", "--batch-size", "0"], "--batch-size"),
    (["evaluate", "{run}", "--data", "{data}", "-o", "E", "--bins", "-3"], "--bins"),
    (["evaluate", "{run}", "--data", "{data}", "-o", "E", "--batch-size", "0"], "--batch-size"),
    (["train", "--data", "{data}", "--model", "mlp", "--hidden", "100000000", "-o", "T"], "65,536"),
    (["train", "--data", "{data}", "--model", "sum", "--batch-size", "0", "-o", "T"], "--batch-size"),
    (["train", "--data", "{data}", "--model", "sum", "--ensemble", "500", "-o", "T"], "--ensemble"),
    (["train", "--data", "{data}", "--model", "sum", "--ensemble", "7", "-o", "T"], "events per fold"),
    (["train", "--data", "{data}", "--model", "sum", "--workers", "100000", "-o", "T"], "--workers"),
    (["train", "--data", "{data}", "--model", "sum", "--lr", "nan", "-o", "T"], "finite"),
    (["campaign", "run", "C", "--workers", "100000"], "--workers"),
    (["report", "{data}", "-o", "R", "--event-energy", "nan"], "finite"),
    (["detector", "show", "course_pbscint", "--budget", "nan"], "finite"),
    (["info", "{data}", "--max-chunk-mb", "-1"], "--max-chunk-mb"),
    (["import", "edm4hep", "{edm4hep}", "-c", "Hits", "-o", "X", "--step", "0"], "--step 0"),
    (["import", "edm4hep", "{edm4hep}", "-c", "Hits", "-o", "X", "--origin", "nan,0,0"], "finite"),
    (["import", "edm4hep", "{edm4hep}", "-c", "Hits", "-o", "X", "--max-chunk-mb", "-1"],
     "--max-chunk-mb"),
]  # fmt: skip


@pytest.mark.parametrize(
    "argv,message", PROBES, ids=[" ".join(p[0][:2]) + f" {i}" for i, p in enumerate(PROBES)]
)
def test_bad_options_are_one_line_errors(argv, message, inputs, tmp_path, capsys):
    subs = {"run": inputs["run"], "data": inputs["data"], "edm4hep": inputs["edm4hep"]}
    names = {"X": tmp_path / "x.h5", "E": tmp_path / "e", "T": tmp_path / "t",
             "R": tmp_path / "r.html", "C": campaign_file(tmp_path, str(tmp_path / "c"))}  # fmt: skip
    args = [names.get(a, a.format(**subs) if "{" in a else a) for a in argv]
    rc, _, err = run(capsys, *args)
    one_line_error(rc, err)
    assert message in err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "camp.toml") == []


def test_read_only_mounts_are_one_line_errors(inputs, capsys):
    ro = inputs["ro"]
    if ro is None:
        pytest.skip("mounting a tmpfs is not permitted here")
    for argv in (["report", inputs["data"], "-o", ro / "r.html"],
                 ["detector", "export", "course_pbscint", "-o", ro / "d.toml"]):  # fmt: skip
        rc, _, err = run(capsys, *argv)
        one_line_error(rc, err)
        assert "read-only file system" in err


# ------------------------------------------------------------------------ a full disk
class _Full:
    """Patch calolab's HDF5 writers onto a disk that fills up after ``budget`` bytes."""

    def __init__(self, monkeypatch, budget: int):
        import errno

        from calolab.core.files import GuardedFile
        from calolab.data import hdf5

        class Full(GuardedFile):
            def _pwrite(self, data, offset):
                if offset + len(data) > budget:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return super()._pwrite(data, offset)

        monkeypatch.setattr(hdf5, "GuardedFile", Full)


def _disk_full_commands(inputs, out_dir: Path) -> dict[str, list[str]]:
    cmds = {
        "simulate": ["simulate", str(inputs["det"]), "-n", "400", "-q", "-o", str(out_dir / "s.h5")],
        "events merge": ["events", "merge", str(inputs["img"]), str(inputs["img"]), "-o",
                         str(out_dir / "m.h5")],
    }  # fmt: skip
    if "root" in inputs:
        cmds["events import"] = ["events", "import", str(inputs["root"]), "--resolution", "256",
                                 "-q", "-o", str(out_dir / "i.h5")]  # fmt: skip
    return cmds


def test_disk_full_simulated(inputs, tmp_path, monkeypatch, capsys):
    _Full(monkeypatch, budget=6000)
    for name, argv in _disk_full_commands(inputs, tmp_path).items():
        rc, _, err = run(capsys, *argv)
        one_line_error(rc, err)
        assert "the disk is full" in err, (name, err)
        assert os.listdir(tmp_path) == [], name  # no partial file, no lock file


def test_disk_full_on_a_small_tmpfs(inputs, tmp_path):
    """A real full disk, in separate processes: before the fix HDF5 crashed (exit 139) with
    tracebacks and left its ``.partial`` file filling the disk."""
    mnt = tmp_path / "small"
    if not _mount(mnt, "size=1m"):
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        for name, argv in _disk_full_commands(inputs, mnt).items():
            free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
            filler = mnt / "filler"
            filler.write_bytes(b"\0" * max(0, free - 12 * 1024))  # leave 12 KiB
            proc = subprocess.run([sys.executable, "-m", "calolab.cli.main", *argv],
                                  capture_output=True, text=True)  # fmt: skip
            filler.unlink()
            assert proc.returncode == 2, (name, proc.returncode, proc.stderr[-2000:])
            one_line_error(proc.returncode, proc.stderr)
            assert "the disk is full" in proc.stderr
            assert os.listdir(mnt) == [], (name, os.listdir(mnt))
    finally:
        _umount(mnt)
