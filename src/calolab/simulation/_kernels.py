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


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def em_spots_into(
    w,  # (N,) float32 depth variable -ln(1-u) divided by the w-grid step
    u_rad,  # (N,) float32 uniform for the radius (it also picks core or tail)
    cos_phi,  # (N,) float32 azimuth
    sin_phi,  # (N,) float32
    n_spots,  # (K,) int64
    e_spot,  # (K,) float64 energy per spot, GeV
    start,  # (K, 3) float64 shower start, cm
    axis,  # (K, 3) float64 unit direction
    e1,  # (K, 3) float64 unit vector ⟂ axis
    e2,  # (K, 3) float64 unit vector ⟂ axis and e1
    inv_beta,  # (K,) float64: 1/β of the Gamma profile (X0); 0 for point-like showers
    t_start,  # (K,) float64: cumulative X0 (along z) of the start point
    tau_scale,  # (K,) float64: τ per X0, divided by the τ-grid step
    x0_local,  # (K,) float64: X0 (cm) at the start, for showers not going forward
    q_rows,  # (K, n_w) float32 Gamma quantiles on the grid w = -ln(1-u)
    rad_core,  # (K, n_tau) float32
    rad_tail,  # (K, n_tau) float32
    p_core,  # (K, n_tau) float32
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

    Returns ``(deposited, leaked)`` in GeV: energy inside the stack (including periods with
    no readout) and energy of spots outside it.
    """
    n_w = q_rows.shape[1]
    n_tau = rad_core.shape[1]
    n_t = z_of_t.shape[0]
    n_p = period_lo.shape[0]
    n_lut = period_lut.shape[0]
    one_section = section_rm.shape[0] == 1
    deposited = 0.0
    leaked = 0.0
    j = 0
    for k in range(n_spots.shape[0]):
        es = e_spot[k]
        forward = axis[k, 2] >= 0.1
        inv_uz = 1.0 / axis[k, 2] if forward else 0.0
        for _ in range(n_spots[k]):
            # depth along the axis, X0 from the shower start
            wj = w[j]
            if wj > n_w - 1.001:
                wj = n_w - 1.001
            wi = int(wj)
            wf = wj - wi
            t = (q_rows[k, wi] + (q_rows[k, wi + 1] - q_rows[k, wi]) * wf) * inv_beta[k]
            # radial profile at this depth (nearest τ node)
            ti = int(t * tau_scale[k] + 0.5)
            if ti > n_tau - 1:
                ti = n_tau - 1
            # one uniform picks the component (u < p: core) and, rescaled to [0, 1) within
            # it, the radius r = R sqrt(v/(1-v)) of the 2rR²/(r²+R²)² profile
            u = u_rad[j]
            pc = p_core[k, ti]
            if u < pc:
                v = u / pc
                radius = rad_core[k, ti]
            else:
                v = (u - pc) / (1.0 - pc)
                radius = rad_tail[k, ti]
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
            # Molière radius of the period at the axis point
            if one_section:
                r *= section_rm[0]
            else:
                zc = min(max(z_ax, 0.0), depth)
                li = int(zc * inv_period_step)
                if li > n_lut - 1:
                    li = n_lut - 1
                p = period_lut[li]
                if p + 1 < n_p and zc >= period_lo[p + 1]:
                    p += 1
                r *= section_rm[period_section[p]]
            c = r * cos_phi[j]
            sn = r * sin_phi[j]
            x = start[k, 0] + s * axis[k, 0] + c * e1[k, 0] + sn * e2[k, 0]
            y = start[k, 1] + s * axis[k, 1] + c * e1[k, 1] + sn * e2[k, 1]
            z = z_ax + c * e1[k, 2] + sn * e2[k, 2]
            j += 1
            if z < 0.0 or z >= depth or abs(x) >= half_x or abs(y) >= half_y:
                leaked += es
                continue
            deposited += es
            li = int(z * inv_period_step)
            if li > n_lut - 1:
                li = n_lut - 1
            p = period_lut[li]
            if p + 1 < n_p and z >= period_lo[p + 1]:
                p += 1
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
                dep[ro_offset[first + slot] + within] += es
    return deposited, leaked


def warm_up() -> None:
    """Compile (or load from the on-disk cache) the kernels."""
    f32 = np.zeros(1, np.float32)
    one = np.ones(1)
    three = np.zeros((1, 3))
    three[0, 2] = 1.0
    em_spots_into(
        f32,
        f32,
        f32,
        f32,
        np.ones(1, np.int64),
        one,
        three,
        three,
        three,
        three,
        one,
        one,
        one,
        one,
        np.zeros((1, 4), np.float32),
        np.zeros((1, 4), np.float32),
        np.zeros((1, 4), np.float32),
        np.zeros((1, 4), np.float32),
        np.linspace(0, 1, 4),
        1.0,
        np.zeros(4, np.int32),
        1.0,
        np.zeros(1),
        np.zeros(1, np.int64),
        np.zeros(1, np.int64),
        one,
        one,
        one,
        np.ones(1, np.int64),
        np.ones(1, np.int64),
        np.ones(1, np.int64),
        np.array([0, 1], np.int64),
        1.0,
        1.0,
        1.0,
        np.zeros(1),
    )


def em_spots_reference(
    w,
    u_rad,
    cos_phi,
    sin_phi,
    n_spots,
    e_spot,
    start,
    axis,
    e1,
    e2,
    inv_beta,
    t_start,
    tau_scale,
    x0_local,
    q_rows,
    rad_core,
    rad_tail,
    p_core,
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
):  # type: ignore[no-untyped-def]
    """Plain-numpy implementation of :func:`em_spots_into` (same arguments and result).

    Used to test the compiled kernel and as the comparison in the simulation benchmark.
    """
    k = np.repeat(np.arange(len(n_spots)), n_spots)
    n_w, n_tau, n_t = q_rows.shape[1], rad_core.shape[1], len(z_of_t)
    wj = np.minimum(w.astype(np.float64), n_w - 1.001)
    wi = wj.astype(np.int64)
    t = (q_rows[k, wi] + (q_rows[k, wi + 1] - q_rows[k, wi]) * (wj - wi)) * inv_beta[k]
    ti = np.minimum((t * tau_scale[k] + 0.5).astype(np.int64), n_tau - 1)
    pc = p_core[k, ti].astype(np.float64)
    core = u_rad < pc
    v = np.where(
        core, u_rad / np.where(core, pc, 1.0), (u_rad - pc) / np.where(core, 1.0, 1.0 - pc)
    )
    v = np.minimum(v, 0.999999)
    r = np.where(core, rad_core[k, ti], rad_tail[k, ti]) * np.sqrt(v / (1.0 - v))
    fw = axis[k, 2] >= 0.1
    tt = np.minimum((t_start[k] + t * axis[k, 2]) * inv_t_step, n_t - 1.001)
    ii = tt.astype(np.int64)
    z_fw = z_of_t[ii] + (z_of_t[ii + 1] - z_of_t[ii]) * (tt - ii)
    s = np.where(fw, (z_fw - start[k, 2]) / axis[k, 2], t * x0_local[k])
    z_ax = np.where(fw, z_fw, start[k, 2] + s * axis[k, 2])

    def period(z):  # type: ignore[no-untyped-def]
        li = np.minimum((z * inv_period_step).astype(np.int64), len(period_lut) - 1)
        p = period_lut[li]
        nxt = np.minimum(p + 1, len(period_lo) - 1)
        return np.where((p + 1 < len(period_lo)) & (z >= period_lo[nxt]), nxt, p)

    r = r * section_rm[period_section[period(np.clip(z_ax, 0.0, depth))]]
    c, sn = r * cos_phi, r * sin_phi
    x = start[k, 0] + s * axis[k, 0] + c * e1[k, 0] + sn * e2[k, 0]
    y = start[k, 1] + s * axis[k, 1] + c * e1[k, 1] + sn * e2[k, 1]
    z = z_ax + c * e1[k, 2] + sn * e2[k, 2]
    e = e_spot[k]
    inside = (z >= 0) & (z < depth) & (np.abs(x) < half_x) & (np.abs(y) < half_y)
    leaked = float(e[~inside].sum())
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
