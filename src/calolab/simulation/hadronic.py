"""Hadrons in the fast backend: π±, K0L, protons and neutrons.

A charged hadron enters as an ionising track (Bethe-Bloch with Landau fluctuations,
multiple scattering; deposits in ``MODE_LOCAL``) until its first inelastic interaction,
sampled material by material from the nuclear interaction length
(:func:`calolab.physics.hadronic.interaction_length_cm`). Neutral hadrons leave nothing
before they interact. A hadron that reaches the back or a side without interacting punches
through: its kinetic energy is leaked.

At the interaction point the kinetic energy is turned into a parametrised shower
(:class:`HadronicShowerModel`, physics in :mod:`calolab.physics.hadronic`): π0 photons
developed by the GFlash EM model, and the non-EM energy in equal spots deposited in
``MODE_HAD``. A spot inside the stack loses the invisible fraction of the section it lands in
(nuclear binding energy: that section's mean, from the nuclei it holds, plus one fluctuation
per shower); the rest is deposited, and its visible share (Wigmans' decomposition: ionising
hadrons, Birks-saturated protons, neutrons seen through hydrogen) and sampling fluctuations
come from :func:`calolab.physics.hadronic.hadronic_response`. A spot outside the stack leaks
whole. Depths are counted in nuclear interaction lengths of the effective medium of each
period, so a shower that starts in the ECAL continues in the HCAL with the HCAL's λ_I (and
the EM sub-showers with its X0).

Energy convention: the gun energy of a hadron is its kinetic energy (Geant4's convention).
Its rest mass is never deposited: for baryons it is conserved (baryon number), for mesons
the small extra energy a stopping or absorbed pion can release (≤ 0.14 GeV) is neglected.
Bookkeeping per event: deposited + leaked + invisible = kinetic energy, exactly.

Per-event truth extras: ``first_interaction_z_cm`` (NaN if the hadron did not interact) and
``em_fraction`` (f_em of the shower, NaN without a shower).
"""

from __future__ import annotations

import math

import numpy as np

from calolab.core.particles import particle_mass_gev
from calolab.physics import hadronic as hp
from calolab.simulation import fast
from calolab.simulation._transport import INTERACTED, STOPPED, perp_vectors
from calolab.simulation.event import EventContext
from calolab.simulation.gun import Primary
from calolab.simulation.stack import MODE_HAD, MODE_LOCAL, StackModel
from calolab.simulation.tracking import Tracker, build_track_tables, continuous_only, t_grid

#: Hadrons simulated by this module (PDG ids): π+, π-, K0L, p, n (charged kaons are not
#: registered: they would need their own interaction lengths and EM fractions).
HADRON_PDGS = (211, -211, 130, 2212, 2112)
#: Energy per hadronic spot, GeV (the spot count only sets the spatial sampling).
SPOT_ENERGY_GEV = 0.05
_MAX_SPOTS = 4000


