"""From point deposits to cell energies, with sampling fluctuations and bookkeeping.

For one event, deposits outside the stack (behind it, beside it or in front of it) are
leaked energy. Inside:

* EM and hadronic deposits are smeared over their sampling period: each sensitive layer of
  the period receives its mean visible share of the energy; for sampling layers the visible
  fraction of each cell is then drawn from a Beta distribution with relative variance
  q / E_dep (:mod:`calolab.physics.sampling`), which keeps the summed energy's fluctuation
  independent of the cell size and never exceeds what was deposited. Homogeneous sensitive layers see exactly what was deposited.
* Local deposits (ionisation of tracks) go into the physical sub-layer at their z; only the
  part in sensitive sub-layers is visible.

Cells are indexed as in :class:`~calolab.geometry.ReadoutLayer`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calolab.simulation.stack import MODE_EM, MODE_HAD, MODE_LOCAL, StackModel


@dataclass
class BinnedEvent:
    """Visible energy per cell (GeV, float32, shape (n_cells,)) and the energy bookkeeping."""

    cells: np.ndarray
    deposited: float
    leaked: float


class Binner:
    """Accumulates deposits of one event into the cells of a :class:`StackModel`."""

    def __init__(self, stack: StackModel):
        self.stack = stack
        st = stack
        self.max_slots = max(len(s) for s in st.section_slots)
        self.n_slots = np.array([len(s) for s in st.section_slots], dtype=np.int64)
        self.has_quantum = [bool(np.any(st.cell_quantum[m] > 0)) for m in (MODE_EM, MODE_HAD)]

    def _inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        st = self.stack
        return (z >= 0.0) & (z < st.depth) & (np.abs(x) < st.half_x) & (np.abs(y) < st.half_y)

    def _cell_in_section(
        self, sec: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        st = self.stack
        ix = ((x + st.half_x) / st.section_cell_x[sec]).astype(np.int64)
        iy = ((y + st.half_y) / st.section_cell_y[sec]).astype(np.int64)
        np.minimum(ix, st.section_nx[sec] - 1, out=ix)
        np.minimum(iy, st.section_ny[sec] - 1, out=iy)
        return ix, iy

    def _smeared(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Energy deposited per period-column, indexed by the cells of each sensitive slot."""
        st = self.stack
        p = st.period_of(z)
        first = st.period_ro_first[p]
        keep = first >= 0
        if not keep.all():
            p, first, x, y, e = p[keep], first[keep], x[keep], y[keep], e[keep]
        sec = st.period_section[p]
        ix, iy = self._cell_in_section(sec, x, y)
        within = ix * st.section_ny[sec] + iy
        out = np.bincount(st.ro_offset[first] + within, weights=e, minlength=st.n_cells)
        for k in range(1, self.max_slots):
            m = self.n_slots[sec] > k
            if m.any():
                rl = first[m] + k
                out += np.bincount(st.ro_offset[rl] + within[m], weights=e[m], minlength=st.n_cells)
        return out

    def bin(
        self,
        deposits: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
        rng: np.random.Generator,
        em_columns: np.ndarray | None = None,
    ) -> BinnedEvent:
        """Bin deposits ``[em, had, local]`` (each ``(x, y, z, e)`` in cm and GeV).

        ``em_columns`` (n_cells,) adds EM energy already accumulated per period-column (by
        the EM shower kernel); its bookkeeping is the caller's. Draws one Beta variate per
        non-empty sampling cell (EM first, then hadronic).
        """
        st = self.stack
        vis = np.zeros(st.n_cells, dtype=np.float64)
        deposited = 0.0
        leaked = 0.0
        columns: list[np.ndarray | None] = [em_columns, None]
        for mode, (x, y, z, e) in enumerate(deposits):
            if e.size == 0:
                continue
            inside = self._inside(x, y, z)
            if not inside.all():
                leaked += float(e[~inside].sum())
                x, y, z, e = x[inside], y[inside], z[inside], e[inside]
            deposited += float(e.sum())
            if e.size == 0:
                continue
            if mode == MODE_LOCAL:
                sl = st.sublayer_of(z)
                ro = st.sub_ro[sl]
                sens = ro >= 0
                if sens.any():
                    sec = st.sub_section[sl[sens]]
                    ix, iy = self._cell_in_section(sec, x[sens], y[sens])
                    flat = st.ro_offset[ro[sens]] + ix * st.section_ny[sec] + iy
                    vis += np.bincount(flat, weights=e[sens], minlength=st.n_cells)
                continue
            col = self._smeared(x, y, z, e)
            columns[mode] = col if columns[mode] is None else columns[mode] + col
        for mode in (MODE_EM, MODE_HAD):
            dep = columns[mode]
            if dep is not None:
                vis += self._visible(mode, dep, rng)
        return BinnedEvent(cells=vis.astype(np.float32), deposited=deposited, leaked=leaked)

    def _visible(self, mode: int, dep: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Visible energy of period-column deposits: the mean share, fluctuated where the layer
        samples.

        The visible fraction f of a cell's column deposit E_dep is drawn from a Beta
        distribution with mean ``share`` and relative variance q / E_dep, so that the summed
        visible energy has σ²/E² = q/E (the sampling term) while a cell never shows more than
        was deposited in its column. Where q/E_dep asks for more spread than any distribution
        on [0, 1] allows (tiny deposits), the Beta tends to its limit, all or nothing.
        """
        st = self.stack
        share = st.cell_share[mode]
        if not self.has_quantum[mode]:
            return dep * share
        out = np.zeros_like(dep)
        nz = np.flatnonzero(dep)
        q = st.cell_quantum[mode][nz]
        vis_nz = dep[nz] * share[nz]
        fluct = q > 0
        if fluct.any():
            idx = nz[fluct]
            mu = share[idx].astype(np.float64)
            rel_var = st.cell_quantum[mode][idx] / dep[idx]
            total = np.maximum((1.0 - mu) / (mu * rel_var) - 1.0, 1e-3)  # a + b of the Beta
            vis_nz[fluct] = dep[idx] * rng.beta(mu * total, (1.0 - mu) * total)
        out[nz] = vis_nz
        return out


__all__ = ["BinnedEvent", "Binner", "MODE_EM", "MODE_HAD", "MODE_LOCAL"]
