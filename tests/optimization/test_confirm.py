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
        assert c["cost_chf"] <= ref["cost_chf"]
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
