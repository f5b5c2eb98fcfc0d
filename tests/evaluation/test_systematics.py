"""Systematic uncertainties: each source reproduced by hand, none dropped, the fit terms,
the configuration file, and metrics.json of the previous format still read."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calolab.core.errors import ConfigError
from calolab.evaluation.fits import gaussian_core_fit
from calolab.evaluation.regression import (
    BiasCorrection,
    EnergyBinning,
    fit_binned_resolution,
    measure_regression,
)
from calolab.evaluation.result import EvaluationResult
from calolab.evaluation.systematics import SystematicsConfig, measure_systematics


@pytest.fixture(scope="module")
def case():
    """3000 events, 10–200 GeV, σ/E = 15 %/√E ⊕ 1 % with non-Gaussian tails, a raw response
    of 0.9 + 0.5 GeV offset corrected by a known bias correction."""
    rng = np.random.default_rng(5)
    t = rng.uniform(10, 200, 3000)
    sig = np.sqrt(0.15**2 / t + 0.01**2)
    noise = np.where(rng.random(len(t)) < 0.1, 3.0, 1.0) * rng.standard_normal(len(t))
    raw = 0.9 * t * (1 + sig * noise) + 0.5
    bias = BiasCorrection(0.9, 0.004, 0.5, 0.2, 1.0, 3, 5)
    p = bias.apply(raw)
    edges = EnergyBinning(n_bins=6).edges_for(t)
    nominal = measure_regression(t, p, edges, drop_at_zero=False)
    return t, raw, p, edges, nominal, bias


def _by_hand_resolution(t, p, edges, n_sigma=2.0):
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (t >= lo) & (t < hi)
        f = gaussian_core_fit(p[sel] / t[sel], n_sigma=n_sigma)
        out.append((f.sigma / f.mu, f.mu))
    return np.array(out)


def test_each_source_reproduces_by_hand_and_none_is_dropped(case):
    t, raw, p, edges, nominal, bias = case
    cfg = SystematicsConfig(energy_scale=0.02, core_range=(1.5, 2.5), bias_correction=True)
    dead = p * (1 + 0.05 * np.random.default_rng(1).standard_normal(len(p)))
    cfg_dead = SystematicsConfig(
        energy_scale=0.02, core_range=(1.5, 2.5), bias_correction=True, dead_fraction=0.1
    )
    s = measure_systematics(
        t,
        p,
        edges,
        nominal,
        cfg_dead,
        e_raw=raw,
        bias=bias,
        dead_predictions=lambda: bias.slope * dead + bias.intercept,  # raw predictions
    )
    assert (
        [x.source for x in s.sources]
        == list(cfg_dead.sources)
        == [
            "energy_scale",
            "core_range",
            "bias_correction",
            "dead_fraction",
        ]
    )
    base = _by_hand_resolution(t, p, edges)
    # energy scale: the response moves by exactly ±2 %, σ/E does not move
    scale = s.source("energy_scale")
    assert np.allclose(scale.response, 0.02 * base[:, 1], rtol=1e-3)
    assert max(scale.resolution) < 1e-4
    # core range: the ±1.5σ and ±2.5σ windows, by hand
    alt = [_by_hand_resolution(t, p, edges, n) for n in (1.5, 2.5)]
    want = np.max([np.abs(a[:, 0] - base[:, 0]) for a in alt], axis=0)
    assert np.allclose(s.source("core_range").resolution, want, rtol=1e-6, atol=1e-9)
    # bias correction: slope and intercept ±1σ, one at a time, by hand
    shifts = []
    for ds, di in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        pc = (raw - (bias.intercept + di * bias.intercept_err)) / (bias.slope + ds * bias.slope_err)
        shifts.append(np.abs(_by_hand_resolution(t, pc, edges) - base))
    want_r = np.max([x[:, 1] for x in shifts], axis=0)
    assert np.allclose(s.source("bias_correction").response, want_r, rtol=1e-6, atol=1e-9)
    # dead channels (one-sided), by hand
    d = np.abs(_by_hand_resolution(t, dead, edges)[:, 0] - base[:, 0])
    assert np.allclose(s.source("dead_fraction").resolution, d, rtol=1e-6, atol=1e-9)
    assert min(d) > 0.005  # a 5 % smearing is seen
    # totals: every source in quadrature (a dropped source breaks this equality)
    parts = np.array([x.resolution for x in s.sources])
    assert np.allclose(s.resolution_syst, np.sqrt((parts**2).sum(axis=0)))
    assert s.core_resolution_syst == pytest.approx(
        math.sqrt(sum(x.core_resolution**2 for x in s.sources))
    )
    # without the dead-channel variation the total is smaller: it was counted
    s2 = measure_systematics(t, p, edges, nominal, cfg, e_raw=raw, bias=bias)
    assert s2.core_resolution_syst < s.core_resolution_syst
    assert [x.source for x in s2.sources] == ["energy_scale", "core_range", "bias_correction"]
    # statistical errors are the core fits' ones
    assert s.resolution_stat == tuple(b.resolution_err for b in nominal.bins)


def test_fit_terms_carry_stat_and_syst(case):
    t, raw, p, edges, nominal, bias = case
    s = measure_systematics(
        t, p, edges, nominal, SystematicsConfig(energy_scale=0.0, bias_correction=False)
    )
    assert s.a == nominal.fit.a and s.a_stat == nominal.fit.a_err
    # by hand: refit the ±1.5σ/±2.5σ bins with the same terms
    from calolab.evaluation.regression import binned_metrics

    shifts = []
    for n in (1.5, 2.5):
        f = fit_binned_resolution(binned_metrics(t, p, edges, n_sigma=n), nominal.fit.terms)
        shifts.append(abs(f.a - nominal.fit.a))
    assert s.a_syst == pytest.approx(max(shifts), rel=1e-6)
    assert s.a_syst > 0 and s.notes == ()


def test_notes_when_a_source_cannot_be_varied(case):
    t, raw, p, edges, nominal, bias = case
    s = measure_systematics(
        t, p, edges, nominal, SystematicsConfig(dead_fraction=0.05), e_raw=None, bias=None
    )
    assert [x.source for x in s.sources] == ["energy_scale", "core_range"]
    assert any("bias_correction" in n for n in s.notes) and any("dead" in n for n in s.notes)


def test_config_file_and_bad_values(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("[systematics]\nenergy_scale = 0.005\ncore_range = [1.8]\ndead_fraction = 0.1\n")
    c = SystematicsConfig.load(p)
    assert c.energy_scale == 0.005 and c.core_range == (1.8,) and c.dead_fraction == 0.1
    p.write_text("energy_scale = -1\n")
    with pytest.raises(ConfigError, match="energy_scale"):
        SystematicsConfig.load(p)
    p.write_text("scale = 0.1\n")
    with pytest.raises(ConfigError, match="scale"):
        SystematicsConfig.load(p)


def test_metrics_of_format_2_are_still_read(case):
    t, raw, p, edges, nominal, bias = case
    r = EvaluationResult(
        task="regression", model="m", dataset="d", run="r", n_events=3000, raw=nominal
    )
    table = r.to_table()
    assert table["format_version"] == 3
    table["format_version"] = 2
    del table["systematics"]
    old = EvaluationResult.from_table(table)
    assert old.systematics is None and old.raw == nominal


def test_evaluate_records_systematics_and_the_cli_prints_them(tmp_path, cli):
    from calolab.evaluation import evaluate_run
    from calolab.models import ModelConfig
    from calolab.training import DataConfig, TrainConfig, load_run, train
    from tests.synthetic import write_synthetic

    f = write_synthetic(tmp_path / "train.h5", 800, 1, noise=0.1, weights=3.0)
    test = write_synthetic(tmp_path / "test.h5", 800, 2, noise=0.1, weights=3.0)
    train(
        TrainConfig(model=ModelConfig("per-layer"), data=DataConfig(str(f)), device="cpu"),
        tmp_path / "run",
    )
    cfg = SystematicsConfig(dead_fraction=0.2)
    r = evaluate_run(
        load_run(tmp_path / "run"), test, tmp_path / "ev", systematics=cfg, plots=False
    )
    s = r.systematics
    assert s is not None and s.config == cfg
    assert "dead_fraction" in [x.source for x in s.sources]
    assert s.source("dead_fraction").core_resolution > 0.01  # 20 % dead cells hurt
    assert not (tmp_path / "ev" / ".systematics-dead.h5").exists()
    assert EvaluationResult.from_json(tmp_path / "ev" / "metrics.json") == r
    none = evaluate_run(
        load_run(tmp_path / "run"), test, tmp_path / "ev0", systematics=None, plots=False
    )
    assert none.systematics is None
    sf = tmp_path / "s.toml"
    sf.write_text("energy_scale = 0.01\ncore_range = [1.5, 2.5]\n")
    out = cli(
        "evaluate",
        str(tmp_path / "run"),
        "--data",
        str(test),
        "-o",
        str(tmp_path / "ev2"),
        "--systematics",
        str(sf),
        "--no-plots",
        "-q",
    )
    assert out.returncode == 0, out.stderr
    assert "systematic uncertainties" in out.stdout and "(syst)" in out.stdout


def test_readout_variations_by_hand(case):
    t, raw, p, edges, nominal, bias = case
    rng = np.random.default_rng(3)
    smear = {
        (k, sc): raw * (1 + abs(sc - 1) * 0.3 * rng.standard_normal(len(raw)))
        for k in ("noise", "light_yield")
        for sc in (1.1, 0.9)
    }
    calls = []

    def readout(kind, scale):
        calls.append((kind, round(scale, 6)))
        return smear[(kind, round(scale, 6))]

    cfg = SystematicsConfig(
        energy_scale=0.0, core_range=(), bias_correction=False, noise=0.1, light_yield=0.1
    )
    s = measure_systematics(
        t, p, edges, nominal, cfg, e_raw=raw, bias=bias, readout_predictions=readout
    )
    assert sorted(calls) == [
        ("light_yield", 0.9),
        ("light_yield", 1.1),
        ("noise", 0.9),
        ("noise", 1.1),
    ]
    base = _by_hand_resolution(t, p, edges)
    for kind in ("noise", "light_yield"):
        want = np.max(
            [
                np.abs(
                    _by_hand_resolution(t, bias.apply(smear[(kind, sc)]), edges)[:, 0] - base[:, 0]
                )
                for sc in (1.1, 0.9)
            ],
            axis=0,
        )
        assert np.allclose(s.source(kind).resolution, want, rtol=1e-6, atol=1e-9)
    none = measure_systematics(t, p, edges, nominal, cfg)
    assert none.sources == () and len(none.notes) == 2