class HadronicShowerModel:
    """Develops a hadronic shower from its interaction point (see module docstring)."""

    def __init__(self, stack: StackModel):
        self.stack = stack
        st = stack
        lam = st.section_lambda[st.period_section]  # cm per λ_I, per period
        width = st.period_hi - st.period_lo
        self.period_l_lo = np.concatenate([[0.0], np.cumsum(width / lam)])[:-1]
        self.total_l = float(self.period_l_lo[-1] + width[-1] / lam[-1])
        self.l_step = 0.002
        n = int(np.ceil((self.total_l + 2.0) / self.l_step)) + 2
        self.z_of_l_tab = self._z_of_l(np.arange(n) * self.l_step)
        #: mean invisible share of the non-EM energy of the nuclear interactions, per section
        self.section_f_inv = np.array(
            [hp.section_response(s).f_inv for s in stack.detector.sections]
        )
        #: deposited share of the non-EM energy that sets the spot count (≈ 1 spot per
        #: SPOT_ENERGY_GEV deposited; the count only sets the spatial sampling)
        self.spot_share = 1.0 - float(self.section_f_inv.mean())

    # ----------------------------------------------------------------- λ coordinate
    def l_of_z(self, z: np.ndarray) -> np.ndarray:
        """Cumulative nuclear interaction lengths (effective media) at depth z."""
        st = self.stack
        z = np.asarray(z, dtype=np.float64)
        p = st.period_of(z)
        lam = st.section_lambda[st.period_section[p]]
        return self.period_l_lo[p] + (z - st.period_lo[p]) / lam

    def _z_of_l(self, ell: np.ndarray) -> np.ndarray:
        st = self.stack
        p = np.clip(np.searchsorted(self.period_l_lo, ell, side="right") - 1, 0, None)
        lam = st.section_lambda[st.period_section[p]]
        return st.period_lo[p] + (ell - self.period_l_lo[p]) * lam

    def axis_distance(self, z0: float, uz: float, depth_l: np.ndarray) -> np.ndarray:
        """Distance (cm) along an axis starting at depth ``z0`` with direction cosine ``uz``
        after ``depth_l`` interaction lengths of the traversed media."""
        st = self.stack
        depth_l = np.asarray(depth_l, dtype=np.float64)
        if uz >= 0.1:
            ll = (float(self.l_of_z(np.array([z0]))[0]) + depth_l * uz) / self.l_step
            ll = np.minimum(ll, len(self.z_of_l_tab) - 1.001)
            i = ll.astype(np.int64)
            z = self.z_of_l_tab[i] + (self.z_of_l_tab[i + 1] - self.z_of_l_tab[i]) * (ll - i)
            return (z - z0) / uz
        lam0 = st.section_lambda[st.period_section[st.period_of(np.array([z0]))]][0]
        return depth_l * lam0

    # ----------------------------------------------------------------- shower
    def develop(
        self,
        ctx: EventContext,
        position: np.ndarray,
        direction: np.ndarray,
        energy_gev: float,
        pdg: int,
    ) -> float:
        """Shower of kinetic energy ``energy_gev`` starting at ``position`` (cm); returns f_em.

        Draws: one Beta variate (f_em), one normal (the fluctuation of f_inv), the π0
        cascade, then the hadronic spots (Gamma depths, uniforms for radius and azimuth).
        """
        rng = ctx.rng
        e = float(energy_gev)
        if e <= 0.0:
            return 0.0
        pos = np.asarray(position, dtype=np.float64)
        u = np.asarray(direction, dtype=np.float64)
        u = u / math.sqrt(float(u @ u))
        mean_em = float(hp.em_fraction_mean(np.asarray(e), hp.is_baryon(pdg), xp=np))
        f_em = 0.0
        if mean_em > 1e-3:
            k = hp.EM_FRACTION_CONCENTRATION
            f_em = float(rng.beta(k * mean_em, k * (1.0 - mean_em)))
        e_em = f_em * e
        e_had = e - e_em
        # one fluctuation of the invisible fraction per shower, added to each section's mean
        d_inv = float(rng.normal(0.0, float(hp.invisible_sigma(np.asarray(e_had), np))))
        if e_em > 0.0:
            self._pi0_photons(ctx, pos, u, e_em, f_em, rng)
        self._hadronic_spots(ctx, pos, u, e, e_had, d_inv, rng)
        return f_em

    def _pi0_photons(
        self,
        ctx: EventContext,
        pos: np.ndarray,
        u: np.ndarray,
        e_em: float,
        f_em: float,
        rng: np.random.Generator,
    ) -> None:
        """π0 photons generation by generation (Heitler-Matthews), sum of energies = e_em.

        Generation g (g = 0, 1, …) starts Σ_{k<g} Exp(1) interaction lengths after the
        interaction point and holds a share ∝ (2/3)^g of the EM energy; it emits
        1 + Poisson(ln(1 + E_g/GeV)) π0s sharing E_g uniformly (Dirichlet), each decaying
        into two photons with a uniform energy split (isotropic decay) at an angle
        p_T/E_γ to the shower axis, p_T exponential with mean 0.35 GeV.
        """
        keep = 1.0 - hp.PI0_SHARE_PER_GENERATION
        n_gen = max(1, math.ceil(math.log(max(1.0 - f_em, 1e-6)) / math.log(keep)))
        w = keep ** np.arange(n_gen)
        e_gen = e_em * w / w.sum()
        depth_l = np.concatenate([[0.0], np.cumsum(rng.standard_exponential(n_gen - 1))])
        s_gen = self.axis_distance(float(pos[2]), float(u[2]), depth_l)
        n_pi0 = 1 + rng.poisson(np.log1p(e_gen))
        gen = np.repeat(np.arange(n_gen), n_pi0)
        x = rng.standard_exponential(len(gen))
        first = np.concatenate([[0], np.cumsum(n_pi0)[:-1]])
        e_pi0 = x / np.add.reduceat(x, first)[gen] * e_gen[gen]
        z = rng.random(len(gen))
        e_gam = np.concatenate([z * e_pi0, (1.0 - z) * e_pi0])
        gen2 = np.concatenate([gen, gen])
        pt = hp.PI0_MEAN_PT_GEV * rng.standard_exponential(len(e_gam))
        phi = 2.0 * math.pi * rng.random(len(e_gam))
        ok = e_gam > 0.0
        theta = np.minimum(pt / np.where(ok, e_gam, 1.0), 1.2)
        e1, e2 = perp_vectors(u)
        st, ct = np.sin(theta), np.cos(theta)
        d = (
            ct[:, None] * u[None, :]
            + (st * np.cos(phi))[:, None] * e1[None, :]
            + (st * np.sin(phi))[:, None] * e2[None, :]
        )
        start = (pos[None, :] + s_gen[gen2][:, None] * u[None, :])[ok].tolist()
        for p0, d0, eg in zip(start, d[ok].tolist(), e_gam[ok].tolist()):
            ctx.add_em_shower(p0, d0, eg, photon=True)

    def _hadronic_spots(
        self,
        ctx: EventContext,
        pos: np.ndarray,
        u: np.ndarray,
        e_shower: float,
        e_had: float,
        d_inv: float,
        rng: np.random.Generator,
    ) -> None:
        """Non-EM energy ``e_had`` in equal spots; each spot inside the stack loses the
        invisible fraction of its section (mean + ``d_inv``), a spot outside leaks whole."""
        if e_had <= 0.0:
            return
        st = self.stack
        n = int(min(max(round(e_had * self.spot_share / SPOT_ENERGY_GEV), 8), _MAX_SPOTS))
        e_arr = np.asarray(e_shower)
        alpha, beta = hp.hadronic_profile(e_arr, np)
        t = rng.standard_gamma(float(alpha), n) / float(beta)
        s = self.axis_distance(float(pos[2]), float(u[2]), t)
        ax = pos[None, :] + s[:, None] * u[None, :]
        sec = st.period_section[st.period_of(ax[:, 2])]
        lam_cm = st.section_lambda[sec]
        trans = hp.RADIAL_FLUCTUATION_LO + rng.random()
        radius = hp.radial_scale(e_arr, t, np) * trans * lam_cm
        umax = hp.RADIAL_MAX_FACTOR**2 / (1.0 + hp.RADIAL_MAX_FACTOR**2)
        uu = rng.random(n) * umax
        r = radius * np.sqrt(uu / (1.0 - uu))
        phi = 2.0 * math.pi * rng.random(n)
        e1, e2 = perp_vectors(u)
        c, sn = r * np.cos(phi), r * np.sin(phi)
        pts = ax + c[:, None] * e1[None, :] + sn[:, None] * e2[None, :]
        x, y, z = pts[:, 0], pts[:, 1], pts[:, 2]
        inside = (z >= 0.0) & (z < st.depth) & (np.abs(x) < st.half_x) & (np.abs(y) < st.half_y)
        f_inv = np.clip(self.section_f_inv[sec] + d_inv, 0.0, 0.95) * inside
        e_spot = e_had / n
        ctx.add_invisible(float(e_spot * f_inv.sum()))
        ctx.add_deposits(MODE_HAD, x, y, z, e_spot * (1.0 - f_inv))


