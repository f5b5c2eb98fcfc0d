"""``calolab optimize`` from the command line, as a user would run it."""

from __future__ import annotations

import json

import pytest

from tests.optimization.tiny import TINY_SPACE, write_space


def test_spaces_list_and_show(cli):
    out = cli("optimize", "spaces", check=True).stdout
    for name in ("course", "endcap", "muon-block"):
        assert name in out
    js = json.loads(cli("optimize", "spaces", "course", "--json", check=True).stdout)
    assert js["references"] == ["course_pbwo4", "course_pbscint", "course_triple"]
    assert {
        "name": "ecal.absorber.thickness_cm",
        "kind": "float",
        "values": "[0.05, 0.6] cm log",
    } in (js["parameters"])
    assert "resolution_pi+_50GeV" in js["objectives"] and "material_cost_chf" in js["objectives"]
    assert js["constraints"].startswith("materials budget 50,000 CHF")
    assert js["energies"] == "digitized"
    shown = cli("optimize", "spaces", "course", check=True).stdout
    assert "materials budget 50,000 CHF" in shown and "digitised energies" in shown


def test_run_show_confirm_and_simulate_a_front_design(cli, tmp_path):
    space = write_space(tmp_path)
    out = tmp_path / "study"
    r = cli(
        "optimize",
        "run",
        str(space),
        "--trials",
        "3",
        "--events",
        "30",
        "--seed",
        "1",
        "--output",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    assert "Pareto front of 'tiny'" in r.stdout and "pareto.json" in r.stdout
    shown = cli("optimize", "show", str(out), check=True).stdout
    assert "3 complete" in shown and "thin" in shown
    pareto = json.loads((out / "pareto.json").read_text())
    design = out / pareto["front"][0]["design"]
    sim = cli(
        "simulate",
        str(design),
        "--particle",
        "e-",
        "--energy",
        "5",
        "--events",
        "5",
        "--output",
        str(tmp_path / "d.h5"),
    )
    assert sim.returncode == 0, sim.stderr
    c = cli("optimize", "confirm", str(out), "--events", "60")
    assert c.returncode == 0, c.stderr
    assert "search (30 showers/point) vs confirmation (60" in c.stdout
    assert (out / "confirm.json").exists()
    rep = cli("report", str(out), "-o", str(tmp_path / "r.html"))
    assert rep.returncode == 0 and "optimization" in rep.stdout


BAD_SPACES = {
    "wrong key": (
        "max_length_cm = 30.0",
        "max_length_cm = 30.0\nbudjet_chf = 3",
        "unknown key(s) budjet_chf",
    ),
    "reversed range": ("[0.2, 0.8]", "[0.8, 0.2]", "is reversed; write [0.2, 0.8]"),
    "unknown material": ('"W"]', '"Wolfram"]', "unknown material 'Wolfram'"),
    "no feasible design": ("budget_chf = 800.0", "budget_chf = 1.0", "the cheapest design ("),
}


@pytest.mark.parametrize("case", list(BAD_SPACES))
def test_bad_space_is_one_line_exit_2_and_nothing_written(cli, tmp_path, case):
    old, new, message = BAD_SPACES[case]
    assert old in TINY_SPACE
    bad = write_space(tmp_path, TINY_SPACE.replace(old, new, 1), "bad.toml")
    out = tmp_path / "study"
    r = cli("optimize", "run", str(bad), "--trials", "2", "--events", "20", "-o", str(out))
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "bad.toml" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not out.exists()  # validated before anything is written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]
    if case == "no feasible design":
        assert "the shortest design (" in r.stderr
    r = cli("optimize", "spaces", str(bad))
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--trials", "0"], "--trials 0 must be >= 1"),
        (["--workers", "0"], "--workers 0 must be >= 1"),
        (["--method", "annealing"], "invalid choice: 'annealing'"),
    ],
)
def test_bad_options_are_one_line_with_exit_code_2(cli, tmp_path, extra, message):
    out = tmp_path / "z"
    args = ["optimize", "run", "course", "--trials", "2", "--events", "20", "-o", str(out)]
    r = cli(*args, *extra)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()
    r = cli("optimize", "confirm", str(tmp_path), "--events", "20")
    assert r.returncode == 2 and "not a calolab study directory" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_gradcheck_cli(cli, tmp_path):
    """``calolab optimize gradcheck``: JSON per parameter; a space without continuous
    parameters gives an empty table and says why; bad options are one line, exit 2."""
    r = cli("optimize", "gradcheck", "muon-block", "--json", check=True)
    assert json.loads(r.stdout) == {} and "nothing to differentiate" in r.stderr
    space = write_space(tmp_path)
    at = tmp_path / "at.json"
    at.write_text(
        json.dumps(
            {
                "ecal.repeat": 8,
                "ecal.cell_size_cm": 5.0,
                "ecal.absorber.material": "Pb",
                "ecal.absorber.thickness_cm": 0.4,
            }
        )
    )
    report = tmp_path / "gc.json"
    r = cli(
        "optimize", "gradcheck", str(space), "--at", str(at), "--events", "40", "--repeats", "2",
        "--max-events", "40", "--quantity", "response", "--parameter", "ecal.repeat", "--json",
        "-o", str(report), check=True,
    )  # fmt: skip
    table = json.loads(r.stdout)
    assert list(table) == ["ecal.repeat"]
    row = table["ecal.repeat"]
    assert {"autodiff", "finite_difference", "fd_error", "agrees"} <= set(row)
    assert row["events"] == 40 and row["repeats"] == 2 and row["unit"] == "per period"
    full = json.loads(report.read_text())
    assert full["point"]["ecal.repeat"] == 8 and "ecal.cell_size_cm" in full["held"]
    r = cli("optimize", "gradcheck", str(space), "--at", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    at.write_text(json.dumps({"ecal.repeat": 99}))
    r = cli("optimize", "gradcheck", str(space), "--at", str(at))
    assert r.returncode == 2 and "ecal.repeat = 99 is outside" in r.stderr
    r = cli("optimize", "gradcheck", "course", "--repeats", "1")
    assert r.returncode == 2 and "--repeats 1 must be >= 2" in r.stderr


def test_run_method_gradient_cli(cli, tmp_path):
    space = write_space(tmp_path)
    out = tmp_path / "study"
    cli(
        "optimize", "run", str(space), "--method", "gradient", "--trials", "3", "--events", "12",
        "--gradient-steps", "1", "--step-events", "6", "-o", str(out), "--quiet", check=True,
    )  # fmt: skip
    info = json.loads((out / "study.json").read_text())
    assert info["method"] == "gradient"
    assert info["method_options"] == {"steps_per_trial": 1, "step_events": 6}
    assert len((out / "trials.csv").read_text().splitlines()) == 4  # header + 3 trials
    r = cli(
        "optimize", "run", str(space), "--method", "tpe", "--trials", "2", "--events", "12",
        "--gradient-steps", "2", "-o", str(tmp_path / "x"),
    )  # fmt: skip
    assert r.returncode == 2 and "--gradient-steps apply to --method gradient only" in r.stderr
    import torch

    if not torch.cuda.is_available():
        r = cli(
            "optimize", "run", str(space), "--method", "gradient", "--trials", "2", "--events",
            "12", "--device", "cuda", "-o", str(tmp_path / "y"),
        )  # fmt: skip
        assert r.returncode == 2 and "no CUDA device" in r.stderr
        assert not (tmp_path / "y").exists()
