"""The command line, run as a user would (subprocess)."""

import json

import numpy as np
import pytest

from calolab.data import Showers


def test_detector_commands(cli, tmp_path):
    out = cli("detector", "list", check=True).stdout
    for name in ("muon_block", "course_pbwo4", "course_pbscint", "course_triple", "endcap_photon"):
        assert name in out
    # the course's tracker counted materials only (47,156 CHF for v4_2, within 50,000 CHF);
    # its 26,050 SiPM channels at 5 CHF put it over the budget, and the table says so
    # a violated constraint is exit status 1 (scripts can test it), within budget is 0
    p = cli("detector", "show", "course_triple", "--budget", "50000")
    assert p.returncode == 1, p.stderr
    show = p.stdout
    assert "materials 47,156" in show and "exceeds the budget" in show
    assert "readout" in show and "sipm" in show
    within = cli("detector", "show", "course_triple", "--budget", "200000", check=True).stdout
    assert "within budget" in within
    over = cli("detector", "show", "course_pbwo4", "--budget", "50000")
    assert over.returncode == 1 and "exceeds the budget" in over.stdout
    js = cli("detector", "show", "course_pbwo4", "--budget", "50000", "--json")
    assert js.returncode == 1 and json.loads(js.stdout)["constraint_violations"]
    # piped output is not cut to 80 columns: every table row stays on one line
    layers = cli("detector", "show", "course_pbscint", "--layers", check=True).stdout
    assert max(len(line) for line in layers.splitlines()) > 80
    assert "…" not in layers
    js = json.loads(cli("detector", "show", "muon_block", "--json", check=True).stdout)
    assert js["channels"] == 51200 and abs(js["depth_cm"] - 199.136) < 1e-9
    cli("detector", "export", "course_pbscint", "-o", str(tmp_path / "d.toml"), check=True)
    again = json.loads(
        cli("detector", "show", str(tmp_path / "d.toml"), "--json", check=True).stdout
    )
    assert again["material_cost_chf"] == pytest.approx(2317, abs=5)
    assert again["total_cost_chf"] == pytest.approx(2317 + 26_400 * 5.0, abs=5)
    assert again["sections"][0]["readout"]["technology"] == "sipm"
    # JSON export: the same detector, read back by every command
    cli("detector", "export", "course_pbscint", "-o", str(tmp_path / "d.json"), check=True)
    as_json = json.loads((tmp_path / "d.json").read_text())
    assert as_json["name"] == "course_pbscint" and len(as_json["sections"]) == 4
    back = json.loads(
        cli("detector", "show", str(tmp_path / "d.json"), "--json", check=True).stdout
    )
    assert back == again
    bad = cli("detector", "export", "course_pbscint", "-o", str(tmp_path / "d.txt"))
    assert bad.returncode == 2 and "'.txt'" in bad.stderr and not (tmp_path / "d.txt").exists()


