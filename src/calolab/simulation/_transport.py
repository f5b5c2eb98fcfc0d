"""Compiled transport of one charged (or neutral) track through the layers of a stack.

Used for muons (continuous loss + discrete radiative losses + multiple scattering) and for
hadrons before their first nuclear interaction (ionisation + multiple scattering, nuclear
interaction sampled material by material). The physics is tabulated beforehand
(:mod:`calolab.physics.muon`, :mod:`calolab.physics.ionisation`); the loop here only
interpolates tables and draws random numbers from the event's ``numpy.random.Generator``
(numba draws from the same bit generator, so results are reproducible and identical to a
pure-Python implementation drawing in the same order).

Stepping: a step ends at the next sub-layer boundary, at the transverse edge, at the next
discrete interaction or after ``max_step`` cm, whichever comes first; it is also limited so
that the continuous loss stays below 10 % of the kinetic energy. Along a step of length s
in material m the continuous loss is

* ionisation below the cut: a Landau distribution (width ξ, most probable value Δ_p, PDG
  eq. 34.12) truncated so that its mean equals the tabulated restricted mean;
* radiative losses below the cut: a Gamma distribution with the tabulated mean and variance;

deposited at the middle of the step. Multiple scattering deflects the track after each step
by two Gaussian angles of width θ0 (Highland, PDG eq. 34.16) and displaces it laterally with
the correlated offset of PDG eq. 34.20.

Status codes returned by :func:`transport_track`:
0 left through the back, 1 left sideways, 2 left through the front, 3 stopped,
4 nuclear interaction (hadrons), 5 output buffers full (call again to continue).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

EXIT_BACK, EXIT_SIDE, EXIT_FRONT, STOPPED, INTERACTED, BUFFER_FULL = 0, 1, 2, 3, 4, 5
_MODE_X = -0.4293145  # mode of scipy's standard Landau (physics.ionisation.LANDAU_MODE_X)


@njit(cache=True, nogil=True)
def _interp_row(ln_t0, inv_dlt, n_t, lt):
    """Index and fraction of ln T on the uniform table grid (clamped)."""
    u = (lt - ln_t0) * inv_dlt
    if u < 0.0:
        u = 0.0
    if u > n_t - 1.001:
        u = n_t - 1.001
    i = int(u)
    return i, u - i


@njit(cache=True, nogil=True)
def _landau_sample(rng, target, lt_xmax, lt_mean, lt_cdf, lt_q, s_step):
    """Standard Landau (scipy units) truncated so that its mean is ``target``."""
    return landau_from_uniform(rng.random(), target, lt_xmax, lt_mean, lt_cdf, lt_q, s_step)


@njit(cache=True, nogil=True)
def landau_from_uniform(u0, target, lt_xmax, lt_mean, lt_cdf, lt_q, s_step):
    """The draw of :func:`_landau_sample` for the uniform ``u0`` in [0, 1)."""
    n = lt_mean.shape[0]
    if target <= lt_mean[0]:
        j = 0
        f = 0.0
    elif target >= lt_mean[n - 1]:
        j = n - 2
        f = 1.0
    else:
        lo, hi = 0, n - 1
        while hi - lo > 1:
            mid = (lo + hi) >> 1
            if lt_mean[mid] <= target:
                lo = mid
            else:
                hi = mid
        j = lo
        f = (target - lt_mean[j]) / (lt_mean[j + 1] - lt_mean[j])
    fmax = lt_cdf[j] + f * (lt_cdf[j + 1] - lt_cdf[j])
    u = u0 * fmax
    s = -math.log(1.0 - u) / s_step
    nq = lt_q.shape[0]
    if s > nq - 1.001:
        s = nq - 1.001
    k = int(s)
    return lt_q[k] + (s - k) * (lt_q[k + 1] - lt_q[k])


@njit(cache=True, nogil=True)
def perp_basis(ux: float, uy: float, uz: float) -> tuple[float, float, float, float, float, float]:
    """Components ``(ax, ay, az, bx, by, bz)`` of two unit vectors perpendicular to the unit
    direction ``u = (ux, uy, uz)`` and to each other: ``a = u × x̂`` normalised (``u × ẑ`` when
    ``|ux| >= 0.9``), ``b = u × a``; ``(a, b, u)`` is right-handed and orthonormal.

    The one perpendicular-basis helper of the simulation: compiled, so that the transport loop
    calls it in machine code, and callable from Python (:func:`perp_vectors`). It lives in this
    file because numba's on-disk cache of :func:`transport_track` does not notice edits to
    compiled functions of other files.
    """
    if abs(ux) < 0.9:
        rx, ry, rz = 1.0, 0.0, 0.0
    else:
        rx, ry, rz = 0.0, 0.0, 1.0
    ax = uy * rz - uz * ry
    ay = uz * rx - ux * rz
    az = ux * ry - uy * rx
    n = math.sqrt(ax * ax + ay * ay + az * az)
    ax /= n
    ay /= n
    az /= n
    bx = uy * az - uz * ay
    by = uz * ax - ux * az
    bz = ux * ay - uy * ax
    return ax, ay, az, bx, by, bz


def perp_vectors(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`perp_basis` of the unit vector ``u`` (shape (3,)) as two arrays of shape (3,)."""
    ax, ay, az, bx, by, bz = perp_basis(float(u[0]), float(u[1]), float(u[2]))
    return np.array([ax, ay, az]), np.array([bx, by, bz])


