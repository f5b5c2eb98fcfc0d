"""The study: ask-and-tell with Optuna, infeasible designs skipped, resumable, on Dask."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from calolab.core.errors import CalolabError, ConfigError, OutputError
from calolab.geometry import load_detector
from calolab.optimization import (
    METHODS,
    Method,
    design_key,
    load_study,
    loads_space,
    measure,
    method_names,
    register_method,
    run_study,
)
from tests.optimization.tiny import TINY_SPACE, write_space


def _states(directory) -> list[tuple[int, str]]:
    with sqlite3.connect(directory / "study.db") as con:
        return list(con.execute("select number, state from trials order by number"))


def test_a_study_writes_its_results(tiny_study):
    d = tiny_study
    info = json.loads((d / "study.json").read_text())
    assert info["format"] == "calolab-study" and info["events"] == 40 and info["seed"] == 2
    assert info["sessions"][0]["trials_measured"] >= 4 and info["sessions"][0]["wall_seconds"] > 0
    assert (d / "space.toml").read_text().strip().startswith('name = "tiny"')
    results = load_study(d)
    complete = [t for t in results.trials if t.state == "complete"]
    assert len(complete) == 9
    # the reference is measured first; infeasible proposals were not measured
    assert results.trials[0].reference == "thin" and results.trials[0].state == "complete"
    for t in results.trials:
        if t.state == "infeasible":
            assert t.violations and not t.values and t.showers == 0
        if t.state == "complete" and t.duplicate_of is None:
            assert t.showers == 2 * 40 and t.design_key
            assert set(t.timings) == {"simulation", "calibration", "fit", "cpu"}
    pareto = json.loads((d / "pareto.json").read_text())
    assert [o["name"] for o in pareto["objectives"]] == [
        "resolution_e-_5GeV",
        "resolution_e-_20GeV",
        "cost_chf",
    ]
    assert pareto["front"], "a study with measured designs has a front"
    for e in pareto["front"]:
        assert {"trial", "params", "objectives", "cost_chf", "length_cm", "design"} <= set(e)
        assert set(e["objectives"]["resolution_e-_5GeV"]) == {"value", "error"}
        det = load_detector(d / e["design"])  # a detector file calolab simulate takes
        t = results.trials[e["trial"]]
        assert design_key(det) == t.design_key
        assert det.cost_chf == pytest.approx(e["cost_chf"]) and e["cost_chf"] <= 800.0
    with open(d / "trials.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(results.trials)
    assert {
        "trial",
        "state",
        "ecal.repeat",
        "resolution_e-_5GeV",
        "resolution_e-_5GeV_err",
        "design.cost_chf",
        "t_simulation",
        "why",
    } <= set(rows[0])


def test_front_is_the_non_dominated_set(tiny_study):
    results = load_study(tiny_study)
    names = [o.name for o in results.objectives]
    front = {t.number for t in results.front()}
    feasible = [t for t in results.complete if t.feasible and t.duplicate_of is None]
    for t in feasible:
        dominated = any(
            all(o.value(n) <= t.value(n) for n in names)
            and any(o.value(n) < t.value(n) for n in names)
            for o in feasible
        )
        assert (t.number in front) == (not dominated)


def test_a_trial_reproduces_its_numbers_outside_the_study(tiny_study):
    results = load_study(tiny_study)
    t = next(t for t in results.complete if t.duplicate_of is None and t.reference is None)
    again = measure(
        results.design(t),
        results.space.measurement,
        results.space.all_objectives,
        events=40,
        seed=2,
    )
    for name, v in t.values.items():
        assert again.values[name] == v, name


def test_existing_directories_are_refused(tmp_path, tiny_study):
    space = loads_space(TINY_SPACE, "tiny")
    with pytest.raises(OutputError, match="already holds a study.*--resume"):
        run_study(space, tiny_study, trials=9, events=40, seed=2)
    other = tmp_path / "busy"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not empty"):
        run_study(space, other, trials=2, events=40)
    with pytest.raises(ConfigError, match="either --workers"):
        run_study(space, tmp_path / "x", trials=2, events=40, workers=2, scheduler="tcp://a:1")
    with pytest.raises(ConfigError, match="--trials is required"):
        run_study(space, tmp_path / "y", events=40)


def test_resume_with_another_space_lists_the_differences(tmp_path, tiny_study):
    changed = loads_space(TINY_SPACE.replace("budget_chf = 800.0", "budget_chf = 900.0"), "t")
    with pytest.raises(ConfigError) as e:
        run_study(changed, tiny_study, trials=9, events=40, seed=2, resume=True)
    msg = str(e.value)
    assert "made with another space or settings" in msg
    assert "space.constraints.budget_chf: 800.0 -> 900.0" in msg
    with pytest.raises(ConfigError, match="events: 40 -> 50"):
        run_study(
            loads_space(TINY_SPACE, "t"), tiny_study, trials=9, events=50, seed=2, resume=True
        )


def _trials(directory) -> list[tuple]:
    """(number, state, parameters, measured values) of every trial, from the database."""
    results = load_study(directory)
    return [
        (t.number, t.state, t.params, {k: (v.value, v.error) for k, v in t.values.items()})
        for t in results.trials
    ]


#: Trials of the kill test: eight chances to find one running after the first two complete.
KILL_TRIALS = 10


@pytest.mark.slow
def test_resume_after_kill_minus_9_loses_and_duplicates_nothing(tmp_path):
    """SIGKILL in the middle of a trial, then --resume: no trial lost, none counted twice, and
    the study equals the same-seed study that was never interrupted — same trials, same
    states, same parameters, same numbers (the sampler is reseeded from the seed and the
    trial number before every proposal, and each design's showers come from the seed and
    the design)."""
    space_file = write_space(tmp_path)
    out = tmp_path / "study"
    cmd = [
        sys.executable,
        "-m",
        "calolab.cli.main",
        "optimize",
        "run",
        str(space_file),
        "--trials",
        str(KILL_TRIALS),
        "--events",
        "40",
        "--seed",
        "4",
        "--output",
        str(out),
        "--quiet",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            # a trial of 40 showers takes a few tenths of a second: poll often enough to see
            # one running (a faster simulation once let the whole study finish between polls)
            time.sleep(0.02)
            if (out / "study.db").exists():
                try:
                    states = _states(out)
                except sqlite3.Error:
                    continue
                complete = sum(s == "COMPLETE" for _, s in states)
                if complete >= 2 and any(s == "RUNNING" for _, s in states) and _drawn(out):
                    break
            assert proc.poll() is None, proc.stderr.read().decode()
        else:
            pytest.fail("the study did not reach 2 trials in 300 s")
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    before = _states(out)
    interrupted = [n for n, s in before if s == "RUNNING"]
    assert interrupted, "killed while a trial was running"
    refused = subprocess.run(cmd, capture_output=True, text=True)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    after = _states(out)
    assert [n for n, _ in after] == list(range(len(after)))  # numbers unique and contiguous
    assert not any(s == "RUNNING" for _, s in after)
    assert sum(s == "COMPLETE" for _, s in after) == KILL_TRIALS  # not one less, not one more
    assert not any(s == "FAIL" for _, s in after)
    for n in interrupted:  # re-measured under its own number
        assert dict(after)[n] in ("COMPLETE", "PRUNED")
    for n, s in before:  # what was finished stays as it was
        if s != "RUNNING":
            assert dict(after)[n] == s
    info = json.loads((out / "study.json").read_text())
    assert len(info["sessions"]) == 2 and info["sessions"][1]["resumed"]
    results = load_study(out)
    keys = [t.design_key for t in results.complete if t.duplicate_of is None]
    assert len(keys) == len(set(keys))
    # the uninterrupted study with the same seed: identical
    run_study(
        loads_space(TINY_SPACE, "tiny"), tmp_path / "whole", trials=KILL_TRIALS, events=40, seed=4
    )
    assert _trials(out) == _trials(tmp_path / "whole")


def _drawn(directory) -> bool:
    """Whether every RUNNING trial has all its parameters (the kill lands in a measurement,
    not in the milliseconds of drawing: see docs/optimization.md, Resuming)."""
    with sqlite3.connect(directory / "study.db") as con:
        rows = list(
            con.execute(
                "select t.trial_id, count(p.param_id) from trials t left join trial_params p "
                "on p.trial_id = t.trial_id where t.state = 'RUNNING' group by t.trial_id"
            )
        )
    return all(n == 4 for _, n in rows)


def test_grid_measures_every_point_once(tmp_path):
    text = (
        TINY_SPACE.replace("range = [4, 16]", "range = [4, 12], step = 8")
        .replace("range = [0.2, 0.8]", "range = [0.2, 0.4], step = 0.2")
        .replace("choices = [2.5, 5.0]", "choices = [5.0]")
        .replace('"ecal.repeat" = 8', '"ecal.repeat" = 4')
    )
    space = loads_space(text, "grid")
    assert space.grid_size() == 2 * 1 * 2 * 2
    run = run_study(space, tmp_path / "g", events=20, method="grid")
    results = load_study(tmp_path / "g")
    measured = {
        (
            t.params["ecal.repeat"],
            t.params["ecal.absorber.material"],
            t.params["ecal.absorber.thickness_cm"],
        )
        for t in results.trials
        if t.state in ("complete", "infeasible") and t.reference is None
    }
    assert len(measured) == 8  # the whole grid, feasible or not
    assert run.trials == 8 + 1  # and the reference
    assert sum(t.duplicate_of is not None for t in results.complete) == 1  # the reference again


@pytest.mark.parametrize("method", ["tpe", "gp", "random"])
def test_other_samplers_run(tmp_path, method):
    run = run_study(
        loads_space(TINY_SPACE, "t"), tmp_path / method, trials=3, events=20, method=method, seed=1
    )
    assert run.measured == 3
    assert json.loads((tmp_path / method / "study.json").read_text())["method"] == method


def test_methods_are_a_registry_a_driver_plugs_into(tmp_path):
    """A method registered by another package (here a driver that walks the ECAL depth, as a
    gradient method would walk its parameters) runs through run_study: its designs are
    trials of the study — infeasible ones refused without simulation, the references
    measured first, the results written as for any method."""
    assert {"nsga2", "tpe", "gp", "random", "grid"} <= set(method_names())
    with pytest.raises(ConfigError, match="'annealing' is not a search method; choose one of"):
        run_study(
            loads_space(TINY_SPACE, "t"), tmp_path / "x", trials=2, events=20, method="annealing"
        )
    seen = []

    def walk(ctx):
        start = dict(ctx.space.references["thin"])
        # 16 layers of 2.5 cm cells: 256 channels, 1,280 CHF of readout: over the budget
        assert ctx.evaluate({**start, "ecal.repeat": 16, "ecal.cell_size_cm": 2.5}) is None
        for repeat in (4, 6, 10, 12):
            if ctx.remaining <= 0:
                break
            m = ctx.evaluate({**start, "ecal.repeat": repeat}, {"step": repeat})
            seen.append((repeat, None if m is None else m.values["resolution_e-_5GeV"].value))

    register_method(Method("walk", "a test driver", driver=walk))
    try:
        with pytest.raises(ConfigError, match="already registered"):
            register_method(Method("walk", "again", driver=walk))
        run = run_study(
            loads_space(TINY_SPACE, "t"), tmp_path / "w", trials=4, events=20, method="walk", seed=3
        )
    finally:
        METHODS.pop("walk")
    assert run.measured == 4
    results = load_study(tmp_path / "w")
    assert results.trials[0].reference == "thin"  # the reference first
    assert results.trials[1].state == "infeasible"  # not simulated, not counted
    assert [t.params["ecal.repeat"] for t in results.trials[2:]] == [4, 6, 10]
    assert [r for r, _ in seen] == [4, 6, 10] and all(v > 0 for _, v in seen)
    assert (tmp_path / "w" / "pareto.json").exists()
    with pytest.raises(ConfigError, match="exactly one of sampler and driver"):
        Method("both", "x")


@pytest.mark.slow
def test_dask_workers_give_the_numbers_of_one_process(tmp_path, tiny_study):
    """Two worker processes: trials in parallel, each design's numbers identical to a
    measurement in this process (the seeds come from the study seed and the design)."""
    out = tmp_path / "dask"
    run = run_study(loads_space(TINY_SPACE, "tiny"), out, trials=4, events=40, seed=2, workers=2)
    assert run.measured == 4
    results = load_study(out)
    ref = load_study(tiny_study)
    # the reference design is trial 0 of both studies: same seed, same numbers
    assert results.trials[0].values == ref.trials[0].values


def test_designs_that_cannot_measure_fail_and_a_run_of_failures_stops(tmp_path):
    # 20 cm of W (57 X0) in front of the stack: electrons never reach a sensitive layer
    text = (
        TINY_SPACE.replace(
            '[[sections]]\nname = "ecal"',
            '[[sections]]\nname = "wall"\ncell_size_cm = 10.0\nlayers = [{ material = "W", '
            'thickness_cm = 20.0 }]\n\n[[sections]]\nname = "ecal"',
        )
        .replace("max_length_cm = 30.0", "max_length_cm = 60.0")
        .replace("budget_chf = 800.0", "budget_chf = 5000.0")
    )
    space = loads_space(text, "walled")
    with pytest.raises(CalolabError, match="5 trials in a row failed.*no visible energy"):
        run_study(space, tmp_path / "w", trials=8, events=20)
    results = load_study(tmp_path / "w")
    failed = [t for t in results.trials if t.state == "failed"]
    assert len(failed) == 5 and all("no visible energy" in t.error for t in failed)
    # the failures are kept: the study resumes (and fails again, as it should)
    with pytest.raises(CalolabError, match="in a row failed"):
        run_study(space, tmp_path / "w", trials=12, events=20, resume=True)