def test_simulate_and_info(cli, tmp_path):
    out = tmp_path / "g.h5"
    r = cli(
        "simulate",
        "course_pbscint",
        "--particle",
        "gamma",
        "--energy",
        "10:100",
        "--events",
        "20",
        "--seed",
        "3",
        "--output",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    s = Showers.load(out)
    assert len(s) == 20 and np.all((s.energy >= 10) & (s.energy <= 100))
    assert s.provenance["config"]["seed"] == 3
    info = json.loads(cli("info", "--json", str(out), check=True).stdout)
    assert info["events"] == 20 and info["particles"] == {"gamma": 20}
    layers = info["layers"]
    assert len(layers) == 156 and layers[0]["section"] == "ecal" and layers[0]["nx"] == 20
    assert {
        "section",
        "material",
        "thickness_cm",
        "depth_x0_start",
        "depth_x0_end",
        "nx",
        "ny",
        "cell_size_cm",
    } <= set(layers[0])
    assert "events" in cli("info", str(out), check=True).stdout
    # 26,400 cells, a few % lit: the sparse layout (auto); --layout dense gives the
    # CaloChallenge dataset with the same cells
    assert info["layout"] == "sparse" and "sparse" in cli("info", str(out), check=True).stdout
    dense = tmp_path / "d.h5"
    args = ["simulate", "course_pbscint", "--energy", "10:100", "-n", "20", "--seed", "3", "-q"]
    cli(*args, "--layout", "dense", "-o", str(dense), check=True)
    assert json.loads(cli("info", "--json", str(dense), check=True).stdout)["layout"] == "dense"
    np.testing.assert_array_equal(Showers.load(dense).cells, s.cells)
    r = cli(*args, "--layout", "csr", "-o", str(tmp_path / "x.h5"))
    assert r.returncode == 2 and "invalid choice: 'csr'" in r.stderr


def test_mixed_particles(cli, tmp_path):
    out = tmp_path / "m.h5"
    cli(
        "simulate",
        "endcap_photon",
        "--particle",
        "gamma,pi0",
        "--energy",
        "50",
        "-n",
        "10",
        "-o",
        str(out),
        "-q",
        check=True,
    )
    assert sorted(Showers.load(out).pdg.tolist()) == [22] * 5 + [111] * 5


@pytest.mark.parametrize(
    "args,message",
    [
        (["--particle", "graviton"], "unknown particle 'graviton'"),
        (["--energy", "-5"], "energy -5 must be > 0"),
        (["--energy", "10:5"], "lo < hi"),
        (["--events", "0"], "--events 0 must be >= 1"),
    ],
)
def test_bad_input_one_line_exit_2_no_file(cli, tmp_path, args, message):
    out = tmp_path / "bad.h5"
    base = ["simulate", "course_pbwo4", "-n", "2", "-o", str(out), "-q"]
    r = cli(*base, *args)
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert not out.exists() and not (tmp_path / "bad.h5.partial").exists()


def test_bad_detector_file_and_unwritable_output(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\n[[sections]\n")
    r = cli("simulate", str(bad), "-n", "2", "-o", str(tmp_path / "o.h5"), "-q")
    assert (
        r.returncode == 2
        and "malformed TOML" in r.stderr
        and len(r.stderr.strip().splitlines()) == 1
    )
    r = cli("simulate", "course_pbwo4", "-n", "2", "-o", str(tmp_path / "missing" / "o.h5"), "-q")
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = cli("detector", "show", "no_such_detector")
    assert r.returncode == 2 and "unknown detector preset" in r.stderr


def test_simulate_digitises_with_the_detector_readout(cli, tmp_path):
    out = tmp_path / "d.h5"
    r = cli(
        "simulate", "course_pbscint", "--particle", "e-", "--energy", "20", "-n", "8", "-o", out
    )
    assert r.returncode == 0, r.stderr
    assert "digitised (em scale)" in r.stdout and "sipm, 15 pe/MIP" in r.stdout
    s = Showers.load(out)
    assert s.digitized is not None
    assert s.provenance["config"]["digitizer"]["sections"]["ecal"]["readout"]["technology"] == (
        "sipm"
    )
    assert abs(s.total(digitized=True).mean() / 20.0 - 1) < 0.05  # EM scale
    plain = tmp_path / "p.h5"
    cli("simulate", "course_pbscint", "-n", "3", "-o", plain, "--no-digitize", "-q", check=True)
    assert Showers.load(plain).digitized is None
    # the GeV options of calolab 0.2: one line naming their replacements, no file
    r = cli("simulate", "course_pbscint", "-n", "3", "-o", tmp_path / "x.h5", "--noise", "0.01")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "--noise" in r.stderr and "noise_mip" in r.stderr and "[sections.readout]" in r.stderr
    assert not (tmp_path / "x.h5").exists()


def test_low_threshold_is_warned_about(cli, tmp_path):
    det = tmp_path / "low.toml"
    det.write_text(
        'name = "low"\ntransverse_size_cm = 20.0\n[[sections]]\nname = "ecal"\n'
        "cell_size_cm = 1.0\nrepeat = 10\n"
        'layers = [{ material = "W", thickness_cm = 0.35 }, '
        '{ material = "Si", thickness_cm = 0.03, sensitive = true }]\n'
        '[sections.readout]\ntechnology = "silicon"\nnoise_mip = 0.1\nthreshold_sigma = 1.0\n'
    )
    r = cli("simulate", det, "--particle", "e-", "-n", "2", "-o", tmp_path / "l.h5", "-q")
    assert r.returncode == 0, r.stderr
    assert "1σ is below 3σ" in r.stderr and "635 of 4,000 channels" in r.stderr
    shown = cli("detector", "show", det, check=True).stdout
    assert "below 3σ" in shown
