"""Compiled per-spot kernels (numba).

The GFlash formulas are evaluated once per shower, in :mod:`calolab.physics.em` (numpy or
torch). What remains per spot — a table lookup for the depth, one for the radial profile,
the position and the cell — is fused here into one loop, because doing it as ~70 separate
numpy passes costs ~90 ns per spot and a 50 GeV shower in PbWO4 has ~12,000 spots.

All random numbers are drawn beforehand from the event's numpy generator and passed in, so
the kernel is deterministic and results do not depend on how events are batched. The
transcendental functions of the uniforms (log, square root, sine, cosine) are evaluated by
numpy, whose SIMD loops are several times faster than scalar libm calls.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from calolab.physics.em import albedo_quantum, albedo_quantum_mean
from calolab.physics.photon import compton_back_energy_mev


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy", inline="always")
def _gamma_quantile(wj, ia, fa, qw_tab, qlog_tab, lnw_lo, inv_lnw_step, w_step, tail_c):
    """Quantile q of the standard Gamma(α) at u = 1 - exp(-w) and its importance weight
    exp(-tail_c q) (tabulated beside the quantiles: ``qw_tab[..., 0]`` and ``[..., 1]``, side
    by side so that one cache line serves both), α between rows ia and ia + 1 of the tables
    (fraction fa); ``wj`` is w divided by the grid step ``w_step``."""
    n_w = qw_tab.shape[1]
    n_l = qlog_tab.shape[1]
    if wj < 1.0:
        # first w step: ln Q is nearly linear in ln w there (Q ~ w^(1/α))
        lw = wj * w_step
        fl = (math.log(lw) - lnw_lo) * inv_lnw_step if lw > 0.0 else 0.0
        if fl < 0.0:
            fl = 0.0
        if fl > n_l - 1.001:
            fl = n_l - 1.001
        il = int(fl)
        fl -= il
        lq0 = qlog_tab[ia, il] + (qlog_tab[ia, il + 1] - qlog_tab[ia, il]) * fl
        lq1 = qlog_tab[ia + 1, il] + (qlog_tab[ia + 1, il + 1] - qlog_tab[ia + 1, il]) * fl
        q = math.exp(lq0 + (lq1 - lq0) * fa)
        return q, math.exp(-tail_c * q)
    if wj > n_w - 1.001:
        wj = n_w - 1.001
    wi = int(wj)
    wf = wj - wi
    # nearest α row (steps of 0.05: < 1 % on the profile, far below GFlash's precision)
    ir = ia + 1 if fa >= 0.5 else ia
    q = qw_tab[ir, wi, 0] + (qw_tab[ir, wi + 1, 0] - qw_tab[ir, wi, 0]) * wf
    g = qw_tab[ir, wi, 1] + (qw_tab[ir, wi + 1, 1] - qw_tab[ir, wi, 1]) * wf
    return q, g


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy", inline="always")
def _photon_tail(r, radius, r_s, mu, y_of_x, x_of_y, inv_step):
    """The radius of a spot drawn at GFlash radius r > r_s, moved onto the photon
    attenuation tail (:func:`calolab.physics.em.radial_far_tail`): the same survival
    probability, S_G(r) = S_G(r_s) Ki2(μ r')/Ki2(μ r_s), solved for r' with the tables of
    -ln Ki2 and its inverse (linear interpolation; beyond them, -ln Ki2(x) ≈ x + ln(x)/2 + c).
    """
    excess = math.log((r * r + radius * radius) / (r_s * r_s + radius * radius))
    xs = mu * r_s * inv_step
    n_x = y_of_x.shape[0]
    if xs > n_x - 1.001:
        xs = n_x - 1.001
    i = int(xs)
    y = y_of_x[i] + (y_of_x[i + 1] - y_of_x[i]) * (xs - i) + excess
    yj = y * inv_step
    n_y = x_of_y.shape[0]
    if yj > n_y - 1.001:
        # asymptotic: each unit of -ln Ki2 beyond the table adds about one unit of x
        x = x_of_y[n_y - 1] + (yj - (n_y - 1)) / inv_step
    else:
        j = int(yj)
        x = x_of_y[j] + (x_of_y[j + 1] - x_of_y[j]) * (yj - j)
    return x / mu


# Homogeneous media: the backward share of a photon spot in soft quanta (see em_spots_into).
#: 1 / the largest energy (GeV) of a backward quantum: m_e c²/2, the most a photon
#: Compton-scattered straight back can carry.
INV_BACK_QUANTUM_GEV = 2.0 / 0.51099895e-3
#: At most this many backward quanta per spot (4 give the same Geant4 comparison as 16).
BACK_PARTS_MAX = 4
#: Where the shower is sparse enough for the backward quanta to matter, and only there (in
#: the dense body of the shower one piece or several make no difference to a cell, and the
#: split of every spot costs a third of the simulation's speed): spots whose axis point lies
#: within this many X0 of the event's first sub-shower start (the layers in front of the
#: shower and the front face) ...
BACK_SPLIT_DEPTH_X0 = 4.0
#: ... and the deepest tenth of each sub-shower's spots, w = -ln(1 - u) > ln 10 (the tail).
BACK_SPLIT_TAIL_W = math.log(10.0)


#: :func:`calolab.physics.photon.compton_back_energy_mev` (plain arithmetic), compiled.
_compton_back_energy_mev = njit(cache=True, nogil=True, fastmath=True, error_model="numpy")(
    compton_back_energy_mev
)


#: :func:`calolab.physics.em.albedo_quantum` (plain arithmetic), compiled for the kernel.
_albedo_quantum = njit(cache=True, nogil=True, fastmath=True, error_model="numpy")(albedo_quantum)


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _albedo_quantum_mean(es, lo, hi):
    """:func:`calolab.physics.em.albedo_quantum_mean` of one spot energy ``es``."""
    if es <= lo:
        return es
    c = 1.0 / (1.0 / lo - 1.0 / hi)
    if es >= hi:
        return c * math.log(hi / lo)
    return c * (math.log(es / lo) + 1.0 - es / hi)


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy", inline="always")
def _period_at(z, period_lut, inv_period_step, period_lo):
    """Period of depth ``z`` (cm, inside the stack): the lookup table's entry, or the next
    period where z lies past its start (a table bin holds at most one boundary)."""
    n_lut = period_lut.shape[0]
    li = int(z * inv_period_step)
    if li > n_lut - 1:
        li = n_lut - 1
    p = period_lut[li]
    if p + 1 < period_lo.shape[0] and z >= period_lo[p + 1]:
        p += 1
    return p


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy", inline="always")
def _p_back_at(x, slope_tab, inv_x_step):
    """``(p_back, ix, fx)``: the probability that the photon of a spot at x = μ r goes
    backwards (the table's column 2 n_u), and the row ``ix`` and fraction ``fx`` of x."""
    n_x, n_c = slope_tab.shape
    n_u = (n_c - 2) // 2
    fx = x * inv_x_step
    if fx > n_x - 1.001:
        fx = n_x - 1.001
    ix = int(fx)
    fx -= ix
    p_b = slope_tab[ix, 2 * n_u] + (slope_tab[ix + 1, 2 * n_u] - slope_tab[ix, 2 * n_u]) * fx
    return p_b, ix, fx


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy", inline="always")
def _p_back(x, slope_tab, inv_x_step):
    """Probability that the photon of a spot at x = μ r goes backwards."""
    return _p_back_at(x, slope_tab, inv_x_step)[0]


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy", inline="always")
def _back_photon_energy(x, back_k, inv_x_step):
    """Mean energy (GeV) of a back-scattered photon of a spot at x = μ r (``back_k``: one
    section's row of the table, :func:`calolab.physics.photon.backward_photon_energy_table`)."""
    n_x = back_k.shape[0]
    fx = x * inv_x_step
    if fx > n_x - 1.001:
        fx = n_x - 1.001
    ix = int(fx)
    return back_k[ix] + (back_k[ix + 1] - back_k[ix]) * (fx - ix)


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy", inline="always")
def _photon_slope(x, u, slope_tab, inv_x_step, inv_u_step):
    """Axial offset per unit radius of a photon-tail spot at x = μ r from one uniform ``u``,
    with the table of its section (:func:`calolab.physics.photon.directional_slope_table`):
    ``(tan θ - ⟨tan θ⟩, ⟨tan θ⟩)``, tan θ backwards when u < p_back(x), |tan θ| from that
    side's inverse CDF at u rescaled to (0, 1), ⟨tan θ⟩ its mean at x. GFlash's depth of a
    spot is already where its energy is deposited on average, so the photon's path spreads
    the far tail's deposits along the axis (far forwards, little backwards) without moving
    their mean; the photon left the axis r ⟨tan θ⟩ before the spot's depth, which cannot
    lie before its sub-shower's start (see :func:`em_spots_into`)."""
    n_c = slope_tab.shape[1]
    n_u = (n_c - 2) // 2
    p_b, ix, fx = _p_back_at(x, slope_tab, inv_x_step)
    if u < p_b:
        sign = -1.0
        v = u / p_b
        c0 = 0
    else:
        sign = 1.0
        v = (u - p_b) / (1.0 - p_b)
        c0 = n_u
    fu = v * inv_u_step
    if fu > n_u - 1.001:
        fu = n_u - 1.001
    iu = int(fu)
    fu -= iu
    iu += c0
    a = slope_tab[ix, iu] + (slope_tab[ix, iu + 1] - slope_tab[ix, iu]) * fu
    b = slope_tab[ix + 1, iu] + (slope_tab[ix + 1, iu + 1] - slope_tab[ix + 1, iu]) * fu
    m = slope_tab[ix, n_c - 1] + (slope_tab[ix + 1, n_c - 1] - slope_tab[ix, n_c - 1]) * fx
    return sign * (a + (b - a) * fx) - m, m


@njit(cache=True, nogil=True)
def sparse_sum(flat, weights):
    """``np.bincount(flat, weights)`` restricted to the cells hit: (ascending cells, sums);
    each sum adds its weights in their order, from 0, as bincount does (a stable sort, then
    one pass)."""
    order = np.argsort(flat, kind="mergesort")
    cells = np.empty(flat.shape[0], dtype=np.int64)
    sums = np.empty(flat.shape[0])
    n = -1
    last = -1
    for k in range(order.shape[0]):
        i = order[k]
        if n < 0 or flat[i] != last:
            n += 1
            last = flat[i]
            cells[n] = last
            sums[n] = 0.0
        sums[n] += weights[i]
    return cells[: n + 1], sums[: n + 1]


@njit(cache=True, nogil=True)
def period_columns(
    x,  # (D,) float64 deposits inside the stack, cm
    y,
    z,
    e,  # (D,) float64 GeV
    depth,  # float
    period_lut,  # (n_lut,) int32
    period_step,  # float
    period_lo,  # (P,) float64
    period_ro_first,  # (P,) int64
    period_section,  # (P,) int64
    half_x,  # float
    half_y,  # float
    section_cell_x,  # (S,) float64
    section_cell_y,  # (S,) float64
    section_nx,  # (S,) int64
    section_ny,  # (S,) int64
    section_slots,  # (S,) int64 sensitive layers per period
    ro_offset,  # (R+1,) int64
    flat,  # (D * max slots,) int64 output: cell of each entry
    weights,  # (D * max slots,) float64 output: its energy
):
    """The period-columns of point deposits (:meth:`calolab.simulation.binning.Binner._smeared`):
    for every deposit in a period with sensitive layers, the cell of each of its sensitive
    slots and the deposit's energy — every deposit's first slot, then the second slot of those
    that have one, and so on. The arithmetic is :meth:`StackModel.period_of`'s and the
    binning's, operation for operation (no fast-math: the same cells at the boundaries).
    Returns the number of entries."""
    n_p = period_lo.shape[0]
    n_dep = x.shape[0]
    n = 0
    slot = 0
    more = True
    while more:
        more = False
        for i in range(n_dep):
            zc = min(max(z[i], 0.0), depth)
            p = period_lut[np.int64(zc / period_step)]
            nxt = min(p + 1, n_p - 1)
            if zc >= period_lo[nxt]:
                p = nxt
            first = period_ro_first[p]
            if first < 0:
                continue
            sec = period_section[p]
            if slot >= section_slots[sec]:
                continue
            if slot + 1 < section_slots[sec]:
                more = True
            ix = np.int64((x[i] + half_x) / section_cell_x[sec])
            iy = np.int64((y[i] + half_y) / section_cell_y[sec])
            ix = min(ix, section_nx[sec] - 1)
            iy = min(iy, section_ny[sec] - 1)
            flat[n] = ro_offset[first + slot] + ix * section_ny[sec] + iy
            weights[n] = e[i]
            n += 1
        slot += 1
    return n


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def em_spots_into(
    w,  # (N,) float32 depth variable w = -ln(1-u) divided by the w-grid step
    u_rad,  # (N,) float32 uniform for the radius (it also picks core or tail)
    cos_phi,  # (N,) float32 azimuth
    sin_phi,  # (N,) float32
    wt,  # (N,) float32 energy weight of the spot
    n_spots,  # (K,) int64
    energy,  # (K,) float64: energy of each shower, GeV (shared by its spots)
    start,  # (K, 3) float64 shower start, cm
    axis,  # (K, 3) float64 unit direction
    e1,  # (K, 3) float64 unit vector ⟂ axis
    e2,  # (K, 3) float64 unit vector ⟂ axis and e1
    inv_beta,  # (K,) float64: 1/β of the Gamma profile (X0); 0 for point-like showers
    t_start,  # (K,) float64: cumulative X0 (along z) of the start point
    tau_scale,  # (K,) float64: τ per X0, divided by the τ-grid step
    tau_off,  # (K,) float64: X0 between the start of the shower whose radial profile it
    #           follows and this (sub-)shower's start
    x0_local,  # (K,) float64: X0 (cm) at the start, for showers not going forward
    a_lo,  # (K,) int64: row of the α grid below the shower's α
    a_fr,  # (K,) float64: position of α between rows a_lo and a_lo + 1
    qw_tab,  # (n_a, n_w, 2) float32 Gamma quantiles on the grid w = -ln(1-u) ([..., 0])
    #          and importance weights exp(-tail_c q) on the same grid ([..., 1])
    qlog_tab,  # (n_a, n_l) float32 ln of the quantiles on a grid of ln w (first w step)
    lnw_lo,  # float: ln w of the first column of qlog_tab
    inv_lnw_step,  # float
    w_step,  # float: step of the w grid
    inv_kappa,  # float: 1/κ of the depth importance sampling
    tail_c,  # float: (1 - κ)/κ
    homogeneous,  # (K,) int64: 1 where the shower starts in a homogeneous medium
    halo_odds,  # float: odds factor λ of the tail component's spots in homogeneous media
    rad_row,  # (K,) int64 row of the radial tables
    rad_core,  # (R, n_tau) float32
    rad_tail,  # (R, n_tau) float32
    p_core,  # (R, n_tau) float32
    rs_core,  # (R, n_tau) float32 radius (Molière units) where the photon tail takes over
    rs_tail,  # (R, n_tau) float32
    row_mu,  # (R,) float64 minimum photon attenuation coefficient per Molière radius
    ki_y_of_x,  # (n_x,) float64 -ln Ki2(x) on x = i * ki_step
    ki_x_of_y,  # (n_y,) float64 its inverse on y = i * ki_step
    inv_ki_step,  # float
    u_dir,  # (N,) float32 uniform for the axial offset of photon-tail spots
    slope_tab,  # (n_sections, n_x, 2 n_u + 2) float64 axial slopes of photon-tail spots
    inv_slope_x_step,  # float
    inv_slope_u_step,  # float
    u_alb,  # (N,) float32 uniform for the spot's albedo quantum
    u_back,  # (N,) float32 uniform for the number of a spot's back-scattered photons
    back_k,  # (n_sections, n_x) float64 mean energy (GeV) of a back-scattered photon at x
    albedo_eta,  # float: share of a spot's energy at the front face that leaves backwards
    albedo_inv_lambda,  # float: 1/X0 of the decay of that share with the depth
    albedo_lo,  # float: smallest albedo quantum (GeV)
    albedo_hi,  # float: largest albedo quantum (GeV)
    z_of_t,  # (n_t,) float64 depth z (cm) at cumulative X0 = i * t_step
    inv_t_step,  # float
    period_lut,  # (n_lut,) int32
    inv_period_step,  # float
    period_lo,  # (P,) float64
    period_section,  # (P,) int64
    period_ro_first,  # (P,) int64
    section_rm,  # (S,) float64 Molière radius, cm
    section_cell_x,  # (S,) float64
    section_cell_y,  # (S,) float64
    section_nx,  # (S,) int64
    section_ny,  # (S,) int64
    section_slots,  # (S,) int64 sensitive layers per period
    ro_offset,  # (R+1,) int64
    depth,  # float
    half_x,  # float
    half_y,  # float
    dep,  # (n_cells,) float64 output: EM energy deposited per period-column, accumulated
):
    """Develop K showers into spots and accumulate them into ``dep``.

    Every shower's depths are importance-sampled (the tail gets more, lighter spots). In
    homogeneous media (``homogeneous`` 1) the radial component is importance-sampled too:
    GFlash's tail component (the deposits of the shower's photons) is drawn with its odds
    against the core times ``halo_odds`` and weighted back (p/p' for the core, (1 - p)/(1 -
    p') for the tail, p' = p/(p + λ(1 - p))), so that the halo has more, lighter spots. Its
    weights are normalised over the whole event, not per sub-shower: a sub-shower of a few
    spots would otherwise keep its energy whatever component its spots fell in, and take
    the core with probability p' instead of p. In those media a photon spot in a sparse
    part of the shower (near the event's first sub-shower start or in the deepest tenth of
    its sub-shower) is deposited as its forward share in one piece and its backward share
    p_b E_spot in parts at stratified backward directions (module constants;
    :mod:`calolab.simulation.em`, "Spots"): near the first start, where the layers in front
    of the shower see single photons, as back-scattered photons — their number the expected
    one, p_b E_spot over the mean photon energy ``back_k``, rounded stochastically with
    ``u_back``, each carrying the Compton energy of its direction
    (:func:`calolab.physics.photon.compton_back_energy_mev`, 255–511 keV; the forward piece
    keeps the rest); in the deep tail in up to :data:`BACK_PARTS_MAX` equal soft quanta. A
    forward photon's part lies no earlier than its sub-shower's start plus its own offset;
    a backward one that would cross the front face is placed on it. Each spot may send one
    albedo quantum out through the front face
    (:mod:`calolab.simulation.em`, "The albedo"; counted as leaked).

    Returns ``(deposited, leaked)`` in GeV: energy inside the stack (including periods with
    no readout) and energy of spots outside it.
    """
    n_tau = rad_core.shape[1]
    n_t = z_of_t.shape[0]
    one_section = section_rm.shape[0] == 1
    rows_per_section = row_mu.shape[0] // slope_tab.shape[0]
    deposited = 0.0
    leaked = 0.0
    # first pass: every spot's depth and energy. The depth's importance weights e^{-(1-κ)q/κ}
    # (Gamma(α, κβ) draws: the mean profile unchanged, the tail with more, lighter spots),
    # times the spots' own weights, are normalised to each sub-shower's energy; the radial
    # weights of homogeneous media (halo_odds) to the event's
    n_all = w.shape[0]
    q_all = np.empty(n_all)
    e_all = np.empty(n_all)
    p_all = np.empty(n_all)  # the core's sampling probability (p', or p without halo odds)
    ti_all = np.empty(n_all, dtype=np.int64)  # the τ node of the spot's radial profile
    radial = halo_odds != 1.0
    e_before = 0.0
    e_after = 0.0
    j = 0
    for k in range(n_spots.shape[0]):
        ia = a_lo[k]
        fa = a_fr[k]
        rr = rad_row[k]
        acc = 0.0
        for m in range(j, j + n_spots[k]):
            q, g = _gamma_quantile(
                w[m], ia, fa, qw_tab, qlog_tab, lnw_lo, inv_lnw_step, w_step, tail_c
            )
            q_all[m] = q
            g *= wt[m]
            e_all[m] = g
            acc += g
        scale = energy[k] / acc if acc > 0.0 else 0.0
        halo = radial and homogeneous[k] != 0
        for m in range(j, j + n_spots[k]):
            es = scale * e_all[m]
            # the radial profile at this depth: its nearest τ node
            ti = int((q_all[m] * inv_beta[k] * inv_kappa + tau_off[k]) * tau_scale[k] + 0.5)
            if ti > n_tau - 1:
                ti = n_tau - 1
            if ti < 0:
                ti = 0
            ti_all[m] = ti
            pc = p_core[rr, ti]
            p_all[m] = pc
            if halo:
                ps = pc / (pc + halo_odds * (1.0 - pc))
                p_all[m] = ps
                e_before += es
                es *= pc / ps if u_rad[m] < ps else (1.0 - pc) / (1.0 - ps)
                e_after += es
            e_all[m] = es
        j += n_spots[k]
    halo_norm = e_before / e_after if e_after > 0.0 else 1.0
    j = 0
    # depth of the event's first sub-shower: backward photons reach the layers in front of the
    # shower (and leave through the front face) only from its first radiation lengths
    z_first = depth
    for k in range(n_spots.shape[0]):
        if start[k, 2] < z_first:
            z_first = start[k, 2]
    for k in range(n_spots.shape[0]):
        forward = axis[k, 2] >= 0.1
        inv_uz = 1.0 / axis[k, 2] if forward else 0.0
        rr = rad_row[k]
        # the sub-shower's section tables, taken once (a view per spot costs its reference
        # counting, and the row's integer division, more than the lookups themselves)
        i_sec = rr // rows_per_section
        stab = slope_tab[i_sec]
        bk = back_k[i_sec]
        mu_row = row_mu[rr]
        hom = homogeneous[k]
        halo = radial and hom != 0
        for _ in range(n_spots[k]):
            es = e_all[j] * halo_norm if halo else e_all[j]
            t = q_all[j] * inv_beta[k] * inv_kappa
            ti = ti_all[j]
            # one uniform picks the component (u < p: core) and, rescaled to [0, 1) within
            # it, the radius r = R sqrt(v/(1-v)) of the 2rR²/(r²+R²)² profile
            u = u_rad[j]
            pc = p_all[j]
            if u < pc:
                v = u / pc
                radius = rad_core[rr, ti]
                r_s = rs_core[rr, ti]
            else:
                v = (u - pc) / (1.0 - pc)
                radius = rad_tail[rr, ti]
                r_s = rs_tail[rr, ti]
            if v > 0.999999:
                v = 0.999999
            r = radius * math.sqrt(v / (1.0 - v))
            # axis position
            if forward:
                tt = (t_start[k] + t * axis[k, 2]) * inv_t_step
                if tt > n_t - 1.001:
                    tt = n_t - 1.001
                ii = int(tt)
                z_ax = z_of_t[ii] + (z_of_t[ii + 1] - z_of_t[ii]) * (tt - ii)
                s = (z_ax - start[k, 2]) * inv_uz
            else:
                s = t * x0_local[k]
                z_ax = start[k, 2] + s * axis[k, 2]
            front = z_ax < z_first + BACK_SPLIT_DEPTH_X0 * x0_local[k]
            sparse = front or w[j] * w_step > BACK_SPLIT_TAIL_W
            # the albedo: one quantum leaves through the front face with the probability
            # p = η exp(-t/λ) E_spot / <quantum> that makes its mean η exp(-t/λ) of the
            # spot's energy; a bound first (<quantum> ≥ min(E_spot, lo), exp(-x) ≤
            # 1/(1 + x + x²/2)): the exponential and the mean only where the uniform may
            # fall below p
            ua = u_alb[j]
            t_face = t_start[k] + t * axis[k, 2]
            if t_face < 0.0:
                t_face = 0.0
            x_alb = t_face * albedo_inv_lambda
            if albedo_eta > 0.0 and ua * (1.0 + x_alb + 0.5 * x_alb * x_alb) < albedo_eta * max(
                1.0, es / albedo_lo
            ):
                e_mean = es * albedo_eta * math.exp(-x_alb)
                q_mean = _albedo_quantum_mean(es, albedo_lo, albedo_hi)
                if e_mean >= q_mean:  # a spot too large for one quantum: its mean share
                    leaked += e_mean
                    es -= e_mean
                elif ua * q_mean < e_mean:
                    e_q = _albedo_quantum(ua * q_mean / e_mean, albedo_lo, albedo_hi)
                    if e_q > es:
                        e_q = es
                    leaked += e_q
                    es -= e_q
            slope = 0.0
            m_slope = 0.0
            if r > r_s:
                r = _photon_tail(r, radius, r_s, mu_row, ki_y_of_x, ki_x_of_y, inv_ki_step)
            # the spots of the photon tail and of GFlash's tail component (the photons'
            # deposits, R_T) lie at an axial offset from their axis point
            n_part = 1
            n_back = 1
            p_b = 0.0
            photons = False  # the backward share as back-scattered photons
            x_mu = mu_row * r
            if r > r_s or u >= pc:
                if hom != 0 and sparse:
                    p_b = _p_back(x_mu, stab, inv_slope_x_step)
                    if p_b > 0.0 and front:
                        photons = True
                        k_mean = _back_photon_energy(x_mu, bk, inv_slope_x_step)
                        n_back = int(es * p_b / k_mean + u_back[j])
                        n_part = 1 + n_back
                    elif p_b > 0.0:
                        n_back = int(es * p_b * INV_BACK_QUANTUM_GEV) + 1
                        if n_back > BACK_PARTS_MAX:
                            n_back = BACK_PARTS_MAX
                        n_part = 1 + n_back  # the slopes of the parts are drawn below
                if n_part == 1:
                    # (no back-scattered photon: the spot's photon goes forwards)
                    slope, m_slope = _photon_slope(
                        x_mu,
                        p_b + (1.0 - p_b) * u_dir[j] if photons else u_dir[j],
                        stab,
                        inv_slope_x_step,
                        inv_slope_u_step,
                    )
            # Molière radius of the period at the axis point
            if one_section:
                r *= section_rm[0]
            else:
                p = _period_at(min(max(z_ax, 0.0), depth), period_lut, inv_period_step, period_lo)
                r *= section_rm[period_section[p]]
            c = r * cos_phi[j]
            sn = r * sin_phi[j]
            ud = u_dir[j]
            j += 1
            e_part = es
            e_left = es  # what the back-scattered photons leave to the forward piece
            for i_part in range(n_part):
                # back-scattered photons first (the forward piece keeps what they leave)
                part = (i_part + 1) % n_part if photons else i_part
                if n_part > 1:
                    # the spot's photons in both directions: its forward share at the
                    # forward side's quantile of ud, its backward share in n_back parts at
                    # stratified backward quantiles
                    if part == 0:
                        uq = p_b + (1.0 - p_b) * ud
                        e_part = e_left if photons else es * (1.0 - p_b)
                    else:
                        uq = p_b * (part - 1 + ud) / n_back
                        e_part = es * p_b / n_back
                    slope, m_slope = _photon_slope(
                        x_mu, uq, stab, inv_slope_x_step, inv_slope_u_step
                    )
                    if photons and part > 0:
                        # the Compton energy of its direction: m c²/(1 + sin|θ|)
                        e_part = 1e-3 * _compton_back_energy_mev(slope + m_slope)
                        if e_part > e_left:
                            e_part = e_left
                        e_left -= e_part
                # a photon-tail spot lies at the axial offset r (tan θ - <tan θ>) from its
                # axis point; its photon left the axis r <tan θ> before that, not before the
                # sub-shower's start
                dz = r * slope
                back = slope + m_slope < 0.0
                if not back and s < r * m_slope:
                    dz += r * m_slope - s
                x = start[k, 0] + (s + dz) * axis[k, 0] + c * e1[k, 0] + sn * e2[k, 0]
                y = start[k, 1] + (s + dz) * axis[k, 1] + c * e1[k, 1] + sn * e2[k, 1]
                z = z_ax + dz * axis[k, 2] + c * e1[k, 2] + sn * e2[k, 2]
                if back and z < 0.0:
                    z = 0.0
                if z < 0.0 or z >= depth or abs(x) >= half_x or abs(y) >= half_y:
                    leaked += e_part
                    continue
                deposited += e_part
                p = _period_at(z, period_lut, inv_period_step, period_lo)
                first = period_ro_first[p]
                if first < 0:
                    continue
                sec = period_section[p]
                ix = int((x + half_x) / section_cell_x[sec])
                iy = int((y + half_y) / section_cell_y[sec])
                ny = section_ny[sec]
                if ix > section_nx[sec] - 1:
                    ix = section_nx[sec] - 1
                if iy > ny - 1:
                    iy = ny - 1
                within = ix * ny + iy
                for slot in range(section_slots[sec]):
                    dep[ro_offset[first + slot] + within] += e_part
    return deposited, leaked


def _p_back_reference(slope_tab, rows, x, inv_x_step):
    """:func:`_p_back_at` of many spots (``rows``: each spot's section in ``slope_tab``):
    ``(p_back, ix, fx)``."""
    n_x, n_c = slope_tab.shape[1:]
    n_u = (n_c - 2) // 2
    fx = np.minimum(x * inv_x_step, n_x - 1.001)
    ix = fx.astype(np.int64)
    fx = fx - ix
    p_b = (
        slope_tab[rows, ix, 2 * n_u]
        + (slope_tab[rows, ix + 1, 2 * n_u] - slope_tab[rows, ix, 2 * n_u]) * fx
    )
    return p_b, ix, fx


def _photon_slope_reference(slope_tab, rows, x, u, inv_x_step, inv_u_step):
    """:func:`_photon_slope` of many spots (``rows``: each spot's section in ``slope_tab``)."""
    tab = slope_tab
    n_c = tab.shape[2]
    n_u = (n_c - 2) // 2
    p_b, ix, fx = _p_back_reference(slope_tab, rows, x, inv_x_step)
    back = u < p_b
    sign = np.where(back, -1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(back, u / p_b, (u - p_b) / (1.0 - p_b))
    fu = np.minimum(v * inv_u_step, n_u - 1.001)
    iu = fu.astype(np.int64)
    fu = fu - iu
    iu = iu + np.where(back, 0, n_u)
    a = tab[rows, ix, iu] + (tab[rows, ix, iu + 1] - tab[rows, ix, iu]) * fu
    b = tab[rows, ix + 1, iu] + (tab[rows, ix + 1, iu + 1] - tab[rows, ix + 1, iu]) * fu
    mean = tab[rows, ix, n_c - 1] + (tab[rows, ix + 1, n_c - 1] - tab[rows, ix, n_c - 1]) * fx
    return sign * (a + (b - a) * fx) - mean, mean


def em_spots_reference(
    w,
    u_rad,
    cos_phi,
    sin_phi,
    wt,
    n_spots,
    energy,
    start,
    axis,
    e1,
    e2,
    inv_beta,
    t_start,
    tau_scale,
    tau_off,
    x0_local,
    a_lo,
    a_fr,
    qw_tab,
    qlog_tab,
    lnw_lo,
    inv_lnw_step,
    w_step,
    inv_kappa,
    tail_c,
    homogeneous,
    halo_odds,
    rad_row,
    rad_core,
    rad_tail,
    p_core,
    rs_core,
    rs_tail,
    row_mu,
    ki_y_of_x,
    ki_x_of_y,
    inv_ki_step,
    u_dir,
    slope_tab,
    inv_slope_x_step,
    inv_slope_u_step,
    u_alb,
    u_back,
    back_k,
    albedo_eta,
    albedo_inv_lambda,
    albedo_lo,
    albedo_hi,
    z_of_t,
    inv_t_step,
    period_lut,
    inv_period_step,
    period_lo,
    period_section,
    period_ro_first,
    section_rm,
    section_cell_x,
    section_cell_y,
    section_nx,
    section_ny,
    section_slots,
    ro_offset,
    depth,
    half_x,
    half_y,
    dep,
):
    """Plain-numpy implementation of :func:`em_spots_into` (same arguments and result).

    Used to test the compiled kernel and as the comparison in the simulation benchmark.
    """
    k = np.repeat(np.arange(len(n_spots)), n_spots)
    q_tab, wq_tab = qw_tab[..., 0], qw_tab[..., 1]
    n_w, n_l, n_tau, n_t = q_tab.shape[1], qlog_tab.shape[1], rad_core.shape[1], len(z_of_t)
    ia, fa = a_lo[k], a_fr[k]
    wj = np.minimum(w.astype(np.float64), n_w - 1.001)
    wi = wj.astype(np.int64)
    wf = wj - wi
    ir = np.where(fa >= 0.5, ia + 1, ia)
    q = q_tab[ir, wi] + (q_tab[ir, wi + 1] - q_tab[ir, wi]) * wf
    g = wq_tab[ir, wi] + (wq_tab[ir, wi + 1] - wq_tab[ir, wi]) * wf
    first_step = wj < 1.0
    if first_step.any():
        lw = wj[first_step] * w_step
        with np.errstate(divide="ignore"):
            fl = np.where(lw > 0, (np.log(np.where(lw > 0, lw, 1.0)) - lnw_lo) * inv_lnw_step, 0.0)
        fl = np.clip(fl, 0.0, n_l - 1.001)
        il = fl.astype(np.int64)
        fl = fl - il
        a0, f0 = ia[first_step], fa[first_step]
        lq0 = qlog_tab[a0, il] + (qlog_tab[a0, il + 1] - qlog_tab[a0, il]) * fl
        lq1 = qlog_tab[a0 + 1, il] + (qlog_tab[a0 + 1, il + 1] - qlog_tab[a0 + 1, il]) * fl
        q[first_step] = np.exp(lq0 + (lq1 - lq0) * f0)
        g[first_step] = np.exp(-tail_c * q[first_step])
    hom = homogeneous[k] != 0
    imp = wt * g
    starts = np.concatenate([[0], np.cumsum(n_spots)[:-1]]).astype(np.int64)
    sums = np.add.reduceat(imp, starts) if len(imp) else np.zeros(0)
    e_spot = energy[k] / np.where(sums > 0, sums, 1.0)[k] * imp
    t = q * inv_beta[k] * inv_kappa
    ti = np.clip(np.floor((t + tau_off[k]) * tau_scale[k] + 0.5).astype(np.int64), 0, n_tau - 1)
    rr = rad_row[k]
    pc = p_core[rr, ti].astype(np.float64)
    halo = hom & (halo_odds != 1.0)
    if halo.any():
        # the radial importance sampling of homogeneous media, normalised over the event
        ps = pc / (pc + halo_odds * (1.0 - pc))
        with np.errstate(divide="ignore", invalid="ignore"):  # p = 0 or 1: one side unused
            factor = np.where(u_rad < ps, pc / ps, (1.0 - pc) / (1.0 - ps))
        before = e_spot[halo].sum()
        e_spot = np.where(halo, e_spot * factor, e_spot)
        after = e_spot[halo].sum()
        e_spot = np.where(halo, e_spot * (before / after if after > 0.0 else 1.0), e_spot)
        pc = np.where(halo, ps, pc)
    core = u_rad < pc
    v = np.where(
        core, u_rad / np.where(core, pc, 1.0), (u_rad - pc) / np.where(core, 1.0, 1.0 - pc)
    )
    v = np.minimum(v, 0.999999)
    radius = np.where(core, rad_core[rr, ti], rad_tail[rr, ti]).astype(np.float64)
    r = radius * np.sqrt(v / (1.0 - v))
    r_s = np.where(core, rs_core[rr, ti], rs_tail[rr, ti]).astype(np.float64)
    far = r > r_s
    if far.any():
        mu = row_mu[rr[far]]
        rf, rad_f, rs_f = r[far], radius[far], r_s[far]
        excess = np.log((rf * rf + rad_f * rad_f) / (rs_f * rs_f + rad_f * rad_f))
        xs = np.minimum(mu * rs_f * inv_ki_step, len(ki_y_of_x) - 1.001)
        i = xs.astype(np.int64)
        y = ki_y_of_x[i] + (ki_y_of_x[i + 1] - ki_y_of_x[i]) * (xs - i) + excess
        yj = y * inv_ki_step
        n_y = len(ki_x_of_y)
        j = np.minimum(yj, n_y - 1.001).astype(np.int64)
        x = np.where(
            yj > n_y - 1.001,
            ki_x_of_y[-1] + (yj - (n_y - 1)) / inv_ki_step,
            ki_x_of_y[j] + (ki_x_of_y[j + 1] - ki_x_of_y[j]) * (yj - j),
        )
        r[far] = x / mu
    fw = axis[k, 2] >= 0.1
    tt = np.minimum((t_start[k] + t * axis[k, 2]) * inv_t_step, n_t - 1.001)
    ii = tt.astype(np.int64)
    z_fw = z_of_t[ii] + (z_of_t[ii + 1] - z_of_t[ii]) * (tt - ii)
    s = np.where(fw, (z_fw - start[k, 2]) / axis[k, 2], t * x0_local[k])
    z_ax = np.where(fw, z_fw, start[k, 2] + s * axis[k, 2])
    z_first = min(depth, float(start[:, 2].min())) if len(start) else depth
    front = z_ax < z_first + BACK_SPLIT_DEPTH_X0 * x0_local[k]
    sparse = front | (w.astype(np.float64) * w_step > BACK_SPLIT_TAIL_W)
    e_alb = np.zeros(len(r))
    if albedo_eta > 0.0:  # one albedo quantum per spot at most (see em_spots_into)
        t_face = np.maximum(t_start[k] + t * axis[k, 2], 0.0)
        e_mean = e_spot * albedo_eta * np.exp(-t_face * albedo_inv_lambda)
        q_mean = albedo_quantum_mean(e_spot, albedo_lo, albedo_hi, xp=np)
        ua = u_alb.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = ua * q_mean / e_mean
        e_q = np.minimum(albedo_quantum(np.minimum(v, 1.0), albedo_lo, albedo_hi), e_spot)
        e_alb = np.where(e_mean >= q_mean, e_mean, np.where(v < 1.0, e_q, 0.0))
        e_spot = e_spot - e_alb
    slope = np.zeros(len(r))
    m_slope = np.zeros(len(r))
    e = e_spot
    src = np.arange(len(r))
    offs = far | ~core  # the photon tail and GFlash's tail component: photons' deposits
    if offs.any():
        io = np.flatnonzero(offs)
        ud = u_dir[io].astype(np.float64)
        sec_o = rr[io] // (len(row_mu) // len(slope_tab))
        x_mu = row_mu[rr[io]] * r[io]
        p_b = _p_back_reference(slope_tab, sec_o, x_mu, inv_slope_x_step)[0]
        # homogeneous media: the backward share as back-scattered photons near the first
        # start, in equal soft quanta in the deep tail (see em_spots_into)
        split = hom[io] & sparse[io] & (p_b > 0.0)
        photons = split & front[io]
        uq = np.where(split, p_b + (1.0 - p_b) * ud, ud)
        slope[io], m_slope[io] = _photon_slope_reference(
            slope_tab, sec_o, x_mu, uq, inv_slope_x_step, inv_slope_u_step
        )
        e = e_spot.copy()
        parts = [(split & ~photons, False), (photons, True)]
        for sel, as_photons in parts:
            if not sel.any():
                continue
            i_s, pb_s, ud_s = io[sel], p_b[sel], ud[sel]
            e_s = e_spot[i_s]
            if as_photons:
                fx = np.minimum(x_mu[sel] * inv_slope_x_step, back_k.shape[1] - 1.001)
                ix = fx.astype(np.int64)
                bk = back_k[sec_o[sel]]
                rows = np.arange(len(ix))
                k_mean = bk[rows, ix] + (bk[rows, ix + 1] - bk[rows, ix]) * (fx - ix)
                n_back = (e_s * pb_s / k_mean + u_back[i_s].astype(np.float64)).astype(np.int64)
            else:
                n_back = np.minimum(
                    (e_s * pb_s * INV_BACK_QUANTUM_GEV).astype(np.int64) + 1, BACK_PARTS_MAX
                )
            rep = np.repeat(np.arange(len(i_s)), n_back)
            part = np.arange(len(rep)) - np.repeat(np.cumsum(n_back) - n_back, n_back)
            uq_b = pb_s[rep] * (part + ud_s[rep]) / n_back[rep]
            slope_b, m_b = _photon_slope_reference(
                slope_tab,
                sec_o[sel][rep],
                x_mu[sel][rep],
                uq_b,
                inv_slope_x_step,
                inv_slope_u_step,
            )
            if as_photons:
                # the Compton energy of each photon's direction, m c²/(1 + sin|θ|), as long
                # as the spot has energy left; the forward piece keeps the rest
                k_b = 1e-3 * compton_back_energy_mev(slope_b + m_b)
                before = np.cumsum(k_b) - k_b
                prior = before - before[np.repeat(np.cumsum(n_back) - n_back, n_back)]
                e_b = np.clip(e_s[rep] - prior, 0.0, k_b)
                e[i_s] = e_s - np.bincount(rep, e_b, minlength=len(i_s))
            else:
                e[i_s] = e_s * (1.0 - pb_s)
                e_b = e_s[rep] * pb_s[rep] / n_back[rep]
            src = np.concatenate([src, i_s[rep]])
            slope = np.concatenate([slope, slope_b])
            m_slope = np.concatenate([m_slope, m_b])
            e = np.concatenate([e, e_b])
    k, r, cos_phi, sin_phi, s, z_ax = k[src], r[src], cos_phi[src], sin_phi[src], s[src], z_ax[src]

    def period(z):
        li = np.minimum((z * inv_period_step).astype(np.int64), len(period_lut) - 1)
        p = period_lut[li]
        nxt = np.minimum(p + 1, len(period_lo) - 1)
        return np.where((p + 1 < len(period_lo)) & (z >= period_lo[nxt]), nxt, p)

    r = r * section_rm[period_section[period(np.clip(z_ax, 0.0, depth))]]
    c, sn = r * cos_phi, r * sin_phi
    dz = r * slope
    back = slope + m_slope < 0.0
    dz = dz + np.where(back, 0.0, np.maximum(r * m_slope - s, 0.0))
    x = start[k, 0] + (s + dz) * axis[k, 0] + c * e1[k, 0] + sn * e2[k, 0]
    y = start[k, 1] + (s + dz) * axis[k, 1] + c * e1[k, 1] + sn * e2[k, 1]
    z = z_ax + dz * axis[k, 2] + c * e1[k, 2] + sn * e2[k, 2]
    z = np.where(back & (z < 0.0), 0.0, z)
    inside = (z >= 0) & (z < depth) & (np.abs(x) < half_x) & (np.abs(y) < half_y)
    leaked = float(e[~inside].sum() + e_alb.sum())
    deposited = float(e[inside].sum())
    x, y, z, e = x[inside], y[inside], z[inside], e[inside]
    p = period(z)
    first = period_ro_first[p]
    keep = first >= 0
    p, first, x, y, e = p[keep], first[keep], x[keep], y[keep], e[keep]
    sec = period_section[p]
    ix = np.minimum(((x + half_x) / section_cell_x[sec]).astype(np.int64), section_nx[sec] - 1)
    iy = np.minimum(((y + half_y) / section_cell_y[sec]).astype(np.int64), section_ny[sec] - 1)
    within = ix * section_ny[sec] + iy
    for slot in range(int(section_slots.max())):
        m = section_slots[sec] > slot
        np.add.at(dep, ro_offset[first[m] + slot] + within[m], e[m])
    return deposited, leaked
