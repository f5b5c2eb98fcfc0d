"""``calolab simulate --dead-...`` and ``calolab conditions apply``."""

from __future__ import annotations

import numpy as np

from calolab.data.showers import Showers
from calolab.geometry.io import dumps_detector
from tests.synthetic import tiny_detector


def test_simulate_with_dead_channels_and_apply_later(tmp_path, cli):
    det = tmp_path / "tiny.toml"
    det.write_text(dumps_detector(tiny_detector()))
    a, b, c = (str(tmp_path / n) for n in ("a.h5", "b.h5", "c.h5"))
    common = [str(det), "-n", "20", "--energy", "5", "-q"]
    cli("simulate", *common, "--dead-channels", "0.2", "--dead-seed", "2", "-o", a, check=True)
    cli("simulate", *common, "-o", b, check=True)
    cli("conditions", "apply", b, "--dead-channels", "0.2", "--dead-seed", "2", "-o", c, check=True)
    sa, sb, sc = (Showers.load(p) for p in (a, b, c))
    dead = sa.conditions.dead
    assert dead.mean() == round(0.2 * dead.size) / dead.size
    assert np.all(sa.cells[:, dead] == 0) and np.all(sa.digitized[:, dead] == 0)
    assert np.array_equal(sa.cells, sc.cells) and np.array_equal(sa.digitized, sc.digitized)
    assert np.any(sb.cells[:, dead] > 0)
    bad = cli("conditions", "apply", b, "--dead-channels", "1.5", "-o", str(tmp_path / "d.h5"))
    assert bad.returncode == 2 and "must be in [0, 1)" in bad.stderr
    assert not (tmp_path / "d.h5").exists()
    same = cli("conditions", "apply", b, "--dead-channels", "0.1", "-o", b)
    assert same.returncode == 2 and "input" in same.stderr


def test_simulate_with_timing(tmp_path, cli):
    det = tmp_path / "tiny.toml"
    det.write_text(dumps_detector(tiny_detector()))
    out = str(tmp_path / "t.h5")
    cli(
        "simulate",
        str(det),
        "-n",
        "10",
        "--particle",
        "pi+",
        "--energy",
        "20",
        "--timing",
        "--time-window=-1,30",
        "-q",
        "-o",
        out,
        check=True,
    )
    s = Showers.load(out)
    assert s.times is not None and s.digitized_times is not None
    fired = s.digitized != 0
    assert np.all((s.digitized_times[fired] >= -1) & (s.digitized_times[fired] <= 30))
    bad = cli("simulate", str(det), "-n", "5", "--time-window", "5", "-o", str(tmp_path / "b.h5"))
    assert bad.returncode == 2 and "--time-window" in bad.stderr
    assert not (tmp_path / "b.h5").exists()


def test_evaluate_reports_the_timing_resolution(tmp_path, cli):
    det = tmp_path / "tiny.toml"
    det.write_text(dumps_detector(tiny_detector()))
    data = str(tmp_path / "g.h5")
    cli(
        "simulate",
        str(det),
        "-n",
        "300",
        "--energy",
        "2:50",
        "--timing",
        "-q",
        "-o",
        data,
        check=True,
    )
    cli("train", "--data", data, "--model", "sum", "-o", str(tmp_path / "run"), check=True)
    out = cli(
        "evaluate",
        str(tmp_path / "run"),
        "--data",
        data,
        "-o",
        str(tmp_path / "ev"),
        "--timing",
        "--bins",
        "4",
        "--no-plots",
        "--no-systematics",
    )
    assert out.returncode == 0, out.stderr
    assert "timing resolution" in out.stdout and "fit σ_t" in out.stdout
    from calolab.evaluation.result import EvaluationResult

    r = EvaluationResult.from_json(tmp_path / "ev" / "metrics.json")
    assert r.timing is not None and len(r.timing.bins) == 4 and r.timing.a_ns > 0
    assert r.systematics is None