class HadronHandler:
    """Handler of one hadron species (see module docstring)."""

    extras_names = ("first_interaction_z_cm", "em_fraction")

    def __init__(self, stack: StackModel, model: HadronicShowerModel, pdg: int):
        self.stack = stack
        self.model = model
        self.pdg = pdg
        self.mass = particle_mass_gev(pdg)
        charged = pdg not in (130, 2112)
        ln_t = t_grid()
        tables = build_track_tables(
            stack,
            lambda m: continuous_only(m, self.mass, ln_t),
            lambda m: hp.interaction_length_cm(m, pdg),
        )
        self.tracker = Tracker(stack, tables, mass_gev=self.mass, charged=charged)

    def __call__(self, primary: Primary, ctx: EventContext) -> None:
        res = self.tracker.run(ctx.rng, primary.entry, primary.direction, primary.energy)
        d = res.deposits
        if len(d):
            ctx.add_deposits(MODE_LOCAL, d[:, 0], d[:, 1], d[:, 2], d[:, 3])
        t_left = float(res.state[6])
        ctx.extras["first_interaction_z_cm"] = math.nan
        ctx.extras["em_fraction"] = math.nan
        if res.status == INTERACTED:
            ctx.extras["first_interaction_z_cm"] = float(res.state[2])
            f_em = self.model.develop(ctx, res.state[:3], res.state[3:6], t_left, self.pdg)
            ctx.extras["em_fraction"] = f_em
        elif res.status != STOPPED:
            ctx.add_escaped(t_left)


def _factory(stack: StackModel) -> dict[int, fast.Handler]:
    model = HadronicShowerModel(stack)
    handlers: dict[int, fast.Handler] = {}

    def lazy(pdg: int) -> fast.Handler:
        cache: list[HadronHandler] = []

        class _Lazy:
            extras_names = HadronHandler.extras_names

            def __call__(self, primary: Primary, ctx: EventContext) -> None:
                if not cache:
                    cache.append(HadronHandler(stack, model, pdg))
                cache[0](primary, ctx)

        return _Lazy()

    for pdg in HADRON_PDGS:
        handlers[pdg] = lazy(pdg)
    return handlers


if _factory not in fast.HANDLER_FACTORIES:
    fast.HANDLER_FACTORIES.append(_factory)

__all__ = ["HADRON_PDGS", "HadronHandler", "HadronicShowerModel"]
