"""Campaigns: chunked, resumable simulation in one process, on local workers or on Dask."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from calolab.core.errors import ConfigError, DataError, OutputError
from calolab.data import ShowerFile, ShowerWriter, read_showers
from calolab.simulation import Digitizer, ParticleGun, campaign, simulate, simulate_to_file
from calolab.simulation.campaign import (
    Campaign,
    CampaignSpec,
    dask_client,
    run_campaign,
)

DET = "course_pbscint"
GUNS = [ParticleGun("gamma", "5:40"), ParticleGun("pi0", "5:40", vertex_distance_cm=30)]


_CELL_DATASETS = ("showers", "calolab/digitized/showers")
_CELLS = ("/showers", "/calolab/sparse/energy")  # the cells, dense or sparse


def _datasets(path):
    """Every dataset of an HDF5 file as a numpy array, by name; the cells (dense or sparse
    layout) as dense MeV rows, under "cells" and "digitized cells"."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name not in _CELL_DATASETS and "/sparse/" not in name:
            out[name] = obj[()]

    with h5py.File(path) as f:
        f.visititems(visit)
    with ShowerFile(path) as f:
        out["cells"] = f.cell_rows(0, len(f))
        if f.has_digitized:
            out["digitized cells"] = f.cell_rows(0, len(f), digitized=True)
        out["layout"] = np.array(f.layout)
    assert {"cells", "incident_energies", "calolab/truth/energy"} <= set(out)
    return out


