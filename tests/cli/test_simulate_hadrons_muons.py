"""``calolab simulate`` with muons and hadrons, as a user runs it."""

import numpy as np

from calolab.data.hdf5 import read_showers


def test_muons_from_the_cli_with_progress_bar(cli, tmp_path):
    out = tmp_path / "mu.h5"
    proc = cli(
        "simulate",
        "muon_block",
        "--particle",
        "mu-",
        "--energy",
        "log:50:8000",
        "--events",
        "12",
        "--batch-size",
        "5",
        "--output",
        str(out),
        check=True,
    )
    text = proc.stdout + proc.stderr
    assert "12/12" in text  # the progress bar reached the end
    s = read_showers(out)
    assert len(s) == 12
    assert np.all((s.energy >= 50) & (s.energy <= 8000))
    assert np.all(s.extras["muon_exit_energy"] > 0)
    rec = s.records["radiative_losses"]
    assert rec.offsets[-1] == len(rec.columns["energy"]) > 0


def test_pions_from_the_cli(cli, tmp_path):
    out = tmp_path / "pi.h5"
    cli(
        "simulate",
        "course_pbwo4",
        "--particle",
        "pi+",
        "--energy",
        "50",
        "-n",
        "4",
        "-o",
        str(out),
        check=True,
    )
    s = read_showers(out)
    t = s.truth
    np.testing.assert_allclose(t["deposited"] + t["leaked"] + t["invisible"], 50.0, atol=1e-6)
    assert np.all(t["invisible"] > 0)


def test_muon_energy_beyond_the_tables_is_a_one_line_error(cli, tmp_path):
    out = tmp_path / "bad.h5"
    proc = cli(
        "simulate", "muon_block", "--particle", "mu+", "--energy", "1e6", "-n", "2", "-o", str(out)
    )
    assert proc.returncode == 2
    assert "muon energy" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()
