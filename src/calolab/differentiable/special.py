"""Differentiable special functions for the torch simulator.

* :func:`gamma_cdf` — the regularised lower incomplete gamma function P(a, x), the CDF of a
  standard Gamma(a) variable, differentiable in **both** arguments. PyTorch's
  ``torch.special.gammainc`` has no derivative with respect to ``a``; here ∂P/∂x is the Gamma
  density (exact) and ∂P/∂a is computed in the backward pass by a fourth-order central
  difference of ``torch.special.gammainc`` in float64 with step h = 1e-3·max(a, 1)
  (truncation error O(h⁴) ≈ 1e-12 relative, rounding error ≈ 1e-13/h; accurate to about
  1e-9, far below any statistical error of a simulation, and exact enough for
  ``torch.autograd.gradcheck``).
* :func:`landau_capped_mean` — E[min(X, x_c)] of the truncated Landau distribution of mean
  t (the reference simulator's straggling of the followed leptons' ionisation), from the
  tables of :func:`calolab.physics.ionisation.landau_tables` by linear interpolation,
  differentiable in t and x_c.
* :func:`lorentz2_rect` — the fraction of a radial profile f(r) = 2rR²/(r² + R²)² (the
  GFlash core and tail components, and calolab's hadronic radial profile) that falls in an
  axis-aligned rectangle, in closed form, differentiable in the rectangle's edges and R.
"""

from __future__ import annotations

import math

import torch


class _GammaCDF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        a, x = torch.broadcast_tensors(a, x)
        xc = x.clamp(min=0.0)
        out = torch.special.gammainc(a, xc)
        ctx.save_for_backward(a, xc)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        a, x = ctx.saved_tensors
        ga = gx = None
        if ctx.needs_input_grad[1]:
            pos = x > 0
            xs = torch.where(pos, x, torch.ones_like(x))
            log_pdf = (a - 1.0) * torch.log(xs) - xs - torch.lgamma(a)
            gx = grad * torch.where(pos, torch.exp(log_pdf), torch.zeros_like(x))
        if ctx.needs_input_grad[0]:
            a64, x64 = a.double(), x.double()
            h = 1e-3 * a64.clamp(min=1.0)
            f = torch.special.gammainc
            d = (
                -f(a64 + 2 * h, x64)
                + 8 * f(a64 + h, x64)
                - 8 * f(a64 - h, x64)
                + f(a64 - 2 * h, x64)
            ) / (12 * h)
            ga = grad * d.to(grad.dtype)
        return ga, gx


def gamma_cdf(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """P(a, x) = γ(a, x)/Γ(a) (0 for x <= 0), differentiable in ``a`` and ``x`` (see the
    module docstring). Broadcasts its arguments; ``a`` must be > 2e-3·max(a, 1)."""
    a = torch.as_tensor(a)
    x = torch.as_tensor(x, dtype=a.dtype, device=a.device)
    return _GammaCDF.apply(a, x)  # type: ignore[no-any-return]


def _quadrant(x: torch.Tensor, y: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """∫_0^x ∫_0^y R²/(π (u² + v² + R²)²) du dv (odd in x and in y)."""
    sx = torch.sqrt(x * x + r * r)
    sy = torch.sqrt(y * y + r * r)
    return (x / sx * torch.atan(y / sx) + y / sy * torch.atan(x / sy)) / (2.0 * math.pi)


def lorentz2_rect(
    x0: torch.Tensor, x1: torch.Tensor, y0: torch.Tensor, y1: torch.Tensor, r: torch.Tensor
) -> torch.Tensor:
    """Fraction of the 2D density R²/(π (x² + y² + R²)²) — radial profile 2rR²/(r² + R²)²,
    the distribution of r = R √(u/(1-u)) — inside [x0, x1] × [y0, y1] (cm, relative to the
    shower axis). Broadcasts its arguments; the whole plane integrates to 1."""
    return _quadrant(x1, y1, r) - _quadrant(x0, y1, r) - _quadrant(x1, y0, r) + _quadrant(x0, y0, r)


def _interp(x: torch.Tensor, grid: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation of ``values`` on the ascending ``grid`` at ``x``
    (clamped to the ends), differentiable in ``x``."""
    i = torch.searchsorted(grid, x.detach().contiguous()).clamp(1, grid.shape[0] - 1)
    x0, x1 = grid[i - 1], grid[i]
    w = ((x - x0) / (x1 - x0).clamp(min=1e-30)).clamp(0.0, 1.0)
    return values[i - 1] + w * (values[i] - values[i - 1])


def landau_capped_mean(
    tables: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    target: torch.Tensor,
    x_cap: torch.Tensor,
) -> torch.Tensor:
    """E[min(X, x_cap)] for X the standard Landau (scipy units) truncated at the x_max where
    its mean is ``target``; ``tables`` = (x_max grid, truncated mean, CDF) of
    :class:`calolab.physics.ionisation.LandauTables` as tensors. With F the CDF and
    P(x) = F(x)·mean(x) the partial first moment:
    E = [P(x_c) + x_cap (F(x_max) - F(x_c))] / F(x_max), x_c = min(x_cap, x_max)."""
    x_grid, t_mean, cdf = tables
    x_max = _interp(target, t_mean, x_grid)
    f_max = _interp(x_max, x_grid, cdf)
    x_c = torch.minimum(x_cap, x_max)
    f_c = _interp(x_c, x_grid, cdf)
    p_c = _interp(x_c, x_grid, cdf * t_mean)
    return (p_c + x_cap * (f_max - f_c).clamp(min=0.0)) / f_max.clamp(min=1e-30)