def assert_same_dataset(a, b):
    da, db = _datasets(a), _datasets(b)
    assert sorted(da) == sorted(db)
    for name in da:
        np.testing.assert_array_equal(da[name], db[name], err_msg=name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted, single-process run the campaigns must reproduce exactly."""
    path = tmp_path_factory.mktemp("ref") / "ref.h5"
    simulate_to_file(path, DET, GUNS, 90, seed=5)
    return path


def test_chunked_run_equals_plain_run_whatever_the_chunk_size(tmp_path, reference):
    # 26,400 cells, a few % lit: sparse cells (auto); the sparse arrays of each chunk are padded
    # to whole HDF5 chunks, so the merge copies them compressed, leaving gaps between events
    assert _datasets(reference)["layout"] == "sparse"
    for cs in (7, 18, 40):
        out = tmp_path / f"c{cs}.h5"
        run_campaign(out, DET, GUNS, 90, seed=5, chunk_size=cs)
        assert_same_dataset(out, reference)  # incl. ragged π0 decay records (rebased offsets)
        assert not (tmp_path / f"c{cs}.h5.campaign").exists()  # cleaned up after the merge
        prov = read_showers(out, 0, 1).provenance
        assert prov["campaign"]["chunk_size"] == cs and prov["config"]["seed"] == 5
    with h5py.File(tmp_path / "c18.h5") as f:
        starts, stops = f["calolab/sparse/starts"][()], f["calolab/sparse/stops"][()]
        assert stops[17] < starts[18] and starts[18] % 2**14 == 0  # chunk 1 starts on a chunk
    # the dense CaloChallenge layout: the same cells; 18 = 2 HDF5 chunks of cells, so the
    # compressed chunks are copied as they are
    simulate_to_file(tmp_path / "dense.h5", DET, GUNS, 90, seed=5, layout="dense")
    run_campaign(tmp_path / "c18d.h5", DET, GUNS, 90, seed=5, chunk_size=18, layout="dense")
    dense = _datasets(tmp_path / "c18d.h5")
    assert dense["layout"] == "dense"
    assert_same_dataset(tmp_path / "c18d.h5", tmp_path / "dense.h5")
    np.testing.assert_array_equal(dense["cells"], _datasets(reference)["cells"])
    # digitised cells too (the readout of the detector's sections, visible-energy scale),
    # in both layouts
    digi = Digitizer(calibration="none")
    for layout in ("dense", "sparse"):
        ref = tmp_path / f"dref-{layout}.h5"
        out = tmp_path / f"d-{layout}.h5"
        simulate_to_file(ref, DET, GUNS, 30, seed=5, digitizer=digi, layout=layout)
        run_campaign(out, DET, GUNS, 30, seed=5, digitizer=digi, chunk_size=9, layout=layout)
        assert "digitized cells" in _datasets(out)
        assert_same_dataset(out, ref)
    np.testing.assert_array_equal(
        _datasets(tmp_path / "d-dense.h5")["digitized cells"],
        _datasets(tmp_path / "d-sparse.h5")["digitized cells"],
    )
    # each chunk is fixed by (seed, chunk index): chunk 3 alone equals events 21..27
    spec = CampaignSpec(DET, GUNS, 90, seed=5, chunk_size=7)
    a, b = spec.chunk_range(3)
    alone = simulate(DET, GUNS, b - a, seed=5, first_event=a)
    np.testing.assert_array_equal(
        alone.cells * np.float32(1000), _datasets(reference)["cells"][a:b]  # MeV on disk
    )


def test_one_and_two_workers_give_identical_arrays(tmp_path, reference, monkeypatch):
    one, two, dask = tmp_path / "w1.h5", tmp_path / "w2.h5", tmp_path / "d2.h5"
    # local pools (--workers): 2 forked workers, 1 spawned one (as on macOS or with PyTorch
    # loaded: it builds its simulator on its first chunk)
    run_campaign(two, DET, GUNS, 90, seed=5, chunk_size=10, workers=2, keep_chunks=True)
    with monkeypatch.context() as m:
        m.setattr(campaign, "fork_start_method", lambda: None)
        run_campaign(one, DET, GUNS, 90, seed=5, chunk_size=10, workers=1, keep_chunks=True)
    with dask_client(workers=2) as client:  # an "existing" Dask cluster, reached by its address
        address = client.scheduler.address
        run_campaign(dask, DET, GUNS, 90, seed=5, chunk_size=10, scheduler=address)
        assert len(client.scheduler_info()["workers"]) == 2
    assert_same_dataset(one, two)
    assert_same_dataset(two, reference)
    assert_same_dataset(dask, reference)
    # start-up is paid once per worker: forked workers inherit the driver's simulator, a
    # spawned one builds its own on its first chunk only (workers are spawned, not forked,
    # when PyTorch is loaded in this process, e.g. by other tests)
    forked = json.loads((tmp_path / "w2.h5.campaign" / "manifest.json").read_text())["chunks"]
    spawned = json.loads((tmp_path / "w1.h5.campaign" / "manifest.json").read_text())["chunks"]
    paid = sum(c["startup_cpu_seconds"] > 0 for c in forked.values())
    assert paid == 0 if campaign.fork_start_method() == "fork" else 1 <= paid <= 2
    assert sum(c["startup_cpu_seconds"] > 0 for c in spawned.values()) == 1
    assert spawned["0"]["startup_cpu_seconds"] > 0


def _manifest_chunks(path):
    try:
        return len(json.loads(path.read_text())["chunks"])
    except (OSError, ValueError, KeyError):
        return 0


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigkill_mid_campaign_then_resume_gives_the_uninterrupted_dataset(tmp_path):
    n, cs = 800, 40
    gun = ParticleGun("gamma", "10:20")
    out = tmp_path / "k.h5"
    manifest = tmp_path / "k.h5.campaign" / "manifest.json"
    args = ["simulate", DET, "--particle", "gamma", "--energy", "10:20", "-n", str(n)]
    args += ["--seed", "11", "--chunk-size", str(cs), "--workers", "2", "-o", str(out), "-q"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "calolab.cli.main", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its workers are in our process group: cleaned up below
    )
    try:
        deadline = time.monotonic() + 120
        while _manifest_chunks(manifest) < 2:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "campaign did not start"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # a crash: no cleanup of any kind in the driver
        proc.wait(30)
        # the workers notice that their driver is gone and exit by themselves, instead of
        # simulating on as orphans
        deadline = time.monotonic() + 30
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        orphans = _group_alive(proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()
        with pytest.raises(ProcessLookupError):  # ours and only ours: the group we started
            for _ in range(50):
                os.killpg(proc.pid, signal.SIGKILL)
                time.sleep(0.1)
    assert not orphans, "worker processes outlived their killed driver"
    done = _manifest_chunks(manifest)
    assert 2 <= done < n // cs, f"{done} chunks done: the kill did not happen mid-campaign"
    assert not out.exists()
    # without --resume an unfinished campaign is not overwritten
    with pytest.raises(ConfigError, match="unfinished campaign.*--resume"):
        run_campaign(out, DET, gun, n, seed=11, chunk_size=cs)
    # resume in this process (another worker count: the dataset does not depend on it)
    run_campaign(out, DET, gun, n, seed=11, chunk_size=cs, resume=True)
    reference = tmp_path / "ref.h5"
    simulate_to_file(reference, DET, gun, n, seed=11)
    assert_same_dataset(out, reference)  # no event missing, none duplicated
    # resuming a finished campaign is a no-op
    mtime = out.stat().st_mtime_ns
    run_campaign(out, DET, gun, n, seed=11, chunk_size=cs, resume=True)
    assert out.stat().st_mtime_ns == mtime


def _enospc(*a, **kw):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_keeps_earlier_chunks_and_resumes(tmp_path, monkeypatch, reference):
    out = tmp_path / "full.h5"
    work = tmp_path / "full.h5.campaign"
    append = ShowerWriter._append

    def disk_full_in_chunk_3(ds, data):  # the disk fills up while chunk 3 is being written
        if "chunk-000003" in ds.file.filename and ds.name in _CELLS:
            _enospc()
        append(ds, data)

    monkeypatch.setattr(ShowerWriter, "_append", staticmethod(disk_full_in_chunk_3))
    with pytest.raises(OutputError) as info:
        run_campaign(out, DET, GUNS, 90, seed=5, chunk_size=10)
    msg = str(info.value)
    assert "No space left on device" in msg and "--resume" in msg and "3 of 9 chunks" in msg
    monkeypatch.undo()
    assert not out.exists()
    files = sorted(p.name for p in work.iterdir())
    assert files == [".lock", "chunk-000000.h5", "chunk-000001.h5", "chunk-000002.h5"] + [
        "manifest.json"
    ]  # no partial file left behind
    for i in range(3):  # earlier chunks are intact, readable files
        assert len(read_showers(work / f"chunk-{i:06d}.h5")) == 10
    assert sorted(json.loads((work / "manifest.json").read_text())["chunks"]) == ["0", "1", "2"]
    # a different configuration is refused, with what differs
    with pytest.raises(ConfigError, match=r"configuration differs \(.*seed 5 → 6"):
        run_campaign(out, DET, GUNS, 90, seed=6, chunk_size=10, resume=True)
    with pytest.raises(ConfigError, match="chunk_size 10 → 30"):
        run_campaign(out, DET, GUNS, 90, seed=5, chunk_size=30, resume=True)
    run_campaign(out, DET, GUNS, 90, seed=5, chunk_size=10, resume=True)
    assert_same_dataset(out, reference)


def test_failures_while_merging_or_recording_are_resumable(tmp_path, monkeypatch, reference):
    import calolab.data.merge as merge
    import calolab.simulation.campaign as campaign

    out = tmp_path / "m.h5"
    append = merge._append

    def disk_full_merging_chunk_2(dst, src, *args):
        if "chunk-000002" in src.file.filename and src.name in _CELLS:
            _enospc()
        append(dst, src, *args)

    monkeypatch.setattr(merge, "_append", disk_full_merging_chunk_2)
    with pytest.raises(OutputError, match="No space left on device"):
        run_campaign(out, DET, GUNS, 90, seed=5, chunk_size=30)
    monkeypatch.undo()
    assert not out.exists() and not (tmp_path / "m.h5.partial").exists()
    # the manifest cannot be rewritten after chunk 1 is written: that chunk file is adopted
    out2 = tmp_path / "r.h5"
    write_json = campaign.write_manifest

    def full_after_chunk_0(path, data):
        if len(data["chunks"]) > 1:
            _enospc()
        write_json(path, data)

    monkeypatch.setattr(campaign, "write_manifest", full_after_chunk_0)
    with pytest.raises(OutputError, match="No space left"):
        run_campaign(out2, DET, GUNS, 90, seed=5, chunk_size=30)
    monkeypatch.undo()
    work = tmp_path / "r.h5.campaign"
    assert list(json.loads((work / "manifest.json").read_text())["chunks"]) == ["0"]
    assert (work / "chunk-000001.h5").exists()
    for path in (out, out2):
        run_campaign(path, DET, GUNS, 90, seed=5, chunk_size=30, resume=True)
        assert_same_dataset(path, reference)


def test_manifest_written_atomically(tmp_path, monkeypatch):
    import calolab.simulation.campaign as campaign

    path = tmp_path / "m.json"
    campaign.write_manifest(path, {"a": 1})
    monkeypatch.setattr(campaign.os, "fsync", _enospc)
    with pytest.raises(OutputError, match="No space left"):
        campaign.write_manifest(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1}  # the old content, whole
    assert os.listdir(tmp_path) == ["m.json"]  # no temporary file left


def test_damaged_chunks_are_redone_and_concurrent_runs_refused(tmp_path, reference):
    out = tmp_path / "d.h5"
    spec = CampaignSpec(DET, GUNS, 90, seed=5, chunk_size=30)
    camp = Campaign(out, spec, keep_chunks=True)
    run_campaign(out, DET, GUNS, 90, seed=5, chunk_size=30, keep_chunks=True)
    out.unlink()
    work = tmp_path / "d.h5.campaign"
    (work / "chunk-000001.h5").write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    (work / "chunk-000002.h5").unlink()
    with camp.locked(), pytest.raises(ConfigError, match="being run by another process"):
        run_campaign(out, DET, GUNS, 90, seed=5, chunk_size=30, resume=True)
    run_campaign(out, DET, GUNS, 90, seed=5, chunk_size=30, resume=True)
    assert_same_dataset(out, reference)
    work.mkdir()
    (work / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="damaged"):
        run_campaign(out, DET, GUNS, 90, seed=5, chunk_size=30, resume=True)


def test_bad_campaign_arguments(tmp_path):
    with pytest.raises(ConfigError, match="chunk_size 0"):
        run_campaign(tmp_path / "a.h5", DET, GUNS, 10, chunk_size=0)
    with pytest.raises(ConfigError, match="either workers"):
        run_campaign(tmp_path / "a.h5", DET, GUNS, 10, workers=2, scheduler="tcp://x:1")
    with pytest.raises(OutputError, match="does not exist"):
        run_campaign(tmp_path / "no" / "a.h5", DET, GUNS, 10)
    import dask

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(ConfigError, match="cannot connect to the Dask scheduler"),
    ):
        run_campaign(tmp_path / "a.h5", DET, GUNS, 10, scheduler="tcp://127.0.0.1:1")
