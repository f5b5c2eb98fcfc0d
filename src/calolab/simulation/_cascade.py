"""The first generations of an electromagnetic cascade, followed particle by particle (numba).

Hybrid fast simulation as in H1's and CMS's fast simulations (GFlash used for sub-showers
below an energy, the high-energy part of the cascade simulated explicitly): every
electron or photon above the *follow energy* of its shower is tracked along its axis in
radiation lengths of the stack's effective media:

* a photon travels an exponential distance with the mean free path of its energy (Compton
  scattering + pair production, :func:`calolab.physics.photon.interaction_length_x0`; 9/7 X0
  at high energy) and converts into an e⁺e⁻
  pair whose energy split follows the Bethe–Heitler spectrum :func:`calolab.physics.em.pair_shape`
  (complete screening); a photon that leaves the stack first is leaked;
* an electron (or positron) radiates: the distance to the next photon with y = k/E above
  y_min = E_follow/E is exponential with the rate :func:`~calolab.physics.em.brems_hard_rate`,
  y is drawn from :func:`~calolab.physics.em.brems_shape`/y, both with the LPM suppression
  S = min(1, √(y E_LPM/E)) of photons below k_LPM = E²/E_LPM
  (:func:`~calolab.physics.em.brems_suppression`; E_LPM = 7.7 TeV/cm · X0 of the section's
  radiator: above ~100 GeV in lead and tungsten it thins the soft photons of the first X0); steps are at most one X0 (the
  draw is memoryless, so a longer flight is cut into steps without emission). Along each step
  it loses (a) the energy radiated into softer photons, fraction
  :func:`~calolab.physics.em.brems_soft_fraction` per X0, emitted as photon sub-showers
  whose energies follow the energy-weighted spectrum brems_shape(y) dy below y_min, at
  uniform positions along the step (one photon of the summed energy would start a deeper
  shower: ⟨ln k⟩ matters, not only Σk), and (b) its ionisation: the electron collision stopping power
  (:func:`calolab.physics.ionisation.electron_collision_loss`, ICRU 37) of each physical
  sub-layer it crosses times the path length there, deposited in that sub-layer;
* particles below the follow energy — the soft photons and the electrons that fall below
  it — leave the cascade as sub-showers, developed by GFlash
  (:mod:`calolab.simulation.em`).

All random numbers come from the ``u`` array (uniforms drawn beforehand from the event's
generator), so the kernel is deterministic. The pure-Python version of the same code
(:func:`em_cascade`.py_func) is the reference the compiled one is tested against.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from calolab.physics import em as gf
from calolab.simulation._transport import landau_from_uniform

_brems_shape = njit(cache=True)(gf.brems_shape)
_pair_shape = njit(cache=True)(gf.pair_shape)
_brems_suppression = njit(cache=True)(gf.brems_suppression)


@njit(cache=True, nogil=True, error_model="numpy")
def _brems_rates(y_min, y_lpm):
    """Hard-photon rate per X0 above ``y_min`` and the soft fraction radiated below it, with
    the LPM suppression at y_lpm = E/E_LPM: :func:`calolab.physics.em.brems_hard_rate` and
    :func:`~calolab.physics.em.brems_soft_fraction` for floats (tested to agree)."""
    m = y_lpm if y_lpm > y_min else y_min
    if m > 1.0:
        m = 1.0
    n = y_lpm if y_lpm < y_min else y_min
    root = math.sqrt(y_lpm + 1e-30)
    rate = -4.0 / 3.0 * math.log(m) - 4.0 / 3.0 * (1.0 - m) + 0.5 * (1.0 - m * m)
    rate += (
        math.sqrt(m) * (8.0 / 3.0 - 8.0 / 9.0 * m + 0.4 * m * m)
        - math.sqrt(y_min) * (8.0 / 3.0 - 8.0 / 9.0 * y_min + 0.4 * y_min * y_min)
    ) / root
    soft = n * math.sqrt(n) * (8.0 / 9.0 - 8.0 / 15.0 * n + 2.0 / 7.0 * n * n) / root
    soft += y_min * (4.0 / 3.0 - 2.0 / 3.0 * y_min + y_min * y_min / 3.0)
    soft -= n * (4.0 / 3.0 - 2.0 / 3.0 * n + n * n / 3.0)
    return rate, soft


#: Columns of the seed rows: x, y, z (cm), ux, uy, uz, energy (GeV), photon (0/1), spot
#: energy (GeV: the mean energy of one GFlash spot of the shower the particle belongs to),
#: index of the seed the particle descends from.
N_COLS = 10
#: Longest step of an electron between two draws, in X0.
MAX_STEP_X0 = 1.0


@njit(cache=True, nogil=True, error_model="numpy")
def _period_at(z, period_lut, inv_period_step, period_lo):
    """Index of the period at depth z (the first below 0, the last beyond the end)."""
    n_lut = period_lut.shape[0]
    n_p = period_lo.shape[0]
    zc = z if z > 0.0 else 0.0
    li = int(zc * inv_period_step)
    if li > n_lut - 1:
        li = n_lut - 1
    p = period_lut[li]
    while p + 1 < n_p and zc >= period_lo[p + 1]:
        p += 1
    return p


@njit(cache=True, nogil=True, error_model="numpy")
def _lne_at(e, lne_lo, inv_lne_step, n_e):
    """Row and fraction of ``e`` (an energy in GeV, or an energy fraction) in a table of
    ``n_e`` columns linear in its logarithm (clamped to the table)."""
    fe = (math.log(e) - lne_lo) * inv_lne_step
    if fe < 0.0:
        fe = 0.0
    if fe > n_e - 1.001:
        fe = n_e - 1.001
    ie = int(fe)
    return ie, fe - ie


@njit(cache=True, nogil=True, error_model="numpy")
def _t_of_z(z, period_lut, inv_period_step, period_lo, period_t_lo, period_section, section_x0):
    """Cumulative X0 (along z) at depth z; linear beyond the ends."""
    p = _period_at(z, period_lut, inv_period_step, period_lo)
    return period_t_lo[p] + (z - period_lo[p]) / section_x0[period_section[p]]


@njit(cache=True, nogil=True, error_model="numpy")
def _photon_mfp(
    z, e, mfp_tab, period_lut, inv_period_step, period_lo, period_section, lne_lo, inv_lne_step
):
    """Mean free path (X0) of a photon of energy ``e`` (GeV) at depth z, from the table of its
    section (linear in ln E)."""
    sec = period_section[_period_at(z, period_lut, inv_period_step, period_lo)]
    ie, fe = _lne_at(e, lne_lo, inv_lne_step, mfp_tab.shape[1])
    return mfp_tab[sec, ie] + (mfp_tab[sec, ie + 1] - mfp_tab[sec, ie]) * fe


@njit(cache=True, nogil=True, error_model="numpy")
def _z_of_t(t, z_of_t, inv_t_step, x0_last):
    """Depth z at cumulative X0 t (table; beyond it, the last period's X0)."""
    n_t = z_of_t.shape[0]
    tt = t * inv_t_step
    if tt < 0.0:
        tt = 0.0
    if tt >= n_t - 1:
        return z_of_t[n_t - 1] + (tt - (n_t - 1)) / inv_t_step * x0_last
    i = int(tt)
    return z_of_t[i] + (z_of_t[i + 1] - z_of_t[i]) * (tt - i)


@njit(cache=True, nogil=True, error_model="numpy")
def _ionise(
    x,
    y,
    z,
    x1,
    y1,
    z1,
    uz,
    e,
    out_dep,
    n_dep,
    sub_lut,
    inv_sub_step,
    sub_lo,
    sub_hi,
    sub_mat,
    dedx_tab,
    lne_lo,
    inv_lne_step,
):
    """Ionisation of an electron of energy ``e`` from (x, y, z) to (x1, y1, z1): the
    collision loss of each sub-layer times the path in it, one deposit row per sub-layer
    appended to ``out_dep`` from row ``n_dep``; at most half of ``e`` (only reached at the very
    end of a track). Returns the new row count (-1 when ``out_dep`` is full) and the energy."""
    cap_dep = out_dep.shape[0]
    n_sub = sub_lo.shape[0]
    n_sub_lut = sub_lut.shape[0]
    zc = z
    li = int(zc * inv_sub_step)
    if li > n_sub_lut - 1:
        li = n_sub_lut - 1
    if li < 0:
        li = 0
    i = sub_lut[li]
    while i + 1 < n_sub and zc >= sub_lo[i + 1]:
        i += 1
    ie, fe = _lne_at(e, lne_lo, inv_lne_step, dedx_tab.shape[1])
    e_ion = 0.0
    first_dep = n_dep
    while zc < z1 and i < n_sub:
        zend = sub_hi[i] if sub_hi[i] < z1 else z1
        if zend > zc:
            mi = sub_mat[i]
            dedx = dedx_tab[mi, ie] + (dedx_tab[mi, ie + 1] - dedx_tab[mi, ie]) * fe
            de = dedx * (zend - zc) / uz
            if de > 0.0:
                if n_dep >= cap_dep:
                    return -1, 0.0
                zm = 0.5 * (zc + zend)
                f = (zm - z) / (z1 - z) if z1 > z else 0.0
                out_dep[n_dep, 0] = x + f * (x1 - x)
                out_dep[n_dep, 1] = y + f * (y1 - y)
                out_dep[n_dep, 2] = zm
                out_dep[n_dep, 3] = de
                n_dep += 1
                e_ion += de
        zc = zend
        i += 1
    if e_ion > 0.5 * e:
        scale = 0.5 * e / e_ion
        for j in range(first_dep, n_dep):
            out_dep[j, 3] *= scale
        e_ion = 0.5 * e
    return n_dep, e_ion


@njit(cache=True, nogil=True, error_model="numpy")
def lepton_starts(
    rows,  # (K, N_COLS) float64 electron sub-showers (rows[:, 6] is reduced in place)
    length_x0,  # float: length of the start followed, X0
    min_energy,  # float: only sub-showers above this energy (GeV)
    z_of_t,
    inv_t_step,
    x0_last,
    period_lut,
    inv_period_step,
    period_lo,
    period_t_lo,
    period_section,
    section_x0,
    sub_lut,
    inv_sub_step,
    sub_lo,
    sub_hi,
    sub_mat,
    dedx_tab,
    lne_lo,
    inv_lne_step,
    depth,
    out_dep,  # (D, 4) float64 output: ionisation deposits
    row_end,  # (K,) int64 output: deposit rows of rows 0 … k
):
    """The ionisation of the leading lepton of every GFlash sub-shower over its first
    ``length_x0`` radiation lengths, taken out of the sub-shower's energy (GFlash's Gamma
    profile vanishes at the start, where a real shower starts with its lepton's ionisation).
    Returns the number of deposit rows (-1 when ``out_dep`` is full); a row's deposits
    follow those of the rows before it (``row_end``)."""
    n_dep = 0
    for k in range(rows.shape[0]):
        row_end[k] = n_dep
        e = rows[k, 6]
        uz = rows[k, 5]
        z = rows[k, 2]
        if rows[k, 7] > 0.5 or e < min_energy or uz < 0.1 or z < 0.0 or z >= depth:
            continue
        t0 = _t_of_z(
            z, period_lut, inv_period_step, period_lo, period_t_lo, period_section, section_x0
        )
        z1 = _z_of_t(t0 + length_x0 * uz, z_of_t, inv_t_step, x0_last)
        if z1 > depth:
            z1 = depth
        s = (z1 - z) / uz
        x1 = rows[k, 0] + s * rows[k, 3]
        y1 = rows[k, 1] + s * rows[k, 4]
        n_new, e_ion = _ionise(
            rows[k, 0],
            rows[k, 1],
            z,
            x1,
            y1,
            z1,
            uz,
            e,
            out_dep,
            n_dep,
            sub_lut,
            inv_sub_step,
            sub_lo,
            sub_hi,
            sub_mat,
            dedx_tab,
            lne_lo,
            inv_lne_step,
        )
        if n_new < 0:
            return -1
        n_dep = n_new
        row_end[k] = n_dep
        rows[k, 6] = e - e_ion
    return n_dep


@njit(cache=True, nogil=True)
def _set_row(target, row, x, y, z, ux, uy, uz, e, photon, spot, sid):
    """Write one particle into row ``row`` of ``target`` (the columns of :data:`N_COLS`)."""
    target[row, 0] = x
    target[row, 1] = y
    target[row, 2] = z
    target[row, 3] = ux
    target[row, 4] = uy
    target[row, 5] = uz
    target[row, 6] = e
    target[row, 7] = photon
    target[row, 8] = spot
    target[row, 9] = sid


@njit(cache=True, nogil=True, error_model="numpy")
def em_cascade(
    seeds,  # (K, 10) float64 rows (see N_COLS)
    e_follow,  # (K,) float64: particles of seed k above this energy (GeV) are followed
    u,  # (B,) float64 uniforms in [0, 1)
    section_lpm,  # (S,) float64: E_LPM (GeV) of each section's radiator (its shortest X0)
    photon_mfp,  # (S, n_e) float64: photon mean free path (X0) per section on the ln E grid of
    #              dedx_tab (calolab.physics.photon.interaction_length_x0)
    z_of_t,  # (n_t,) float64 depth at cumulative X0 = i * t_step
    inv_t_step,  # float
    x0_last,  # float: X0 (cm) of the last period
    period_lut,  # (n_lut,) int32
    inv_period_step,  # float
    period_lo,  # (P,) float64
    period_t_lo,  # (P,) float64
    period_section,  # (P,) int64
    section_x0,  # (S,) float64
    sub_lut,  # (n_sub_lut,) int32
    inv_sub_step,  # float
    sub_lo,  # (L,) float64
    sub_hi,  # (L,) float64
    sub_mat,  # (L,) int64: material of each sub-layer (row of dedx_tab)
    dedx_tab,  # (n_mat, n_e) float64: electron collision loss (GeV/cm) on a ln E grid
    lne_lo,  # float: ln(E/GeV) of the first column of dedx_tab
    inv_lne_step,  # float
    depth,  # float
    half_x,  # float
    half_y,  # float
    out_seeds,  # (M, 10) float64 output: sub-showers for GFlash
    out_dep,  # (D, 4) float64 output: ionisation deposits (x, y, z, GeV)
):
    """Follow the cascade of ``seeds`` (see module docstring).

    Returns ``(n_seeds, n_dep, n_u, leaked)``: rows written to ``out_seeds`` and ``out_dep``,
    uniforms used, energy (GeV) that left the stack. ``n_seeds`` is -1 when ``out_seeds``
    (also the size of the particle stack) is full, ``n_dep`` -1 when ``out_dep`` is full and
    ``n_u`` -1 when the uniforms ran out: the caller retries with larger arrays.
    """
    cap = out_seeds.shape[0]
    n_u = u.shape[0]
    stack = out_seeds.copy()
    ef_stack = out_seeds[:, 0].copy()
    n_out = 0
    n_dep = 0
    iu = 0
    leaked = 0.0
    t_back = _t_of_z(
        depth, period_lut, inv_period_step, period_lo, period_t_lo, period_section, section_x0
    )
    for k in range(seeds.shape[0]):
        ns = 0
        if (
            seeds[k, 6] >= e_follow[k]
            and seeds[k, 5] >= 0.1
            and 0.0 <= seeds[k, 2] < depth
            and abs(seeds[k, 0]) < half_x
            and abs(seeds[k, 1]) < half_y
        ):
            for c in range(N_COLS):
                stack[0, c] = seeds[k, c]
            ef_stack[0] = e_follow[k]
            ns = 1
        else:
            if n_out >= cap:
                return -1, n_dep, iu, leaked
            for c in range(N_COLS):
                out_seeds[n_out, c] = seeds[k, c]
            n_out += 1
        while ns > 0:
            ns -= 1
            x = stack[ns, 0]
            y = stack[ns, 1]
            z = stack[ns, 2]
            ux = stack[ns, 3]
            uy = stack[ns, 4]
            uz = stack[ns, 5]
            e = stack[ns, 6]
            photon = stack[ns, 7] > 0.5
            spot = stack[ns, 8]
            sid = stack[ns, 9]
            ef = ef_stack[ns]
            if photon:
                if iu >= n_u:
                    return n_out, n_dep, -1, leaked
                dt = -math.log(1.0 - u[iu]) * _photon_mfp(
                    z,
                    e,
                    photon_mfp,
                    period_lut,
                    inv_period_step,
                    period_lo,
                    period_section,
                    lne_lo,
                    inv_lne_step,
                )
                iu += 1
                t0 = _t_of_z(
                    z,
                    period_lut,
                    inv_period_step,
                    period_lo,
                    period_t_lo,
                    period_section,
                    section_x0,
                )
                t1 = t0 + dt * uz
                if t1 >= t_back:
                    leaked += e
                    continue
                z1 = _z_of_t(t1, z_of_t, inv_t_step, x0_last)
                s = (z1 - z) / uz
                x += s * ux
                y += s * uy
                z = z1
                if abs(x) >= half_x or abs(y) >= half_y:
                    leaked += e
                    continue
                # Bethe-Heitler energy split, by rejection
                while True:
                    if iu + 1 >= n_u:
                        return n_out, n_dep, -1, leaked
                    xf = u[iu]
                    acc = u[iu + 1]
                    iu += 2
                    if acc <= _pair_shape(xf):
                        break
                for part in range(2):
                    ep = e * xf if part == 0 else e * (1.0 - xf)
                    if ep <= 0.0:
                        continue
                    if ep >= ef:
                        if ns >= cap:
                            return -1, n_dep, iu, leaked
                        row = ns
                        ns += 1
                        target = stack
                        ef_stack[row] = ef
                    else:
                        if n_out >= cap:
                            return -1, n_dep, iu, leaked
                        row = n_out
                        n_out += 1
                        target = out_seeds
                    _set_row(target, row, x, y, z, ux, uy, uz, ep, 0.0, spot, sid)
                continue
            # an electron: steps of radiation and ionisation until it falls below ef
            while True:
                y_min = ef / e
                if y_min > 1.0:
                    y_min = 1.0
                y_lpm = (
                    e
                    / section_lpm[
                        period_section[_period_at(z, period_lut, inv_period_step, period_lo)]
                    ]
                )
                rate, soft = _brems_rates(y_min, y_lpm)
                if iu >= n_u:
                    return n_out, n_dep, -1, leaked
                dt = -math.log(1.0 - u[iu]) / rate if rate > 0.0 else 1e30
                iu += 1
                emit = dt <= MAX_STEP_X0
                if not emit:
                    dt = MAX_STEP_X0
                t0 = _t_of_z(
                    z,
                    period_lut,
                    inv_period_step,
                    period_lo,
                    period_t_lo,
                    period_section,
                    section_x0,
                )
                t1 = t0 + dt * uz
                out_back = t1 >= t_back
                if out_back:
                    z1 = depth
                else:
                    z1 = _z_of_t(t1, z_of_t, inv_t_step, x0_last)
                s = (z1 - z) / uz
                x1 = x + s * ux
                y1 = y + s * uy
                # ionisation, sub-layer by sub-layer
                n_new, e_ion = _ionise(
                    x,
                    y,
                    z,
                    x1,
                    y1,
                    z1,
                    uz,
                    e,
                    out_dep,
                    n_dep,
                    sub_lut,
                    inv_sub_step,
                    sub_lo,
                    sub_hi,
                    sub_mat,
                    dedx_tab,
                    lne_lo,
                    inv_lne_step,
                )
                if n_new < 0:
                    return n_out, -1, iu, leaked
                n_dep = n_new
                e_soft = e * (1.0 - math.exp(-soft * dt))
                if e_soft + e_ion > e:
                    # a step near the follow energy with a low one (tens of MeV), where the
                    # ionisation is a large share of the energy: the soft radiation gets what
                    # the ionisation leaves (e_ion ≤ e/2), never more than the electron has
                    e_soft = e - e_ion
                k_top = y_min * e  # the soft photons have k < k_top
                e -= e_soft + e_ion
                # the soft radiation as photons whose energies follow the energy-weighted
                # spectrum brems_shape(k/E) dk on [0, k_top], emitted uniformly along the step
                while e_soft > 0.0:
                    while True:
                        if iu + 2 >= n_u:
                            return n_out, n_dep, -1, leaked
                        v = u[iu]
                        acc = u[iu + 1]
                        iu += 2
                        if acc * (4.0 / 3.0) <= _brems_shape(v * y_min) * _brems_suppression(
                            v * y_min, y_lpm
                        ):
                            break
                    k_ph = v * k_top
                    if k_ph > e_soft or k_ph <= 0.0:
                        k_ph = e_soft
                    e_soft -= k_ph
                    f = u[iu]
                    iu += 1
                    if n_out >= cap:
                        return -1, n_dep, iu, leaked
                    out_seeds[n_out, 0] = x + f * (x1 - x)
                    out_seeds[n_out, 1] = y + f * (y1 - y)
                    out_seeds[n_out, 2] = z + f * (z1 - z)
                    out_seeds[n_out, 3] = ux
                    out_seeds[n_out, 4] = uy
                    out_seeds[n_out, 5] = uz
                    out_seeds[n_out, 6] = k_ph
                    out_seeds[n_out, 7] = 1.0
                    out_seeds[n_out, 8] = spot
                    out_seeds[n_out, 9] = sid
                    n_out += 1
                x, y, z = x1, y1, z1
                if out_back or abs(x) >= half_x or abs(y) >= half_y:
                    leaked += e
                    break
                if e <= 0.0:
                    break
                if emit:
                    lny = math.log(y_min)
                    while True:
                        if iu + 1 >= n_u:
                            return n_out, n_dep, -1, leaked
                        yy = math.exp(lny * u[iu])
                        acc = u[iu + 1]
                        iu += 2
                        if acc * (4.0 / 3.0) <= _brems_shape(yy) * _brems_suppression(yy, y_lpm):
                            break
                    k_ph = yy * e
                    e -= k_ph
                    if k_ph >= ef:
                        if ns >= cap:
                            return -1, n_dep, iu, leaked
                        row = ns
                        ns += 1
                        target = stack
                        ef_stack[row] = ef
                    else:
                        if n_out >= cap:
                            return -1, n_dep, iu, leaked
                        row = n_out
                        n_out += 1
                        target = out_seeds
                    _set_row(target, row, x, y, z, ux, uy, uz, k_ph, 1.0, spot, sid)
                if e < ef:
                    if e > 0.0:
                        if n_out >= cap:
                            return -1, n_dep, iu, leaked
                        _set_row(out_seeds, n_out, x, y, z, ux, uy, uz, e, 0.0, spot, sid)
                        n_out += 1
                    break
    return n_out, n_dep, iu, leaked


@njit(cache=True, nogil=True)
def straggle_partners(sub, active, homogeneous):
    """For :func:`straggle`: the partner of every deposit in a straggling sub-layer (-1:
    none). In a sampling section, the passive neighbour of the same track (the next row,
    else the previous one); in a homogeneous one (``homogeneous`` of the sub-layer), the
    same track's deposit in the next layer, where the knock-on electrons go."""
    n = sub.shape[0]
    partner = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        if not active[sub[i]]:
            continue
        if homogeneous[sub[i]]:
            if i + 1 < n and sub[i + 1] == sub[i] + 1:
                partner[i] = i + 1
        elif i + 1 < n and sub[i + 1] == sub[i] + 1 and not active[sub[i + 1]]:
            partner[i] = i + 1
        elif i > 0 and sub[i - 1] == sub[i] - 1 and not active[sub[i - 1]]:
            partner[i] = i - 1
    return partner


@njit(cache=True, nogil=True)
def straggle(
    ion,  # (D, 4) float64 ionisation deposits of the followed leptons (energies changed in place)
    sub,  # (D,) int64 sub-layer of each deposit
    partner,  # (D,) int64 from straggle_partners
    u,  # (number of partners >= 0,) float64 uniforms, one per such deposit in row order
    sub_mat,  # (n_sub,) int64 material index of each sub-layer
    landau_par,  # (n_mat, 4) float64: S, ξ per g/cm², L, ln I (electron_landau_constants)
    mode_x,  # float: mode of the standard Landau (scipy units)
    lt_xmax,
    lt_mean,
    lt_cdf,
    lt_q,
    s_step,
):
    """Landau fluctuations of the deposits that have a partner (see
    ``EMShowerModel._straggle``): the change is taken from (or given to) the partner, capped
    by its energy — the partners of the next rows first, then those of the previous rows,
    so no partner is used twice at once."""
    n = ion.shape[0]
    change = np.zeros(n)
    k = 0
    for i in range(n):
        if partner[i] < 0:
            continue
        mean = ion[i, 3]
        par = landau_par[sub_mat[sub[i]]]
        xi = par[1] * mean / par[0]
        dp = xi * (par[2] + math.log(xi) - par[3])
        scale = 0.5 * math.pi * xi
        x = landau_from_uniform(
            u[k], mode_x + (mean - dp) / scale, lt_xmax, lt_mean, lt_cdf, lt_q, s_step
        )
        k += 1
        new = dp + scale * (x - mode_x)
        if new < 0.0:
            new = 0.0
        change[i] = new - mean
    for first in (True, False):
        for i in range(n):
            j = partner[i]
            if j < 0 or (j == i + 1) != first:
                continue
            c = change[i]
            if c > ion[j, 3]:
                c = ion[j, 3]
            if -c > ion[i, 3]:  # a deposit that is also a partner (homogeneous layers)
                c = -ion[i, 3]
            ion[i, 3] += c
            ion[j, 3] -= c