@njit(cache=True, nogil=True)
def transport_track(
    rng,
    state,  # (8,) float64 in/out: x, y, z, ux, uy, uz, T (GeV), mean free paths left (<0: new)
    mass,  # GeV
    charged,  # bool: continuous loss and multiple scattering
    sub_lo,  # (S,) z of sub-layer fronts, cm
    sub_hi,  # (S,)
    sub_mat,  # (S,) int64 material index
    half_x,
    half_y,
    depth,
    mat_rho,  # (M,) g/cm³
    mat_x0,  # (M,) radiation length, cm
    mat_nuc,  # (M,) nuclear interaction rate, 1/cm (0 for muons)
    ln_t0,
    inv_dlt,
    ion_mean,  # (M, nT) GeV cm²/g
    soft_mean,  # (M, nT) GeV cm²/g
    soft_var,  # (M, nT) GeV² cm²/g
    rate,  # (M, P, nT) per g/cm²
    eps_lo,  # (M, P, nT) GeV
    eps_hi,  # (M, P, nT)
    cdf,  # (M, P, nT, NC)
    landau_l,  # (M, nT)
    xi_per_g,  # (M, nT) GeV cm²/g
    ln_i,  # (M,) ln(I/GeV)
    lt_xmax,
    lt_mean,
    lt_cdf,
    lt_q,
    s_step,
    max_step,  # cm
    t_stop,  # GeV: below this kinetic energy the particle stops
    dep,  # (Nd, 4) output: x, y, z, e of continuous deposits
    loss,  # (Nl, 9) output: x, y, z, ux, uy, uz, process, energy, T before
):
    """Transport one track until it leaves, stops, interacts or fills a buffer.

    Returns ``(n_dep, n_loss, status)``.
    """
    x, y, z = state[0], state[1], state[2]
    ux, uy, uz = state[3], state[4], state[5]
    t = state[6]
    n_left = state[7]
    n_sub = sub_lo.shape[0]
    n_t = ion_mean.shape[1]
    n_p = rate.shape[1]
    n_c = cdf.shape[3]
    nd_max = dep.shape[0]
    nl_max = loss.shape[0]
    nd = 0
    nl = 0
    # current sub-layer
    zc = min(max(z, 0.0), depth * (1.0 - 1e-15))
    i = np.searchsorted(sub_lo, zc, side="right") - 1
    if i < 0:
        i = 0
    if n_left < 0.0:
        n_left = rng.standard_exponential()
    status = -1
    while True:
        if nd >= nd_max - 1 or nl >= nl_max - 1:
            status = BUFFER_FULL
            break
        if t <= t_stop:
            if t > 0.0:
                dep[nd, 0] = x
                dep[nd, 1] = y
                dep[nd, 2] = z
                dep[nd, 3] = t
                nd += 1
            t = 0.0
            status = STOPPED
            break
        m = sub_mat[i]
        rho = mat_rho[m]
        lt = math.log(t)
        it, ft = _interp_row(ln_t0, inv_dlt, n_t, lt)
        # interaction rate (1/cm)
        rtot = mat_nuc[m]
        for p in range(n_p):
            rtot += rho * (rate[m, p, it] + ft * (rate[m, p, it + 1] - rate[m, p, it]))
        # geometric limits
        if uz > 1e-12:
            s_geo = (sub_hi[i] - z) / uz
        elif uz < -1e-12:
            s_geo = (z - sub_lo[i]) / (-uz)
        else:
            s_geo = 1e30
        s_side = 1e30
        if ux > 1e-12:
            s_side = (half_x - x) / ux
        elif ux < -1e-12:
            s_side = (x + half_x) / (-ux)
        if uy > 1e-12:
            s_side = min(s_side, (half_y - y) / uy)
        elif uy < -1e-12:
            s_side = min(s_side, (y + half_y) / (-uy))
        s = max_step
        kind = 0  # 0 max step, 1 boundary, 2 side, 3 interaction
        if s_geo <= s:
            s = s_geo
            kind = 1
        if s_side < s:
            s = s_side
            kind = 2
        cont_mean = 0.0
        if charged:
            c_ion = ion_mean[m, it] + ft * (ion_mean[m, it + 1] - ion_mean[m, it])
            c_soft = soft_mean[m, it] + ft * (soft_mean[m, it + 1] - soft_mean[m, it])
            cont_mean = (c_ion + c_soft) * rho  # GeV/cm
            s_e = 0.1 * t / cont_mean
            if s_e < 1e-4:
                s_e = 1e-4
            if s_e < s:
                s = s_e
                kind = 0
        if rtot > 0.0 and n_left < s * rtot:
            s = n_left / rtot
            kind = 3
        if s < 0.0:
            s = 0.0
        # continuous loss along the step, deposited at its middle
        de = 0.0
        if charged and s > 0.0:
            areal = rho * s
            c_ion = ion_mean[m, it] + ft * (ion_mean[m, it + 1] - ion_mean[m, it])
            mean_ion = c_ion * areal
            xi = (xi_per_g[m, it] + ft * (xi_per_g[m, it + 1] - xi_per_g[m, it])) * areal
            if xi > 0.0:
                ll = landau_l[m, it] + ft * (landau_l[m, it + 1] - landau_l[m, it])
                dp = xi * (ll + math.log(xi) - ln_i[m])
                scale = 0.5 * math.pi * xi
                target = _MODE_X + (mean_ion - dp) / scale
                xl = _landau_sample(rng, target, lt_xmax, lt_mean, lt_cdf, lt_q, s_step)
                d_ion = dp + scale * (xl - _MODE_X)
                if d_ion < 0.0:
                    d_ion = 0.0
                de += d_ion
            c_soft = soft_mean[m, it] + ft * (soft_mean[m, it + 1] - soft_mean[m, it])
            if c_soft > 0.0:
                v_soft = (soft_var[m, it] + ft * (soft_var[m, it + 1] - soft_var[m, it])) * areal
                mu = c_soft * areal
                if v_soft > 0.0:
                    de += rng.standard_gamma(mu * mu / v_soft) * (v_soft / mu)
                else:
                    de += mu
            if de > t:
                de = t
        xm = x + 0.5 * s * ux
        ym = y + 0.5 * s * uy
        zm = z + 0.5 * s * uz
        if de > 0.0:
            dep[nd, 0] = xm
            dep[nd, 1] = ym
            dep[nd, 2] = zm
            dep[nd, 3] = de
            nd += 1
        t_before = t
        t -= de
        n_left -= s * rtot
        # move
        x += s * ux
        y += s * uy
        z += s * uz
        if kind == 1:
            if uz > 0:
                z = sub_hi[i]
                i += 1
                if i >= n_sub:
                    status = EXIT_BACK
                    break
            else:
                z = sub_lo[i]
                i -= 1
                if i < 0:
                    status = EXIT_FRONT
                    break
        elif kind == 2:
            status = EXIT_SIDE
            break
        # multiple scattering
        if charged and s > 0.0 and t > 0.0:
            e_tot = t + mass
            p = math.sqrt(t * (t + 2.0 * mass))
            beta = p / e_tot
            xx0 = s / mat_x0[m]
            corr = 1.0 + 0.038 * math.log(xx0 / (beta * beta))
            if corr < 0.0:
                corr = 0.0
            th0 = 0.0136 / (beta * p) * math.sqrt(xx0) * corr
            ax, ay, az, bx, by, bz = perp_basis(ux, uy, uz)
            z1 = rng.standard_normal()
            z2 = rng.standard_normal()
            z3 = rng.standard_normal()
            z4 = rng.standard_normal()
            da = s * th0 * (z1 * 0.28867513459481287 + 0.5 * z2)
            db = s * th0 * (z3 * 0.28867513459481287 + 0.5 * z4)
            x += da * ax + db * bx
            y += da * ay + db * by
            zn = z + da * az + db * bz
            if kind != 1:  # keep exact boundary positions
                z = zn
            ta = th0 * z2
            tb = th0 * z4
            nx = ux + ta * ax + tb * bx
            ny = uy + ta * ay + tb * by
            nz = uz + ta * az + tb * bz
            nn = math.sqrt(nx * nx + ny * ny + nz * nz)
            ux = nx / nn
            uy = ny / nn
            uz = nz / nn
            if abs(x) >= half_x or abs(y) >= half_y:
                status = EXIT_SIDE
                break
            if z < sub_lo[i]:
                z = sub_lo[i]
            if z > sub_hi[i]:
                z = sub_hi[i]
        if kind == 3:
            n_left = rng.standard_exponential()
            # which process
            r = rng.random() * rtot
            acc = mat_nuc[m]
            proc = -1
            if r >= acc:
                for pp in range(n_p):
                    acc += rho * (rate[m, pp, it] + ft * (rate[m, pp, it + 1] - rate[m, pp, it]))
                    if r < acc:
                        proc = pp
                        break
                if proc < 0:
                    proc = n_p - 1
            if proc < 0:
                state[0] = x
                state[1] = y
                state[2] = z
                state[3] = ux
                state[4] = uy
                state[5] = uz
                state[6] = t
                state[7] = n_left
                return nd, nl, INTERACTED
            # energy transfer: row chosen stochastically between the two nearest energies
            row = it + 1 if rng.random() < ft else it
            lt_now = math.log(t) if t > 0.0 else lt
            jt, gt = _interp_row(ln_t0, inv_dlt, n_t, lt_now)
            lo = math.log(eps_lo[m, proc, jt]) + gt * (
                math.log(eps_lo[m, proc, jt + 1]) - math.log(eps_lo[m, proc, jt])
            )
            hi = math.log(eps_hi[m, proc, jt]) + gt * (
                math.log(eps_hi[m, proc, jt + 1]) - math.log(eps_hi[m, proc, jt])
            )
            u = rng.random()
            a, b = 0, n_c - 1
            while b - a > 1:
                mid = (a + b) >> 1
                if cdf[m, proc, row, mid] <= u:
                    a = mid
                else:
                    b = mid
            c0 = cdf[m, proc, row, a]
            c1 = cdf[m, proc, row, a + 1]
            yy = (a + ((u - c0) / (c1 - c0) if c1 > c0 else 0.0)) / (n_c - 1)
            eps = math.exp(lo + yy * (hi - lo))
            if eps > t:
                eps = t
            if eps > 0.0 and hi > lo:
                loss[nl, 0] = x
                loss[nl, 1] = y
                loss[nl, 2] = z
                loss[nl, 3] = ux
                loss[nl, 4] = uy
                loss[nl, 5] = uz
                loss[nl, 6] = proc
                loss[nl, 7] = eps
                loss[nl, 8] = t_before
                nl += 1
                t -= eps
    state[0] = x
    state[1] = y
    state[2] = z
    state[3] = ux
    state[4] = uy
    state[5] = uz
    state[6] = t
    state[7] = n_left
    return nd, nl, status
