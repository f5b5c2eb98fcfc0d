"""Precomputed lookup tables of a calorimeter for the fast simulation.

:class:`StackModel` turns a :class:`~calolab.geometry.Calorimeter` into flat numpy arrays:
periods (one repetition of a section's pattern), sub-layers, readout cells, the cumulative
radiation-length coordinate and the EM response of each sensitive layer. Lookups from z to
period or sub-layer use uniform grids (O(1) per point) instead of binary searches, which
matters at ~10⁷ energy spots per second.

Depth coordinate for showers: inside a period, EM and hadronic showers see the period's
effective medium (uniform X0 and Molière radius across the period), so the cumulative
radiation length T(z) is piecewise linear with breakpoints at period boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from calolab.geometry.detector import Calorimeter, Section
from calolab.physics.em import MediumParams
from calolab.physics.sampling import (
    DEFAULT_SAMPLING,
    SamplingModel,
    crossing_samples,
    em_sampling_quanta,
    em_visible_shares,
    sample_shape,
    section_medium,
)

#: Deposit modes understood by the binning.
MODE_EM = 0  # smeared over the period; visible share and fluctuations of EM showers
MODE_HAD = 1  # smeared over the period; visible share and fluctuations of hadronic showers
MODE_LOCAL = 2  # deposited in the actual sub-layer at z (ionisation of tracks)
N_MODES = 3


#: Bins per thinnest interval of the depth lookup tables, where that keeps them within
#: _LUT_FINE_MAX entries (16 kB of int32: they stay in the first-level cache).
_LUT_BINS_PER_INTERVAL = 32
_LUT_FINE_MAX = 4096


def _uniform_lut(
    edges_lo: np.ndarray, edges_hi: np.ndarray, depth: float
) -> tuple[float, np.ndarray]:
    """Grid step and table mapping floor(z/step) to the index of the interval containing it.

    The step is at most half the thinnest interval, so the true index is the table entry or
    the next one. Where the table stays within :data:`_LUT_FINE_MAX` entries it is finer,
    :data:`_LUT_BINS_PER_INTERVAL` bins per thinnest interval: a depth then seldom falls in a
    bin that holds a boundary, and the test for the next interval is a branch the processor
    predicts (the spot kernel looks up every spot's period; with two bins per period that
    test cost it about a tenth of its time, mispredicted for a quarter of the spots).
    """
    thinnest = float(np.min(edges_hi - edges_lo))
    n = int(np.ceil(depth / (0.5 * thinnest))) + 1
    fine = int(np.ceil(depth / (thinnest / _LUT_BINS_PER_INTERVAL))) + 1
    n = max(n, min(fine, _LUT_FINE_MAX))
    n = min(max(n, 16), 4_000_000)
    step = depth / (n - 1)
    grid = np.arange(n) * step
    idx = np.searchsorted(edges_lo, grid, side="right") - 1
    return step, np.clip(idx, 0, len(edges_lo) - 1).astype(np.int32)


@dataclass
class StackModel:
    """Flat arrays describing a calorimeter for fast simulation (all lengths in cm)."""

    detector: Calorimeter
    depth: float
    half_x: float
    half_y: float
    # periods
    period_lo: np.ndarray
    period_hi: np.ndarray
    period_section: np.ndarray
    period_ro_first: np.ndarray
    period_t_lo: np.ndarray
    # sections
    media: list[MediumParams]
    section_x0: np.ndarray
    section_rm: np.ndarray
    section_cell_x: np.ndarray
    section_cell_y: np.ndarray
    section_nx: np.ndarray
    section_ny: np.ndarray
    section_lambda: np.ndarray
    section_slots: list[np.ndarray]  # pattern indices of sensitive layers
    # sub-layers
    sub_lo: np.ndarray
    sub_hi: np.ndarray
    sub_ro: np.ndarray
    sub_section: np.ndarray
    sub_x0: np.ndarray
    sub_lambda: np.ndarray
    sub_material: list[str]
    # readout
    ro_offset: np.ndarray
    ro_nx: np.ndarray
    ro_ny: np.ndarray
    n_cells: int
    cell_share: np.ndarray  # (N_MODES-1, n_cells) mean visible share of smeared modes
    cell_quantum: np.ndarray  # (N_MODES-1, n_cells) sampling quantum in GeV
    cell_sample_shape: np.ndarray  # (n_cells,) Gamma shape of one sample's visible energy
    #: (3, n_cells) EM MIP-like crossings: fraction of the visible energy, mean (GeV), Gamma
    #: shape (calolab.physics.sampling.crossing_samples); 0 where the cell does not sample
    cell_crossings: np.ndarray
    # lookup tables
    _period_step: float
    _period_lut: np.ndarray
    _sub_step: float
    _sub_lut: np.ndarray
    total_x0: float

    @classmethod
    def build(
        cls,
        det: Calorimeter,
        sampling: SamplingModel = DEFAULT_SAMPLING,
        hadronic_response: HadronicResponse | None = None,
    ) -> StackModel:
        """Precompute the lookup tables of ``det``.

        ``hadronic_response`` gives the visible share and sampling quantum of hadronic
        deposits per section layer; by default hadronic deposits behave like minimum-ionising
        energy (visible share = MIP sampling fraction, no extra fluctuation).
        """
        sections = det.sections
        media = [section_medium(s) for s in sections]
        p_lo, p_hi, p_sec, p_ro, p_t = [], [], [], [], []
        s_lo, s_hi, s_ro, s_sec, s_x0, s_lam, s_mat = [], [], [], [], [], [], []
        z = 0.0
        t = 0.0
        ro = 0
        for si, s in enumerate(sections):
            x0_eff = media[si].x0_cm
            for _ in range(s.repeat):
                p_lo.append(z)
                p_sec.append(si)
                p_ro.append(ro if s.n_sensitive else -1)
                p_t.append(t)
                for layer in s.layers:
                    s_lo.append(z)
                    s_hi.append(z + layer.thickness_cm)
                    s_sec.append(si)
                    s_ro.append(ro if layer.sensitive else -1)
                    s_x0.append(layer.material.x0_cm)
                    s_lam.append(layer.material.lambda_i_cm)
                    s_mat.append(layer.material.name)
                    if layer.sensitive:
                        ro += 1
                    z += layer.thickness_cm
                p_hi.append(z)
                t += (p_hi[-1] - p_lo[-1]) / x0_eff
        depth = z
        period_lo = np.array(p_lo)
        period_hi = np.array(p_hi)
        period_hi[-1] = depth
        sub_lo = np.array(s_lo)
        sub_hi = np.array(s_hi)
        pstep, plut = _uniform_lut(period_lo, period_hi, depth)
        sstep, slut = _uniform_lut(sub_lo, sub_hi, depth)

        ro_layers = det.readout_layers
        ro_offset = np.array([r.offset for r in ro_layers] + [det.n_channels], dtype=np.int64)
        ro_nx = np.array([r.nx for r in ro_layers], dtype=np.int64)
        ro_ny = np.array([r.ny for r in ro_layers], dtype=np.int64)
        n_cells = det.n_channels
        share = np.zeros((N_MODES - 1, n_cells), dtype=np.float32)
        quantum = np.zeros((N_MODES - 1, n_cells), dtype=np.float32)
        em_share = [em_visible_shares(s) for s in sections]
        em_q = [em_sampling_quanta(s, sampling) for s in sections]
        shapes = [sample_shape(s, sampling) for s in sections]
        shape = np.zeros(n_cells)
        crossings = [crossing_samples(s) for s in sections]
        cross = np.zeros((3, n_cells))
        had = hadronic_response or MipHadronicResponse()
        had_share = [had.shares(s) for s in sections]
        had_q = [had.quanta(s) for s in sections]
        for r in ro_layers:
            sl = slice(r.offset, r.offset + r.n_cells)
            share[MODE_EM, sl] = em_share[r.section_index][r.pattern_index]
            quantum[MODE_EM, sl] = em_q[r.section_index][r.pattern_index]
            share[MODE_HAD, sl] = had_share[r.section_index][r.pattern_index]
            quantum[MODE_HAD, sl] = had_q[r.section_index][r.pattern_index]
            shape[sl] = shapes[r.section_index][r.pattern_index]
            cross[:, sl] = np.array(crossings[r.section_index][r.pattern_index])[:, None]
        grids = [det.section_grid(s) for s in sections]
        return cls(
            detector=det,
            depth=depth,
            half_x=det.transverse_size_cm[0] / 2,
            half_y=det.transverse_size_cm[1] / 2,
            period_lo=period_lo,
            period_hi=period_hi,
            period_section=np.array(p_sec, dtype=np.int64),
            period_ro_first=np.array(p_ro, dtype=np.int64),
            period_t_lo=np.array(p_t),
            media=media,
            section_x0=np.array([m.x0_cm for m in media]),
            section_rm=np.array([m.moliere_radius_cm for m in media]),
            section_cell_x=np.array([s.cell_size_cm[0] for s in sections]),
            section_cell_y=np.array([s.cell_size_cm[1] for s in sections]),
            section_nx=np.array([g[0] for g in grids], dtype=np.int64),
            section_ny=np.array([g[1] for g in grids], dtype=np.int64),
            section_lambda=np.array([s.period_cm / s.period_lambda_i for s in sections]),
            section_slots=[
                np.array([i for i, layer in enumerate(s.layers) if layer.sensitive], dtype=np.int64)
                for s in sections
            ],
            sub_lo=sub_lo,
            sub_hi=sub_hi,
            sub_ro=np.array(s_ro, dtype=np.int64),
            sub_section=np.array(s_sec, dtype=np.int64),
            sub_x0=np.array(s_x0),
            sub_lambda=np.array(s_lam),
            sub_material=s_mat,
            ro_offset=ro_offset,
            ro_nx=ro_nx,
            ro_ny=ro_ny,
            n_cells=n_cells,
            cell_share=share,
            cell_quantum=quantum,
            cell_sample_shape=shape,
            cell_crossings=cross,
            _period_step=pstep,
            _period_lut=plut,
            _sub_step=sstep,
            _sub_lut=slut,
            total_x0=t,
        )

    # ------------------------------------------------------------------ lookups
    def period_of(self, z: np.ndarray) -> np.ndarray:
        """Index of the period containing z (clipped to the stack)."""
        zc = np.minimum(np.maximum(z, 0.0), self.depth)
        i = self._period_lut[(zc / self._period_step).astype(np.int64)]
        nxt = np.minimum(i + 1, len(self.period_lo) - 1)
        return np.where(zc >= self.period_lo[nxt], nxt, i)

    def sublayer_of(self, z: np.ndarray) -> np.ndarray:
        """Index of the physical sub-layer containing z (clipped to the stack)."""
        zc = np.minimum(np.maximum(z, 0.0), self.depth)
        i = self._sub_lut[(zc / self._sub_step).astype(np.int64)]
        nxt = np.minimum(i + 1, len(self.sub_lo) - 1)
        return np.where(zc >= self.sub_lo[nxt], nxt, i)

    def t_of_z(self, z: np.ndarray) -> np.ndarray:
        """Cumulative radiation length (effective media) at depth z; linear beyond the ends."""
        z = np.asarray(z, dtype=np.float64)
        p = self.period_of(z)
        sec = self.period_section[p]
        return self.period_t_lo[p] + (z - self.period_lo[p]) / self.section_x0[sec]

    def z_of_t(self, t: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`t_of_z`; beyond the back, continues with the last period's X0."""
        t = np.asarray(t, dtype=np.float64)
        p = np.searchsorted(self.period_t_lo, t, side="right") - 1
        p = np.minimum(np.maximum(p, 0), len(self.period_lo) - 1)
        sec = self.period_section[p]
        return self.period_lo[p] + (t - self.period_t_lo[p]) * self.section_x0[sec]

    def t_grid(self, step: float = 0.02) -> tuple[float, np.ndarray]:
        """Uniform table z(T) on T in [0, total_x0 + 1] with spacing ``step`` (X0)."""
        n = int(np.ceil((self.total_x0 + 1.0) / step)) + 2
        tt = np.arange(n) * step
        return step, self.z_of_t(tt)


class MipHadronicResponse:
    """Default response to hadronic deposits: visible share = MIP sampling fraction."""

    def shares(self, section: Section) -> tuple[float, ...]:
        f = section.mip_sampling_fractions()
        return tuple(fi if layer.sensitive else 0.0 for fi, layer in zip(f, section.layers))

    def quanta(self, section: Section) -> tuple[float, ...]:
        return tuple(0.0 for _ in section.layers)


class HadronicResponse(Protocol):
    """What :meth:`StackModel.build` needs of a hadronic response model: the visible share and
    the sampling quantum of hadronic deposits per layer of a section's pattern
    (:class:`MipHadronicResponse`, :class:`calolab.physics.hadronic.HadronicResponse`)."""

    def shares(self, section: Section) -> tuple[float, ...]: ...

    def quanta(self, section: Section) -> tuple[float, ...]: ...
