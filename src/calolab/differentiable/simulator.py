"""A batched torch backend of calolab's fast simulator, differentiable in the design.

The physics is that of :class:`calolab.simulation.fast.FastSimulator` (the reference,
numba) — the same formulas of :mod:`calolab.physics`, evaluated on torch tensors — but the
energy deposits are *expected values given the random draws* instead of sampled spots, so
that every output is a smooth function of the design parameters
(:class:`~calolab.differentiable.design.DesignParameters`).

What is simulated, per event (all events of a call in one batch, on CPU or CUDA):

**EM showers** (e±, γ; π0 → γγ with exact two-body kinematics; the π0 photons of hadronic
showers). Depth is counted in radiation lengths t of the stack's effective media (as the
reference does), so the random history of a shower is drawn in t and does not move when the
design changes; the design enters through the layer boundaries in t, the effective media,
and the ionisation per X0.

1. *First generations* (:mod:`calolab.simulation.em`'s hybrid): particles above the follow
   energy E_f = max(0.1 E0, 1 GeV) are followed in t, all particles of the batch together,
   one step per iteration: photons convert after Exp(λ(E)) (the mean free path at their
   energy) with the Bethe–Heitler split;
   electrons radiate hard photons (y > E_f/E) at the complete-screening rate
   (:func:`calolab.physics.em.brems_hard_rate`), lose the soft fraction
   (:func:`~calolab.physics.em.brems_soft_fraction`) as photon sub-showers spread along the
   step, and ionise with the ICRU 37 electron collision loss of the section's layers.
2. *Sub-showers* below E_f: photons convert after Exp(λ(E)); every lepton ionises its
   first X0; then GFlash's Gamma profile with correlated log-normal fluctuations of T and α
   (:func:`~calolab.physics.em.longitudinal_moments`, :func:`~calolab.physics.em.fluctuate_t_alpha`)
   above 1 GeV; below, T fluctuates about the median with the median α
   (:func:`~calolab.physics.em.below_fit_range`); a fall-off of at least μ_min X0 where the
   tail begins (:func:`~calolab.physics.em.tail_floor`) and, below 1 GeV, β no larger than the photons
   allow (:func:`~calolab.physics.em.photon_limited_slope`), as in the reference.
3. *Deposits*: the energy of a sub-shower in a period is E [P(α, β(t_hi - t0)) -
   P(α, β(t_lo - t0))] — the Gamma CDF differences (:func:`~calolab.differentiable.special.gamma_cdf`,
   differentiable in α and in the boundaries); ionisation is spread uniformly over the depth
   it covers. Energy beyond the last period is leaked (longitudinal leakage), and the albedo
   leaves through the front face: of a period's GFlash energy the share η exp(-t/λ)
   (:func:`~calolab.physics.em.albedo_escape`), averaged over the period.

**Hadronic showers** (π±): the pion's first interaction at an Exp(1) depth in pion interaction
lengths, material by material (:func:`calolab.physics.hadronic.interaction_length_cm`), with its
Bethe ionisation before it (visible in the sensitive layers it crosses); f_em from the
Beta distribution of :func:`~calolab.physics.hadronic.em_fraction_mean`; π0 photons generation by
generation as in :class:`calolab.simulation.hadronic.HadronicShowerModel`, each an EM shower;
the non-EM energy with the Gamma profile (in λ_I) of :func:`~calolab.physics.hadronic.hadronic_profile`,
minus the invisible fraction of each section (mean + one normal fluctuation per shower).

**Visible energy.** Per readout layer, the deposited energy of its period times the visible
share (EM: e/mip with the transition term; hadronic: Wigmans' decomposition), fluctuated by a
Beta distribution of relative variance q/E_dep (the sampling quantum q of
:mod:`calolab.physics.sampling`), drawn with ``torch.distributions.Beta.rsample``.

**Cells.** The visible energy of a layer is shared among its cells by the radial profile at
that depth (GFlash's two components for EM showers, the hadronic radial scale for hadrons)
integrated in closed form over the cell edges (:func:`~calolab.differentiable.special.lorentz2_rect`);
the energy outside the detector's face is leaked.

Gradient estimator: every continuous random variable is reparametrised (normals for T and α,
exponentials for depths, Gamma/Beta by ``rsample``, whose gradients torch computes by implicit
differentiation); the discrete history (which particles exist, how many π0s, rejection
draws) does not depend on the design, so the derivative of an output is the pathwise
derivative given the history, and its mean over events is an unbiased estimate of the
derivative of the expected output — except where the design moves a discrete threshold
(a particle leaving the stack at the very end of the cascade, the 0.5 E cap on ionisation),
a set of histories of measure zero whose contribution is neglected. docs/differentiable.md
lists what differs from the reference (no spot-sampling noise, no cell-to-cell fluctuations,
no Landau fluctuations of the pion track, hadronic response constant in the design).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from calolab.core.errors import ConfigError
from calolab.core.particles import particle_pdg
from calolab.differentiable.design import (
    LNE_LO,
    LNE_STEP,
    DesignParameters,
    SectionTables,
    section_tables,
)
from calolab.differentiable.special import gamma_cdf, landau_capped_mean, lorentz2_rect
from calolab.physics import em as gf
from calolab.physics import hadronic as hp
from calolab.physics.ionisation import LANDAU_MODE_X, landau_tables
from calolab.physics.sampling import DEFAULT_SAMPLING, SamplingModel

# The constants of calolab.simulation.em's hybrid model (tests check they agree), but for
# the follow energy: here E_f = max(0.1 E0, 1 GeV), the reference's up to EM model hybrid-16.
# Its hybrid-17 follows every particle above 1 GeV; here each sub-shower is a Gamma evaluated
# on every period, and 20 times as many sub-showers cost 9x the time at 50 GeV and 50x at
# 200 GeV (docs/differentiable.md). The agreement tests run the reference with this fraction.
FOLLOW_FRACTION = 0.1
FOLLOW_MIN_GEV = 1.0
FLUCT_MIN_GEV = 1.0
MIN_SHOWER_GEV = 0.02
LEPTON_START_X0 = 1.0
MAX_STEP_X0 = 1.0
#: Sub-showers below MIN_SHOWER_GEV, a point deposit in the reference, are spread uniformly
#: over this depth (X0) so that their share of a layer is continuous in its boundaries.
SMALL_SPREAD_X0 = 0.05
A_MIN, A_MAX = 1.1, 40.0
PI0_MASS_GEV = 0.1349768
SUPPORTED = ("e-", "e+", "gamma", "pi0", "pi+", "pi-")
_MAX_ITER = 400


@dataclass
class TorchShowers:
    """Output of :meth:`TorchSimulator.simulate` (GeV; tensors on the simulator's device).

    Attributes
    ----------
    layers:
        Visible energy per readout layer, shape ``(n_events, n_readout_layers)``.
    cells:
        Visible energy per cell ``(n_events, n_channels)`` (cell order of the detector), or
        ``None`` when not asked for.
    deposited, leaked, invisible:
        ``(n_events,)``: energy deposited inside the stack, leaked (back, sides, punch-through),
        lost to nuclear binding (hadrons).
    """

    layers: torch.Tensor
    cells: torch.Tensor | None
    deposited: torch.Tensor
    leaked: torch.Tensor
    invisible: torch.Tensor

    @property
    def visible(self) -> torch.Tensor:
        """Summed visible energy per event, ``(n_events,)``."""
        return self.layers.sum(1)


class _Stack:
    """Period and readout-layer layout of the current design (tensors)."""

    def __init__(self, tabs: list[SectionTables], half: tuple[float, float]):
        self.tabs = tabs
        self.half = half
        t_lo: list[torch.Tensor] = []
        t_hi: list[torch.Tensor] = []
        x0: list[torch.Tensor] = []
        li_lo: list[torch.Tensor] = []
        li_hi: list[torch.Tensor] = []
        z_lo: list[torch.Tensor] = []
        z_hi: list[torch.Tensor] = []
        sec: list[int] = []
        t = z = li = None
        ro_period, ro_slot, ro_sec = [], [], []
        sub_sec, sub_idx, sub_frac = [], [], []
        zs_lo, zs_hi, sub_period = [], [], []
        sub_ro: list[tuple[int, int]] = []
        self.sec_t_lo: list[torch.Tensor] = []
        for si, tb in enumerate(tabs):
            zero = tb.period_cm * 0.0
            t = zero if t is None else t
            z = zero if z is None else z
            li = zero if li is None else li
            self.sec_t_lo.append(t)
            for k in range(tb.n_slots):
                f = tb.frac[k]
                p = len(t_lo)
                t_lo.append(t)
                z_lo.append(z)
                li_lo.append(li)
                t = t + f * tb.period_x0
                z = z + f * tb.period_cm
                li = li + f * tb.period_lambda_i
                t_hi.append(t)
                z_hi.append(z)
                li_hi.append(li)
                sec.append(si)
                x0.append(tb.period_cm / tb.period_x0)
                zz = z_lo[-1]
                for j, sen in enumerate(tb.sensitive):
                    zs_lo.append(zz)
                    zz = zz + f * tb.thickness[j]
                    zs_hi.append(zz)
                    sub_period.append(p)
                    sub_sec.append(si)
                    sub_idx.append(j)
                    sub_frac.append(f)
                    if sen:
                        ro_period.append(p)
                        ro_slot.append(j)
                        ro_sec.append(si)
                        sub_ro.append((len(zs_lo) - 1, len(ro_period) - 1))
        self.t_lo = torch.stack(t_lo)
        self.t_hi = torch.stack(t_hi)
        self.z_lo = torch.stack(z_lo)
        self.z_hi = torch.stack(z_hi)
        self.li_lo = torch.stack(li_lo)
        self.li_hi = torch.stack(li_hi)
        self.x0_cm = torch.stack(x0)
        dev = self.t_lo.device
        self.period_sec = torch.tensor(sec, device=dev)
        self.ro_period = torch.tensor(ro_period, device=dev, dtype=torch.long)
        self.ro_slot = ro_slot
        self.ro_sec = ro_sec
        self.t_back = self.t_hi[-1]
        self.zs_lo = torch.stack(zs_lo)
        self.zs_hi = torch.stack(zs_hi)
        n_p = len(t_lo)
        self.sub_to_period = torch.zeros((len(zs_lo), n_p), dtype=self.t_lo.dtype, device=dev)
        self.sub_to_period[torch.arange(len(zs_lo), device=dev), torch.tensor(sub_period)] = 1.0
        #: the sensitive sub-layers' readout layers (the followed leptons' ionisation is seen
        #: where it lies, as in the reference)
        self.sub_to_ro = torch.zeros(
            (len(zs_lo), len(ro_period)), dtype=self.t_lo.dtype, device=dev
        )
        for i_sub, i_ro in sub_ro:
            self.sub_to_ro[i_sub, i_ro] = 1.0

        # Landau straggling of the followed leptons' ionisation in the sensitive sub-layers
        # of sampling sections, with the passive neighbour (next, else previous) as partner
        # (as EMShowerModel._straggle)
        def sens(g: int) -> bool:
            return bool(tabs[sub_sec[g]].sensitive[sub_idx[g]])

        strag, partner, consts = [], [], []
        for g in range(len(zs_lo)):
            lc = tabs[sub_sec[g]].landau_const
            if lc is None or not sens(g):
                continue
            j = g + 1 if g + 1 < len(zs_lo) and not sens(g + 1) else g - 1
            if j < 0 or sens(j):
                continue
            strag.append(g)
            partner.append(j)
            consts.append(lc[sub_idx[g]])
        self.strag_sub = torch.tensor(strag, dtype=torch.long, device=dev)
        self.strag_partner = torch.tensor(partner, dtype=torch.long, device=dev)
        self.strag_const = torch.stack(consts) if consts else None
        lt = landau_tables()
        self.landau_tab = tuple(
            torch.as_tensor(a, dtype=self.t_lo.dtype, device=dev)
            for a in (lt.x_max, lt.trunc_mean, lt.cdf_max)
        )
        #: electron collision loss (GeV/cm) of every sub-layer on the ln E grid
        self.sub_ion = torch.stack(
            [tabs[s_].ion_tab[j] for s_, j in zip(sub_sec, sub_idx)]
        )  # (n_sub, n_E)
        self.n_sec = len(tabs)
        #: photon mean free path (X0) per section on the ln E grid
        self.photon_mfp_tab = torch.stack([tb.photon_mfp_x0 for tb in tabs])
        self.sub_sec = sub_sec
        self.sub_idx = sub_idx
        self.sub_frac = sub_frac
        # per readout layer: share and quantum of EM and hadronic deposits
        self.em_share = torch.stack([tabs[s].em_share[j] for s, j in zip(ro_sec, ro_slot)])
        self.em_q = torch.stack([tabs[s].em_quantum[j] for s, j in zip(ro_sec, ro_slot)])
        self.had_share = torch.stack([tabs[s].had_share[j] for s, j in zip(ro_sec, ro_slot)])
        self.had_q = torch.stack([tabs[s].had_quantum[j] for s, j in zip(ro_sec, ro_slot)])

    def photon_mfp(self, e: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Mean free path (X0) of photons of energy ``e`` (GeV) starting at depth ``t`` (X0),
        in the section where they start (linear in ln E)."""
        f = ((torch.log(e.clamp(min=1e-6)) - LNE_LO) / LNE_STEP).clamp(
            0.0, self.photon_mfp_tab.shape[1] - 1.001
        )
        i = f.detach().long()
        sec = self.section_of_t(t)
        tab = self.photon_mfp_tab
        return tab[sec, i] + (tab[sec, i + 1] - tab[sec, i]) * (f - i)

    def section_of_t(self, t: torch.Tensor) -> torch.Tensor:
        if self.n_sec == 1:
            return torch.zeros_like(t, dtype=torch.long)
        edges = torch.stack(self.sec_t_lo[1:]).detach()
        return torch.searchsorted(edges, t.detach().contiguous(), right=True)

    def z_of_t(self, t: torch.Tensor) -> torch.Tensor:
        """Depth z (cm) at effective radiation length t (linear inside each period; beyond
        the back, the last period's X0)."""
        p = torch.searchsorted(self.t_lo.detach(), t.detach().contiguous(), right=True) - 1
        p = p.clamp(0, self.t_lo.shape[0] - 1)
        return self.z_lo[p] + (t - self.t_lo[p]) * self.x0_cm[p]

    def ionise(
        self, t_a: torch.Tensor, t_b: torch.Tensor, e: torch.Tensor, uz: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Ionisation of electrons of energy ``e`` going from depth ``t_a`` to ``t_b`` (X0):
        the collision loss of each physical sub-layer times the path in it (at most half of
        ``e``, as the reference). Returns the energy lost ``(K,)``, its share per period
        ``(K, P)`` and the part in each readout layer's sensitive sub-layer ``(K, R)`` (GeV)."""
        za, zb = self.z_of_t(t_a), self.z_of_t(t_b)
        ov = (
            torch.minimum(zb[:, None], self.zs_hi[None, :])
            - torch.maximum(za[:, None], self.zs_lo[None, :])
        ).clamp(min=0.0)
        f = ((torch.log(e.clamp(min=1e-6)) - LNE_LO) / LNE_STEP).clamp(
            0.0, self.sub_ion.shape[1] - 1.001
        )
        i = f.detach().long()
        w = (f - i)[:, None]
        tab_t = self.sub_ion.T  # (n_E, n_sub)
        loss = tab_t[i] + (tab_t[i + 1] - tab_t[i]) * w  # (K, n_sub)
        de = ov * loss / uz[:, None]
        tot = de.sum(1)
        scale = torch.where(tot > 0.5 * e, 0.5 * e / tot.clamp(min=1e-30), torch.ones_like(tot))
        de = de * scale[:, None]
        return tot * scale, de @ self.sub_to_period, self._seen(de) @ self.sub_to_ro

    def _seen(self, de: torch.Tensor) -> torch.Tensor:
        """The expected visible part of ionisation deposits ``de`` (K, n_sub): in the
        straggled sub-layers the mean of the reference's Landau draw capped by the passive
        partner's deposit (:func:`~calolab.differentiable.special.landau_capped_mean`; the
        hard knock-ons a thin layer cannot hold), elsewhere the deposit."""
        if self.strag_const is None:
            return de
        m = de[:, self.strag_sub]
        c = de[:, self.strag_partner]
        s_loss, xi_g, big_l, ln_i = self.strag_const.T
        pos = m > 0
        ms = torch.where(pos, m, torch.ones_like(m))
        xi = xi_g * ms / s_loss
        dp = xi * (big_l + torch.log(xi) - ln_i)
        scale = 0.5 * math.pi * xi
        x = landau_capped_mean(
            self.landau_tab,  # type: ignore[arg-type]
            LANDAU_MODE_X + (ms - dp) / scale,
            LANDAU_MODE_X + (ms + c - dp) / scale,
        )
        seen = torch.where(pos, (dp + scale * (x - LANDAU_MODE_X)).clamp(min=0.0), m)
        out = de.clone()
        out[:, self.strag_sub] = seen
        return out

    def spread(self, t_a: torch.Tensor, t_b: torch.Tensor) -> torch.Tensor:
        """Share of a deposit uniform in depth over [t_a, t_b] in each period, (N, P)."""
        lo = torch.maximum(t_a[:, None], self.t_lo[None, :])
        hi = torch.minimum(t_b[:, None], self.t_hi[None, :])
        width = (t_b - t_a)[:, None]
        ov = (hi - lo).clamp(min=0.0)
        point = (t_a[:, None] >= self.t_lo[None, :]) & (t_a[:, None] < self.t_hi[None, :])
        safe = torch.where(width > 1e-9, width, torch.ones_like(width))
        return torch.where(width > 1e-9, ov / safe, point.to(ov.dtype))


class TorchSimulator:
    """Differentiable simulation of a design (see module docstring).

    Parameters
    ----------
    design:
        The design parameters (their ``dtype`` and ``device`` are the simulation's).
    sampling:
        The sampling-fluctuation model.
    """

    def __init__(self, design: DesignParameters, sampling: SamplingModel = DEFAULT_SAMPLING):
        self.design = design
        self.sampling = sampling
        self.dtype = design.dtype
        self.device = design.device

    # ------------------------------------------------------------------ entry point
    def simulate(
        self,
        particle: str | int,
        energy_gev: float,
        n_events: int,
        *,
        seed: int,
        position_cm: tuple[float, float] = (0.0, 0.0),
        cells: bool = False,
        fluctuations: bool = True,
    ) -> TorchShowers:
        """Simulate ``n_events`` particles of ``energy_gev`` (GeV; kinetic energy for
        hadrons) entering the front face at ``position_cm`` along z.

        ``fluctuations=False`` returns the expected visible energy given the shower history
        (no sampling fluctuations); the same ``seed`` gives the same output.
        """
        pdg = particle_pdg(particle) if isinstance(particle, str) else int(particle)
        if pdg not in (11, -11, 22, 111, 211, -211):
            raise ConfigError(
                f"particle {particle!r} is not simulated by the torch backend; "
                f"supported: {', '.join(SUPPORTED)}"
            )
        e0 = float(energy_gev)
        if not (e0 > 0.0 and math.isfinite(e0)):
            raise ConfigError(f"energy {energy_gev!r} GeV must be a positive number")
        n = int(n_events)
        if n < 1:
            raise ConfigError(f"n_events {n_events!r} must be >= 1")
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(seed))
        self._gen = gen
        tabs = section_tables(self.design, self.sampling, pion_energy_gev=max(e0, 0.2))
        det = self.design.template
        st = _Stack(tabs, (det.transverse_size_cm[0] / 2, det.transverse_size_cm[1] / 2))
        self._st = st
        # E_LPM of each section's radiator (the template's material with the shortest X0; as
        # calolab.simulation.em, where bremsstrahlung is LPM-suppressed)
        self._lpm = torch.tensor(
            [
                gf.radiator_lpm_energy_gev([lay.material for lay in sec.layers])
                for sec in det.sections
            ],
            dtype=self.dtype,
            device=self.device,
        )
        kw: dict[str, Any] = {"dtype": self.dtype, "device": self.device}
        n_p = st.t_lo.shape[0]
        em_dep = torch.zeros((n, n_p), **kw)
        had_dep = torch.zeros((n, n_p), **kw)
        local_vis = torch.zeros((n, len(st.ro_slot)), **kw)
        invisible = torch.zeros(n, **kw)
        ev = torch.arange(n, device=self.device)
        self._track_dep = torch.zeros(n, **kw)
        self._ion_dep = torch.zeros(n, **kw)  # the EM followed leptons' ionisation
        self._ion_vis = torch.zeros((n, len(st.ro_slot)), **kw)
        if pdg in (11, -11, 22):
            em_dep = em_dep + self._em(
                ev,
                torch.zeros(n, **kw),
                torch.full((n,), e0, **kw),
                torch.full((n,), pdg == 22, device=self.device),
                torch.ones(n, **kw),
                n,
            )
            lateral = self._em_lateral(e0, pdg == 22, position_cm)
        elif pdg == 111:
            ev2, e_g, uz = self._pi0_decay(n, e0)
            em_dep = em_dep + self._em(
                ev2, torch.zeros_like(e_g), e_g, torch.ones_like(ev2, dtype=torch.bool), uz, n
            )
            lateral = self._em_lateral(e0, True, position_cm)
        else:
            em_dep, had_dep, local_vis, invisible, l_int = self._hadron(n, e0)
            lateral = None
        # lateral containment and cell fractions
        ro_p = st.ro_period
        if lateral is None:
            frac_cells = self._had_lateral(e0, l_int, position_cm)  # (B, R, C) list per R
            cont = torch.stack([fc.sum(-1) for fc in frac_cells], dim=1)  # (B, R)
        else:
            frac_cells = lateral
            cont = torch.stack([fc.sum(-1) for fc in frac_cells])[None, :].expand(n, -1)
        em_ro = em_dep[:, ro_p] * cont
        had_ro = had_dep[:, ro_p] * cont
        vis = self._visible(em_ro, st.em_share, st.em_q, fluctuations)
        vis = vis + self._visible(had_ro, st.had_share, st.had_q, fluctuations)
        vis = vis + local_vis + self._ion_vis
        # deposited: every period (all materials), inside the face
        cont_p = torch.ones((n, n_p), **kw)
        cont_p[:, ro_p] = cont  # periods without a readout layer keep full containment
        deposited = ((em_dep + had_dep) * cont_p).sum(1) + self._track_dep + self._ion_dep
        leaked = e0 - deposited - invisible
        out_cells = None
        if cells:
            parts = []
            for r in range(len(st.ro_slot)):
                fc = frac_cells[r]
                c = cont[:, r : r + 1].clamp(min=1e-30)
                fc_b = fc if fc.dim() == 2 else fc[None, :]
                parts.append(vis[:, r : r + 1] * fc_b / c)
            out_cells = torch.cat(parts, dim=1)
        return TorchShowers(vis, out_cells, deposited, leaked, invisible)

    # ------------------------------------------------------------------ random draws
    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self._gen, dtype=self.dtype, device=self.device)

    def _exp(self, *shape: int) -> torch.Tensor:
        return -torch.log1p(-self._rand(*shape).clamp(max=1.0 - 1e-7))

    def _normal(self, *shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=self._gen, dtype=self.dtype, device=self.device)

    def _bethe_heitler(self, k: int) -> torch.Tensor:
        x = torch.empty(k, dtype=self.dtype, device=self.device)
        todo = torch.arange(k, device=self.device)
        while todo.numel():
            u = self._rand(2, todo.numel())
            ok = u[1] <= gf.pair_shape(u[0])
            x[todo[ok]] = u[0, ok]
            todo = todo[~ok]
        return x

    def _brems_y(self, y_min: torch.Tensor, soft: bool, y_lpm: torch.Tensor) -> torch.Tensor:
        """y of a hard photon (y in [y_min, 1], density ∝ S(y) brems_shape(y)/y) or the
        fraction v of a soft one (k = v y_min E, density ∝ S brems_shape(v y_min)), S the LPM
        suppression at ``y_lpm`` = E/E_LPM (:func:`calolab.physics.em.brems_suppression`)."""
        k = y_min.numel()
        out = torch.empty(k, dtype=self.dtype, device=self.device)
        todo = torch.arange(k, device=self.device)
        lny = torch.log(y_min)
        while todo.numel():
            u = self._rand(2, todo.numel())
            if soft:
                cand = u[0]
                y = cand * y_min[todo]
            else:
                cand = torch.exp(lny[todo] * u[0])
                y = cand
            ok = u[1] * (4.0 / 3.0) <= gf.brems_shape(y) * gf.brems_suppression(y, y_lpm[todo])
            out[todo[ok]] = cand[ok]
            todo = todo[~ok]
        return out

    # ------------------------------------------------------------------ EM showers
    def _em(
        self,
        ev: torch.Tensor,
        t0: torch.Tensor,
        energy: torch.Tensor,
        photon: torch.Tensor,
        uz: torch.Tensor,
        n_events: int,
    ) -> torch.Tensor:
        """Expected EM energy deposited per period ``(n_events, P)`` of the seeds given,
        without the followed leptons' ionisation, which goes to ``self._ion_dep`` (deposited)
        and ``self._ion_vis`` (seen in the sensitive layer where it lies, per readout layer)."""
        st = self._st
        n_p = st.t_lo.shape[0]
        dep = torch.zeros((n_events, n_p), dtype=self.dtype, device=self.device)
        ef = torch.clamp(FOLLOW_FRACTION * energy, min=FOLLOW_MIN_GEV)
        casc = (energy >= ef) & (uz >= 0.1) & (t0 < st.t_back)
        subs: list[tuple[torch.Tensor, ...]] = [
            (ev[~casc], t0[~casc], energy[~casc], photon[~casc], uz[~casc])
        ]
        ions: list[tuple[torch.Tensor, ...]] = []
        # ---- the first generations, all particles of the batch together
        a: tuple[torch.Tensor, ...] = (
            ev[casc],
            t0[casc],
            energy[casc],
            photon[casc],
            uz[casc],
            ef[casc],
        )
        for _ in range(_MAX_ITER):
            if a[0].numel() == 0:
                break
            a_ev, a_t, a_e, a_ph, a_uz, a_ef = a
            nxt: list[tuple[torch.Tensor, ...]] = []
            # photons: convert
            m = a_ph
            if m.any():
                p_ev, p_t, p_e, p_uz, p_ef = a_ev[m], a_t[m], a_e[m], a_uz[m], a_ef[m]
                t1 = p_t + self._exp(p_ev.numel()) * st.photon_mfp(p_e, p_t) * p_uz
                inside = t1 < st.t_back
                p_ev, t1, p_e, p_uz, p_ef = (x[inside] for x in (p_ev, t1, p_e, p_uz, p_ef))
                x = self._bethe_heitler(p_ev.numel())
                for ep in (p_e * x, p_e * (1.0 - x)):
                    follow = ep >= p_ef
                    nxt.append(
                        (
                            p_ev[follow],
                            t1[follow],
                            ep[follow],
                            torch.zeros_like(follow[follow]),
                            p_uz[follow],
                            p_ef[follow],
                        )
                    )
                    low = ~follow & (ep > 0)
                    subs.append(
                        (p_ev[low], t1[low], ep[low], torch.zeros_like(low[low]), p_uz[low])
                    )
            m = ~a_ph
            if m.any():
                e_ev, e_t, e_e, e_uz, e_ef = a_ev[m], a_t[m], a_e[m], a_uz[m], a_ef[m]
                k = e_ev.numel()
                y_min = (e_ef / e_e).clamp(max=1.0)
                y_lpm = e_e / self._lpm[st.section_of_t(e_t)]
                rate = gf.brems_hard_rate(y_min, y_lpm=y_lpm)
                soft = gf.brems_soft_fraction(y_min, y_lpm)
                dt = self._exp(k) / rate.clamp(min=1e-12)
                emit = dt <= MAX_STEP_X0
                dt = dt.clamp(max=MAX_STEP_X0)
                t1 = e_t + dt * e_uz
                out_back = t1 >= st.t_back
                e_ion, per_p, per_ro = st.ionise(e_t, torch.minimum(t1, st.t_back), e_e, e_uz)
                ions.append((e_ev, per_p, per_ro))
                e_soft = e_e * (-torch.expm1(-soft * dt))
                k_top = y_min * e_e
                e_e = e_e - e_soft - e_ion
                # soft photons along the step
                rem, idx = e_soft, torch.arange(k, device=self.device)
                while idx.numel():
                    v = self._brems_y(y_min[idx], True, y_lpm[idx])
                    k_ph = v * k_top[idx]
                    take_all = (k_ph > rem) | (k_ph <= 0)
                    k_ph = torch.where(take_all, rem, k_ph)
                    f = self._rand(idx.numel())
                    subs.append(
                        (
                            e_ev[idx],
                            e_t[idx] + f * (t1[idx] - e_t[idx]),
                            k_ph,
                            torch.ones_like(idx, dtype=torch.bool),
                            e_uz[idx],
                        )
                    )
                    rem = rem - k_ph
                    keep = (rem > 0) & ~take_all
                    idx, rem = idx[keep], rem[keep]
                alive = ~out_back
                # hard photon at the end of the step
                hard = alive & emit
                if hard.any():
                    yy = self._brems_y(y_min[hard], False, y_lpm[hard])
                    k_ph = yy * e_e[hard]
                    e_e = e_e.clone()
                    e_e[hard] = e_e[hard] - k_ph
                    h_ev, h_t, h_uz, h_ef = e_ev[hard], t1[hard], e_uz[hard], e_ef[hard]
                    follow = k_ph >= h_ef
                    nxt.append(
                        (
                            h_ev[follow],
                            h_t[follow],
                            k_ph[follow],
                            torch.ones_like(follow[follow]),
                            h_uz[follow],
                            h_ef[follow],
                        )
                    )
                    subs.append(
                        (
                            h_ev[~follow],
                            h_t[~follow],
                            k_ph[~follow],
                            torch.ones_like(follow[~follow]),
                            h_uz[~follow],
                        )
                    )
                below = alive & (e_e < e_ef)
                fin = below & (e_e > 0)
                subs.append((e_ev[fin], t1[fin], e_e[fin], torch.zeros_like(fin[fin]), e_uz[fin]))
                go = alive & ~below
                nxt.append(
                    (e_ev[go], t1[go], e_e[go], torch.zeros_like(go[go]), e_uz[go], e_ef[go])
                )
            if not nxt:
                break
            a = tuple(torch.cat([x[i] for x in nxt]) for i in range(6))
        # ---- sub-showers: photons convert, leptons ionise their first X0, then GFlash
        s_ev, s_t, s_e, s_ph, s_uz = (torch.cat([s[i] for s in subs]) for i in range(5))
        #: the sub-showers and ionisation of the last call (for diagnostics and tests)
        self.last_cascade = (s_ev, s_t, s_e, s_ph, ions)
        if s_ev.numel():
            t_conv = self._exp(s_ev.numel()) * st.photon_mfp(s_e, s_t)
            s_t = torch.where(s_ph, s_t + t_conv * s_uz, s_t)
            pair = s_ph & (s_e >= 2 * MIN_SHOWER_GEV)
            x = self._bethe_heitler(int(pair.sum()))
            keep = ~pair
            s_ev = torch.cat([s_ev[keep], s_ev[pair], s_ev[pair]])
            s_t = torch.cat([s_t[keep], s_t[pair], s_t[pair]])
            s_uz = torch.cat([s_uz[keep], s_uz[pair], s_uz[pair]])
            s_e = torch.cat([s_e[keep], s_e[pair] * x, s_e[pair] * (1.0 - x)])
            self.last_subshowers = (s_ev, s_t, s_e)
            # leading lepton's first X0
            lead = (s_e >= MIN_SHOWER_GEV) & (s_t < st.t_back) & (s_uz >= 0.1)
            sec = st.section_of_t(s_t)
            e_ion, per_p, per_ro = st.ionise(
                s_t, torch.minimum(s_t + LEPTON_START_X0 * s_uz, st.t_back), s_e, s_uz
            )
            e_ion = torch.where(lead, e_ion, torch.zeros_like(e_ion))
            ions.append((s_ev, per_p * lead[:, None], per_ro * lead[:, None]))
            s_e = s_e - e_ion
            dep = dep.index_add(0, s_ev, self._gflash(s_t, s_e, s_uz, sec, e_ion))
        # the followed leptons' ionisation: deposited in its periods, seen where it lies
        for i_ev, per_p, per_ro in ions:
            if i_ev.numel():
                self._ion_dep = self._ion_dep.index_add(0, i_ev, per_p.sum(1))
                self._ion_vis = self._ion_vis.index_add(0, i_ev, per_ro)
        return dep

    def _gflash(
        self,
        t0: torch.Tensor,
        energy: torch.Tensor,
        uz: torch.Tensor,
        sec: torch.Tensor,
        e_start: torch.Tensor,
    ) -> torch.Tensor:
        """Expected energy per period ``(K, P)`` of K GFlash sub-showers whose leading
        leptons deposited ``e_start`` explicitly (their profiles start later, the centre of
        gravity kept: :func:`calolab.physics.em.start_delay`)."""
        st = self._st
        k = energy.numel()
        z = self._normal(2, k)
        alpha = torch.empty(k, dtype=self.dtype, device=self.device)
        t_max = torch.empty_like(alpha)
        alpha_l, tmax_l, idx_l = [], [], []
        for s in range(st.n_sec):
            m = sec == s
            if not m.any():
                continue
            medium = st.tabs[s].medium
            e_m = energy[m].clamp(min=1e-6)
            fit = gf.longitudinal_moments(e_m.new_tensor([FLUCT_MIN_GEV]), medium)
            mom = gf.below_fit_range(gf.longitudinal_moments(e_m, medium), fit, e_m < FLUCT_MIN_GEV)
            t_i, a_i = gf.fluctuate_t_alpha(*mom, z[0, m], z[1, m])
            a_i = gf.tail_floor(t_i, a_i, medium.tail_beta_min)
            t_i, a_i = gf.photon_limited_slope(t_i, a_i, e_m, fit, FLUCT_MIN_GEV, medium)
            alpha_l.append(a_i)
            tmax_l.append(t_i)
            idx_l.append(torch.nonzero(m).squeeze(1))
        idx = torch.cat(idx_l)
        alpha = alpha.index_put((idx,), torch.cat(alpha_l))
        t_max = t_max.index_put((idx,), torch.cat(tmax_l))
        alpha = alpha.clamp(min=A_MIN, max=A_MAX - 1e-6)
        beta = (alpha - 1.0) / t_max
        small = energy < MIN_SHOWER_GEV
        delay = gf.start_delay(e_start, energy, alpha / beta, 0.5 * LEPTON_START_X0)
        t_point = t0
        t0 = t0 + torch.where(small, torch.zeros_like(delay), delay) * uz
        x_lo = beta[:, None] * (st.t_lo[None, :] - t0[:, None]) / uz[:, None]
        x_hi = beta[:, None] * (st.t_hi[None, :] - t0[:, None]) / uz[:, None]
        a2 = alpha[:, None].expand_as(x_lo)
        frac = gamma_cdf(a2, x_hi) - gamma_cdf(a2, x_lo)
        if small.any():
            point = st.spread(t_point, t_point + SMALL_SPREAD_X0 * uz)
            frac = torch.where(small[:, None], point, frac)
        # the albedo leaves through the front face: of each period's energy the share
        # η exp(-t/λ) averaged over the period (calolab.physics.em.albedo_escape)
        lam = gf.ALBEDO_LENGTH_X0
        front = st.tabs[int(st.period_sec[0])].medium
        drop = torch.exp(-st.t_lo / lam) - torch.exp(-st.t_hi / lam)
        stay = 1.0 - gf.albedo_share(front) * lam * drop / (st.t_hi - st.t_lo)
        return energy[:, None] * frac * stay[None, :]

    def _pi0_decay(self, n: int, e0: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The two photons of n π0 decays: event index, energy, direction cosine uz."""
        m = PI0_MASS_GEV
        if e0 <= m:
            raise ConfigError(f"pi0 energy {e0:g} GeV must exceed its mass {m} GeV")
        gamma = e0 / m
        beta = math.sqrt(max(0.0, 1.0 - 1.0 / gamma**2))
        cos_t = 2.0 * self._rand(n) - 1.0
        self._rand(n)  # azimuth (kept for the stream's layout)
        sin_t = torch.sqrt((1.0 - cos_t**2).clamp(min=0.0))
        evs, es, uzs = [], [], []
        for sign in (1.0, -1.0):
            c = sign * cos_t
            energy = 0.5 * e0 * (1.0 + beta * c)
            pz = gamma * 0.5 * m * (c + beta)
            pt = 0.5 * m * sin_t
            uz = pz / torch.sqrt(pz * pz + pt * pt)
            ok = uz > 1e-9
            evs.append(torch.arange(n, device=self.device)[ok])
            es.append(energy[ok])
            uzs.append(uz[ok])
        return torch.cat(evs), torch.cat(es), torch.cat(uzs)

    # ------------------------------------------------------------------ hadrons
    def _z_of_l(self, ell: torch.Tensor) -> torch.Tensor:
        """Depth z (cm) at ``ell`` nuclear interaction lengths (λ_I of each period)."""
        st = self._st
        lam_cm = (st.z_hi - st.z_lo) / (st.li_hi - st.li_lo).clamp(min=1e-12)
        part = (ell[:, None] - st.li_lo[None, :]).clamp(min=0.0)
        part = torch.minimum(part, (st.li_hi - st.li_lo)[None, :])
        beyond = (ell - st.li_hi[-1]).clamp(min=0.0) * lam_cm[-1]
        return (part * lam_cm[None, :]).sum(1) + beyond

    def _t_of_z(self, z: torch.Tensor) -> torch.Tensor:
        st = self._st
        part = (z[:, None] - st.z_lo[None, :]).clamp(min=0.0)
        part = torch.minimum(part, (st.z_hi - st.z_lo)[None, :])
        beyond = (z - st.z_hi[-1]).clamp(min=0.0) / st.x0_cm[-1]
        return (part / st.x0_cm[None, :]).sum(1) + beyond

    def _l_of_z(self, z: torch.Tensor) -> torch.Tensor:
        st = self._st
        lam_cm = (st.z_hi - st.z_lo) / (st.li_hi - st.li_lo).clamp(min=1e-12)
        part = (z[:, None] - st.z_lo[None, :]).clamp(min=0.0)
        part = torch.minimum(part, (st.z_hi - st.z_lo)[None, :])
        return (part / lam_cm[None, :]).sum(1)

    def _hadron(self, n: int, e0: float):  # type: ignore[no-untyped-def]
        st = self._st
        kw: dict[str, Any] = {"dtype": self.dtype, "device": self.device}
        # sub-layers: pion interaction lengths, thickness, position of the readout layer
        d_sub, lam_sub, loss_sub, ro_of_sub = [], [], [], []
        r = 0
        for s, j, f in zip(st.sub_sec, st.sub_idx, st.sub_frac):
            tb = st.tabs[s]
            d = tb.thickness[j] * f
            d_sub.append(d)
            lam_sub.append(d * tb.layer_inv_lam[j])
            loss_sub.append(tb.layer_pion_loss[j])
            if tb.sensitive[j]:
                ro_of_sub.append(r)
                r += 1
            else:
                ro_of_sub.append(-1)
        d_sub_t = torch.stack(d_sub)
        l_hi = torch.cumsum(torch.stack(lam_sub), 0)
        l_lo = l_hi - torch.stack(lam_sub)
        ell = self._exp(n)
        interacted = ell < l_hi[-1]
        # path fraction of each sub-layer before the interaction
        width = (l_hi - l_lo).clamp(min=1e-12)
        crossed = ((ell[:, None] - l_lo[None, :]) / width[None, :]).clamp(0.0, 1.0)
        track = crossed * d_sub_t[None, :] * torch.stack(loss_sub)[None, :]  # (B, sub) GeV
        track_dep = track.sum(1)
        local_vis = torch.zeros((n, len(st.ro_slot)), **kw)
        ro_idx = [i for i, ro in enumerate(ro_of_sub) if ro >= 0]
        local_vis = local_vis + track[:, ro_idx]
        z_int = (crossed * d_sub_t[None, :]).sum(1)
        self.last_interaction = (z_int, interacted)
        e_left = (e0 - track_dep).clamp(min=0.0)
        e_sh = torch.where(interacted, e_left, torch.zeros_like(e_left))
        # f_em, d_inv
        mean_em = hp.em_fraction_mean(e_sh.clamp(min=1e-6), False)
        kc = hp.EM_FRACTION_CONCENTRATION
        cm = (kc * mean_em).clamp(min=1e-3)
        cn = (kc * (1.0 - mean_em)).clamp(min=1e-3)
        f_em = _beta_rsample(cm, cn, self._gen)
        f_em = torch.where(mean_em > 1e-3, f_em, torch.zeros_like(f_em)).to(self.dtype)
        e_em = f_em * e_sh
        e_had = e_sh - e_em
        d_inv = self._normal(n) * hp.invisible_sigma(e_had.clamp(min=1e-3))
        # π0 photons, generation by generation
        l_int = self._l_of_z(z_int)
        evs, ts, es, uzs = self._pi0_photons(e_em, f_em, l_int, interacted)
        em_dep = self._em(evs, ts, es, torch.ones_like(evs, dtype=torch.bool), uzs, n)
        # non-EM energy: Gamma profile in λ_I from the interaction point
        alpha, beta = hp.hadronic_profile(torch.tensor(e0, **kw))
        x_lo = beta * (st.li_lo[None, :] - l_int[:, None])
        x_hi = beta * (st.li_hi[None, :] - l_int[:, None])
        a2 = alpha.expand_as(x_lo)
        prof = gamma_cdf(a2, x_hi) - gamma_cdf(a2, x_lo)
        f_inv_sec = torch.tensor([tb.had_f_inv for tb in st.tabs], **kw)[st.period_sec]
        f_inv = (f_inv_sec[None, :] + d_inv[:, None]).clamp(0.0, 0.95)
        had_raw = e_had[:, None] * prof
        had_dep = had_raw * (1.0 - f_inv)
        invisible = (had_raw * f_inv).sum(1)
        self._track_dep = track_dep
        return em_dep, had_dep, local_vis, invisible, l_int

    def _pi0_photons(
        self, e_em: torch.Tensor, f_em: torch.Tensor, l_int: torch.Tensor, ok: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Photons of the π0 generations (see HadronicShowerModel._pi0_photons): event,
        start depth t (X0), energy, direction cosine."""
        keep = 1.0 - hp.PI0_SHARE_PER_GENERATION
        fe = f_em.detach()
        n_gen = torch.clamp(
            torch.ceil(torch.log((1.0 - fe).clamp(min=1e-6)) / math.log(keep)), min=1
        ).long()
        n_gen = torch.where(ok & (e_em.detach() > 0), n_gen, torch.zeros_like(n_gen))
        g_max = int(n_gen.max()) if n_gen.numel() else 0
        if g_max == 0:
            z = torch.zeros(0, dtype=self.dtype, device=self.device)
            return torch.zeros(0, dtype=torch.long, device=self.device), z, z, z
        g = torch.arange(g_max, device=self.device)
        w = keep ** g.to(self.dtype)
        mask = g[None, :] < n_gen[:, None]
        wm = w[None, :] * mask
        e_gen = e_em[:, None] * wm / wm.sum(1, keepdim=True).clamp(min=1e-30)
        steps = self._exp(len(e_em), g_max)
        depth = torch.cumsum(torch.cat([torch.zeros_like(steps[:, :1]), steps[:, :-1]], 1), 1)
        ev_g, gi = torch.nonzero(mask, as_tuple=True)
        eg = e_gen[ev_g, gi]
        l_g = l_int[ev_g] + depth[ev_g, gi]
        t_g = self._t_of_z(self._z_of_l(l_g))
        lam = torch.log1p(eg.detach())
        n_pi0 = 1 + torch.poisson(lam, generator=self._gen).long()
        rep = torch.repeat_interleave(torch.arange(eg.numel(), device=self.device), n_pi0)
        x = self._exp(rep.numel())
        sums = torch.zeros(eg.numel(), dtype=self.dtype, device=self.device).index_add(0, rep, x)
        e_pi0 = x / sums[rep] * eg[rep]
        zz = self._rand(rep.numel())
        e_gam = torch.cat([zz * e_pi0, (1.0 - zz) * e_pi0])
        rep2 = torch.cat([rep, rep])
        pt = hp.PI0_MEAN_PT_GEV * self._exp(e_gam.numel())
        pos = e_gam > 0
        theta = torch.minimum(
            pt / torch.where(pos, e_gam, torch.ones_like(e_gam)),
            torch.tensor(1.2, dtype=self.dtype, device=self.device),
        )
        uz = torch.cos(theta)
        sel = pos
        return ev_g[rep2][sel], t_g[rep2][sel], e_gam[sel], uz[sel]

    # ------------------------------------------------------------------ lateral
    def _cell_edges(self, s: int, pos: tuple[float, float]) -> tuple[torch.Tensor, ...]:
        st = self._st
        tb = st.tabs[s]
        nx, ny = tb.grid
        kw: dict[str, Any] = {"dtype": self.dtype, "device": self.device}
        hx, hy = st.half
        xe = -hx + torch.arange(nx + 1, **kw) * tb.cell_size[0]
        ye = -hy + torch.arange(ny + 1, **kw) * tb.cell_size[1]
        xe[-1], ye[-1] = hx, hy
        x0 = (xe[:-1] - pos[0])[:, None].expand(nx, ny).reshape(-1)
        x1 = (xe[1:] - pos[0])[:, None].expand(nx, ny).reshape(-1)
        y0 = (ye[:-1] - pos[1])[None, :].expand(nx, ny).reshape(-1)
        y1 = (ye[1:] - pos[1])[None, :].expand(nx, ny).reshape(-1)
        return x0, x1, y0, y1

    def _em_lateral(self, e0: float, photon: bool, pos: tuple[float, float]) -> list[torch.Tensor]:
        """Fraction of each readout layer's EM energy in each of its cells (list over layers of
        ``(n_cells,)``): GFlash's radial profile of the seed at the layer's centre."""
        st = self._st
        kw: dict[str, Any] = {"dtype": self.dtype, "device": self.device}
        seed_med = st.tabs[0].medium
        e = torch.tensor([e0], **kw)
        t_seed = torch.exp(gf.longitudinal_moments(e, seed_med)[0])[0]
        t_c = 0.5 * (st.t_lo + st.t_hi)[st.ro_period]
        lam = st.photon_mfp(e, st.t_lo[:1])[0] if photon else 0.0
        tau = (t_c - lam).clamp(min=0.0) / t_seed
        rc, rt, pc = gf.radial_params(tau, math.log(e0), seed_med)
        if seed_med.photon_mu_min_cm is not None:
            # no component wider than its photons reach (EM model hybrid-26): R* = x*/μ
            cap = gf.photon_limited_radius(1.0) / (
                seed_med.photon_mu_min_cm * seed_med.moliere_radius_cm
            )
            rc, rt = torch.clamp(rc, max=cap), torch.clamp(rt, max=cap)
        out = []
        edges = [self._cell_edges(s, pos) for s in range(st.n_sec)]
        for r, s in enumerate(st.ro_sec):
            rm = st.tabs[s].medium.moliere_radius_cm
            x0, x1, y0, y1 = edges[s]
            out.append(
                pc[r] * lorentz2_rect(x0, x1, y0, y1, rc[r] * rm)
                + (1.0 - pc[r]) * lorentz2_rect(x0, x1, y0, y1, rt[r] * rm)
            )
        return out

    def _had_lateral(
        self, e0: float, l_int: torch.Tensor, pos: tuple[float, float]
    ) -> list[torch.Tensor]:
        """Per readout layer, ``(B, n_cells)`` fractions from the hadronic radial scale at
        the layer's depth from each event's interaction point (the π0 showers share it)."""
        st = self._st
        kw: dict[str, Any] = {"dtype": self.dtype, "device": self.device}
        l_c = 0.5 * (st.li_lo + st.li_hi)[st.ro_period]
        depth = (l_c[None, :] - l_int[:, None]).clamp(min=0.05)
        lam_cm = ((st.z_hi - st.z_lo) / (st.li_hi - st.li_lo).clamp(min=1e-12))[st.ro_period]
        radius = hp.radial_scale(torch.tensor(e0, **kw), depth) * lam_cm[None, :]
        out = []
        edges = [self._cell_edges(s, pos) for s in range(st.n_sec)]
        for r, s in enumerate(st.ro_sec):
            x0, x1, y0, y1 = edges[s]
            out.append(lorentz2_rect(x0, x1, y0, y1, radius[:, r : r + 1]))
        return out

    # ------------------------------------------------------------------ visible energy
    def _visible(
        self, dep: torch.Tensor, share: torch.Tensor, q: torch.Tensor, fluct: bool
    ) -> torch.Tensor:
        """Visible energy of deposits ``dep`` (B, R): share × dep, with Beta sampling
        fluctuations of relative variance q/dep where q > 0."""
        mean = dep * share[None, :]
        if not fluct or not bool((q > 0).any()):
            return mean
        mu = share[None, :].expand_as(dep).clamp(min=1e-6, max=1 - 1e-6)
        safe_dep = dep.clamp(min=1e-9)
        rel_var = q[None, :] / safe_dep
        total = ((1.0 - mu) / (mu * rel_var) - 1.0).clamp(min=1e-3)
        conc1 = mu * total
        conc0 = (1.0 - mu) * total
        f = _beta_rsample(conc1, conc0, self._gen)
        use = (q[None, :] > 0) & (dep > 1e-9)
        return torch.where(use, dep * f, mean)


def _log_gamma(a: torch.Tensor) -> torch.Tensor:
    """ln X, X ~ Gamma(a), reparametrised and stable for tiny shapes: X = G(a') U^(1/a) with
    a' = a + 1 where a < 1 (Marsaglia & Tsang's boost), G drawn by ``torch._standard_gamma``
    (gradient with respect to the shape by torch's implicit reparametrisation)."""
    small = a < 1.0
    g = torch._standard_gamma(torch.where(small, a + 1.0, a))
    u = torch.rand_like(a).clamp(min=1e-300 if a.dtype == torch.float64 else 1e-38)
    return torch.log(g.clamp(min=torch.finfo(a.dtype).tiny)) + torch.where(
        small, torch.log(u) / a, torch.zeros_like(a)
    )


def _beta_rsample(a: torch.Tensor, b: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Beta(a, b) draws, reparametrised: X/(X+Y) = sigmoid(ln X - ln Y) with X ~ Gamma(a),
    Y ~ Gamma(b) (:func:`_log_gamma`), seeded from ``gen`` (torch's Gamma sampler takes no
    generator: the global state is forked and seeded from a draw of ``gen``)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device).item())
    devices = [a.device] if a.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        lx = _log_gamma(a)
        ly = _log_gamma(b)
    return torch.sigmoid(lx - ly)


__all__ = ["SUPPORTED", "TorchShowers", "TorchSimulator"]
