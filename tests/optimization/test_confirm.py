"""Confirmation of a front with more statistics, resumable."""

from __future__ import annotations

import json
import math
import shutil

from calolab.optimization import confirm_study, load_study


def test_confirm_measures_front_and_references_again_and_resumes(tiny_study, tmp_path):
    d = tmp_path / "s"
    shutil.copytree(tiny_study, d)
    results = load_study(d)
    front = {t.number for t in results.front()}
    seen = []
    r = confirm_study(d, events=80, progress=lambda done, total: seen.append((done, total)))
    numbers = {x.trial for x in r.designs}
    assert front <= numbers and 0 in numbers  # the front and the reference (trial 0)
    assert seen[-1][0] == seen[-1][1] == len(numbers)
    assert r.showers == len(numbers) * 2 * 80
    data = json.loads((d / "confirm.json").read_text())
    assert data["events_search"] == 40 and data["events_confirm"] == 80
    for x in data["designs"]:
        for name, v in x["confirm"].items():
            s = x["search"][name]
            if s["error"] > 0:
                # an independent sample (the confirmation's own seeds): another value
                assert v["value"] != s["value"] and v["error"] > 0, name
                assert math.isfinite(x["pull"][name])
            else:  # exact quantities (cost, length): no pull, written as null
                assert x["pull"][name] is None and v["value"] == s["value"]
    ref = next(c for c in data["comparisons"] if c["reference"] == "thin")
    for c in ref["candidates"]:
        assert c["cost"] <= ref["cost"]
        assert c["beats_confirmed"] == all(
            v["design"] < v["reference"] for v in c["objectives"].values()
        )
    # a second run finds every design already confirmed: nothing is simulated again
    again = confirm_study(d, events=80)
    assert again.showers == 0
    assert [x.confirm for x in again.designs] == [x.confirm for x in r.designs]


def test_confirm_only_the_designs_that_beat_a_reference(tiny_study, tmp_path):
    d = tmp_path / "s"
    shutil.copytree(tiny_study, d)
    results = load_study(d)
    refs = results.references()
    beating = {t.number for t in results.front() if any(results.beats(t, r) for r in refs)}
    r = confirm_study(d, events=60, designs="beating")
    assert {x.trial for x in r.designs} == beating | {t.number for t in refs}


def test_confirm_says_whether_the_ranking_holds_and_which_designs_disagree(
    tiny_study, tmp_path, monkeypatch
):
    import calolab.optimization.confirm as confirm_mod

    d = tmp_path / "s"
    shutil.copytree(tiny_study, d)
    r = confirm_study(d, events=80, seed=11)  # fresh seeds: another stream than the default
    data = json.loads((d / "confirm.json").read_text())
    assert data["seed"] == 11 and data["pull_limit"] == 3.0
    results = load_study(d)
    perf = [o.name for o in results.performance_objectives]
    assert set(data["ranking"]) == set(perf)
    for name, rk in data["ranking"].items():
        # the order is reversed only where the confirmation says so beyond 2 sigma
        values = {x.trial: (x.search[name].value, x.confirm[name]) for x in r.designs}
        for pair in rk["reversed_pairs"]:
            a, b = values[pair["better_in_search"]], values[pair["better_confirmed"]]
            assert a[0] < b[0] and a[1].value - b[1].value > 2 * math.hypot(a[1].error, b[1].error)
        assert rk["holds"] == (not rk["reversed_pairs"])
        best = min(r.designs, key=lambda x: x.confirm[name].value)
        assert rk["best_confirmed"] == best.trial
    assert data["ranking_holds"] == all(rk["holds"] for rk in data["ranking"].values())
    for x, entry in zip(r.designs, data["designs"]):
        pulls = [abs(x.pull(n)) for n in perf if math.isfinite(x.pull(n))]
        if any(p > 3 for p in pulls):
            assert not entry["agrees"]
        if entry["agrees"]:
            assert entry["disagreements"] == []
    # with a pull limit of 0 every design disagrees, and says on what
    monkeypatch.setattr(confirm_mod, "PULL_LIMIT", 0.0)
    strict = confirm_study(d, events=80, seed=11)
    assert strict.showers == 0  # cached: the same showers
    assert all(any("pull" in w for w in strict.disagreements[x.trial]) for x in strict.designs)


def test_confirm_the_best_designs(tiny_study, tmp_path):
    from calolab.optimization.confirm import best_designs

    d = tmp_path / "s"
    shutil.copytree(tiny_study, d)
    results = load_study(d)
    front = results.front()
    best = best_designs(results)
    o = results.performance_objectives[0]
    assert min(front, key=lambda t: t.value(o.name)) in best
    assert min(front, key=results.cost) in best
    r = confirm_study(d, events=60, designs="best")
    expected = {t.number for t in best} | {t.number for t in results.references()}
    assert {x.trial for x in r.designs} == expected


def test_confirm_chosen_trials_and_refuse_what_is_not_a_measured_design(tiny_study, tmp_path):
    import pytest

    from calolab.core.errors import ConfigError

    d = tmp_path / "s"
    shutil.copytree(tiny_study, d)
    results = load_study(d)
    refs = {t.number for t in results.references()}
    measured = [t for t in results.complete if t.feasible and t.number not in refs]
    pick = sorted(t.number for t in measured)[-2:]
    r = confirm_study(d, events=60, designs=f"{pick[1]}, {pick[0]},{pick[1]}")
    assert {x.trial for x in r.designs} == set(pick) | refs
    with pytest.raises(ConfigError, match="neither one of front, beating, best"):
        confirm_study(d, events=60, designs="bets")
    with pytest.raises(ConfigError, match="trial 9999 is not a measured, feasible design"):
        confirm_study(d, events=60, designs="9999")
    infeasible = [t.number for t in results.trials if t.state == "infeasible"]
    if infeasible:
        with pytest.raises(ConfigError, match=f"trial {infeasible[0]} is not a measured"):
            confirm_study(d, events=60, designs=str(infeasible[0]))
