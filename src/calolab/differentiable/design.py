"""Continuous design parameters of a calorimeter and the torch tables derived from them.

A :class:`DesignParameters` starts from a :class:`~calolab.geometry.Calorimeter` (the
template: sections, their layer patterns, sensitive flags, cell sizes, transverse size) and
holds, as torch tensors,

* ``thickness[section][i]`` — the thickness (cm) of layer ``i`` of each section's pattern;
* ``periods[section]`` — the number of periods, a **continuous** number: period k (0-based)
  is present with the fraction clamp(n - k, 0, 1) of its thickness, so the depth of a
  section is n × period and the last, partial period grows continuously;
* ``logits[section][i]`` (optional) — a material choice relaxed to probabilities
  softmax(logits) over candidate materials. The layer is then a volume mixture of the
  candidates: every per-cm quantity (density, ρZ, 1/X0, ρE_c/X0, 1/λ, MIP and electron
  collision loss per cm) is the probability-weighted sum of the candidates' (as AIDO relaxes
  categorical choices; at a one-hot probability the mixture is the material itself).

:func:`section_tables` turns them into the effective medium of each section for EM showers
(GFlash's Z_eff, X0_eff, R_M, E_c, F_s and ê — the same rules as
:func:`calolab.physics.sampling.section_medium`), the EM visible share and sampling quantum
of each layer (:func:`calolab.physics.sampling.em_visible_shares` and
:func:`~calolab.physics.sampling.em_sampling_quanta`: e/mip with the Burlin–Loevinger
transition term) — all differentiable in the parameters. Those functions of
:mod:`calolab.physics.sampling` take geometry objects with float thicknesses, so their
formulas are restated here on tensors, with their constants imported; the tests check that
both agree on fixed designs. The hadronic visible shares, sampling quanta and invisible
fractions (:func:`calolab.physics.hadronic.section_response`) are evaluated at the current
design as constants (not differentiated; see docs/differentiable.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from calolab.core.errors import ConfigError
from calolab.geometry.detector import Calorimeter, Layer, Section
from calolab.geometry.materials import Material, get_material
from calolab.physics import hadronic as hp
from calolab.physics.em import E_S_GEV, MediumParams
from calolab.physics.ionisation import (
    bethe_loss,
    electron_collision_loss,
    electron_landau_constants,
)
from calolab.physics.sampling import (
    DEFAULT_SAMPLING,
    EHAT_COEFF,
    SamplingModel,
    loevinger_beta,
)

#: Photons below this energy (GeV) take the mean free path at it (as the reference simulator).
PHOTON_LAMBDA_MIN_GEV = 1e-3
#: Grid of ln(E/GeV) of the electron collision-loss tables.
LNE_LO, LNE_HI, LNE_STEP = math.log(1e-3), math.log(1e5), 0.05
PION_MASS_GEV = 0.13957039


def _lne_grid() -> np.ndarray:
    return np.arange(LNE_LO, LNE_HI + 1e-9, LNE_STEP)


@dataclass
class LayerSlot:
    """One layer of a section's pattern: its candidate materials and whether it is read out."""

    candidates: tuple[Material, ...]
    sensitive: bool


class DesignParameters:
    """Continuous parameters of a calorimeter (see module docstring).

    Parameters
    ----------
    template:
        The calorimeter whose structure is kept (and whose values are the starting point).
    materials:
        ``{(section name, pattern index): (material names...)}``: layers whose material is a
        relaxed choice among candidates (the template's material must be one of them; the
        starting logits favour it by ``init_logit``).
    dtype, device:
        Of every tensor.
    """

    def __init__(
        self,
        template: Calorimeter,
        materials: dict[tuple[str, int], tuple[str, ...]] | None = None,
        *,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        init_logit: float = 2.0,
    ):
        self.template = template
        self.dtype = dtype
        self.device = torch.device(device)
        self.thickness: dict[str, torch.Tensor] = {}
        self.periods: dict[str, torch.Tensor] = {}
        self.logits: dict[str, dict[int, torch.Tensor]] = {}
        self.slots: dict[str, list[LayerSlot]] = {}
        materials = dict(materials or {})
        names = {s.name for s in template.sections}
        for sec, _idx in materials:
            if sec not in names:
                raise ConfigError(
                    f"material choice: section {sec!r} is not in detector "
                    f"'{template.name}' (sections: {', '.join(sorted(names))})"
                )
        for s in template.sections:
            self.thickness[s.name] = torch.tensor(
                [lay.thickness_cm for lay in s.layers], dtype=dtype, device=self.device
            )
            self.periods[s.name] = torch.tensor(float(s.repeat), dtype=dtype, device=self.device)
            slots = []
            for i, lay in enumerate(s.layers):
                names_i = materials.pop((s.name, i), None)
                if names_i is None:
                    slots.append(LayerSlot((lay.material,), lay.sensitive))
                    continue
                cands: tuple[Material, ...] = tuple(get_material(n) for n in names_i)
                if lay.material.name not in {c.name for c in cands}:
                    raise ConfigError(
                        f"material choice of {s.name}[{i}]: the template's material "
                        f"{lay.material.name!r} is not among the candidates {list(names_i)}"
                    )
                logit = torch.tensor(
                    [init_logit if c.name == lay.material.name else 0.0 for c in cands],
                    dtype=dtype,
                    device=self.device,
                )
                self.logits.setdefault(s.name, {})[i] = logit
                slots.append(LayerSlot(cands, lay.sensitive))
            self.slots[s.name] = slots
        if materials:
            (sec, idx), _ = next(iter(materials.items()))
            raise ConfigError(
                f"material choice: section {sec!r} has no layer {idx} "
                "(pattern indices start at 0)"
            )

    # ------------------------------------------------------------------ access
    def named_tensors(self) -> dict[str, torch.Tensor]:
        """Every parameter by name: ``<section>.thickness`` (cm, per pattern layer),
        ``<section>.periods`` and ``<section>.<i>.logits``."""
        out: dict[str, torch.Tensor] = {}
        for s in self.template.sections:
            out[f"{s.name}.thickness"] = self.thickness[s.name]
            out[f"{s.name}.periods"] = self.periods[s.name]
            for i, lg in self.logits.get(s.name, {}).items():
                out[f"{s.name}.{i}.logits"] = lg
        return out

    def requires_grad_(self, names: list[str] | None = None) -> DesignParameters:
        """Make the named parameters (all by default) leaves that require gradients."""
        for k, v in self.named_tensors().items():
            if names is None or k in names:
                v.requires_grad_(True)
        return self

    def probabilities(self, section: str, index: int) -> torch.Tensor:
        """Probabilities of the candidates of one layer (a one-element tensor of 1 for a
        fixed material)."""
        lg = self.logits.get(section, {}).get(index)
        if lg is None:
            return torch.ones(1, dtype=self.dtype, device=self.device)
        return torch.softmax(lg, dim=0)

    def to_calorimeter(self, name: str | None = None) -> Calorimeter:
        """The nearest buildable calorimeter: periods rounded to an integer (>= 1), each
        relaxed material replaced by its most probable candidate."""
        sections = []
        for s in self.template.sections:
            th = self.thickness[s.name].detach().cpu().numpy()
            layers = []
            for i, slot in enumerate(self.slots[s.name]):
                p = self.probabilities(s.name, i).detach().cpu().numpy()
                mat = slot.candidates[int(np.argmax(p))]
                layers.append(Layer(mat, float(th[i]), sensitive=slot.sensitive))
            n = max(1, int(round(float(self.periods[s.name].detach()))))
            sections.append(Section(s.name, layers, n, s.cell_size_cm))
        return Calorimeter(name or self.template.name, self.template.transverse_size_cm, sections)


# ---------------------------------------------------------------------- per-material columns
_PROPS = ("rho", "rho_z", "inv_x0", "rho_ec_x0", "inv_lam", "inv_lam_i", "mip", "zmip")


def _material_row(m: Material) -> dict[str, float]:
    x0_cm = m.x0_g_cm2 / m.density_g_cm3
    mip = m.dedx_min_mev_cm2_g * m.density_g_cm3  # MeV/cm
    return {
        "rho": m.density_g_cm3,
        "rho_z": m.density_g_cm3 * m.z_eff,
        "inv_x0": 1.0 / x0_cm,
        "rho_ec_x0": m.density_g_cm3 * m.critical_energy_mev * 1e-3 / m.x0_g_cm2,
        "inv_lam": 1.0 / hp.interaction_length_cm(m, 211),
        "inv_lam_i": 1.0 / m.lambda_i_cm,
        "mip": mip,
        "zmip": mip * m.z_eff,
    }


def _mix(
    design: DesignParameters, section: str, index: int
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Per-cm properties of one (possibly relaxed) layer, its electron collision loss
    (GeV/cm on the ln E grid) and the pion Bethe loss (GeV/cm) at ``_PION_T``."""
    slot = design.slots[section][index]
    p = design.probabilities(section, index)
    kw: dict[str, Any] = {"dtype": design.dtype, "device": design.device}
    rows = [_material_row(m) for m in slot.candidates]
    props = {k: (p * torch.tensor([r[k] for r in rows], **kw)).sum() for k in _PROPS}
    e = np.exp(_lne_grid())
    loss = np.stack(
        [electron_collision_loss(e, m, xp=np) * m.density_g_cm3 * 1e-3 for m in slot.candidates]
    )
    ion = (p[:, None] * torch.tensor(loss, **kw)).sum(0)
    return props, ion, p


def _photon_mu(design: DesignParameters, section: str, index: int) -> torch.Tensor:
    """Linear attenuation coefficient (1/cm; Compton + pair production) of photons in one
    (possibly relaxed) layer on the ln E grid, at least the energy below which the simulator
    takes the value at ``PHOTON_LAMBDA_MIN_GEV`` (:mod:`calolab.simulation.em`)."""
    from calolab.physics.photon import mass_attenuation_cm2_g

    slot = design.slots[section][index]
    p = design.probabilities(section, index)
    kw: dict[str, Any] = {"dtype": design.dtype, "device": design.device}
    e_mev = np.maximum(np.exp(_lne_grid()), PHOTON_LAMBDA_MIN_GEV) * 1e3
    mu = np.stack([mass_attenuation_cm2_g(m, e_mev) * m.density_g_cm3 for m in slot.candidates])
    return (p[:, None] * torch.tensor(mu, **kw)).sum(0)


@dataclass
class SectionTables:
    """Differentiable description of one section at the current parameters.

    Tensors are 0-d unless stated; ``n_slots`` = ceil(periods) periods are laid out, period k
    with the fraction ``frac[k]`` of its thickness.
    """

    name: str
    medium: MediumParams  # fields are tensors (0-d)
    thickness: torch.Tensor  # (L,) cm
    period_cm: torch.Tensor
    period_x0: torch.Tensor
    period_lambda: torch.Tensor  # pion interaction lengths per period
    period_lambda_i: torch.Tensor  # nuclear interaction lengths per period
    frac: torch.Tensor  # (n_slots,)
    sensitive: tuple[bool, ...]
    em_share: torch.Tensor  # (L,)
    em_quantum: torch.Tensor  # (L,) GeV
    had_share: torch.Tensor  # (L,) constants
    had_quantum: torch.Tensor  # (L,) constants
    had_f_inv: float
    ion_per_x0: torch.Tensor  # (n_E,) GeV per X0 (effective medium) of an electron
    ion_tab: torch.Tensor  # (L, n_E) GeV/cm: electron collision loss of each layer
    #: (L, 4) Landau constants of each layer's electron ionisation
    #: (physics.ionisation.electron_landau_constants, mixed like the materials); ``None`` for
    #: a single-material section (no Landau fluctuations of the followed leptons there)
    landau_const: torch.Tensor | None
    photon_mfp_x0: torch.Tensor  # (n_E,) photon mean free path in X0 (effective medium)
    layer_inv_lam: torch.Tensor  # (L,) 1/cm, pion
    layer_pion_loss: torch.Tensor  # (L,) GeV/cm of a pion at the gun energy (per layer)
    cell_size: tuple[float, float]
    grid: tuple[int, int]

    @property
    def n_slots(self) -> int:
        return int(self.frac.shape[0])


def _burlin_d(chord: torch.Tensor, beta: float) -> torch.Tensor:
    x = (beta * chord).clamp(min=1e-9)
    return -torch.expm1(-x) / x


def section_tables(
    design: DesignParameters,
    sampling: SamplingModel = DEFAULT_SAMPLING,
    pion_energy_gev: float = 10.0,
) -> list[SectionTables]:
    """The :class:`SectionTables` of every section of ``design`` (see module docstring)."""
    out = []
    kw: dict[str, Any] = {"dtype": design.dtype, "device": design.device}
    beta_l = loevinger_beta()
    det = design.template
    for s in det.sections:
        th = design.thickness[s.name]
        if bool((th.detach() <= 0).any()):
            raise ConfigError(
                f"section '{s.name}': thicknesses {th.detach().cpu().tolist()} cm must all be > 0"
            )
        n = design.periods[s.name]
        if float(n.detach()) <= 0:
            raise ConfigError(f"section '{s.name}': periods {float(n.detach()):g} must be > 0")
        mixed = [_mix(design, s.name, i) for i in range(len(s.layers))]
        props = {k: torch.stack([m[0][k] for m in mixed]) for k in _PROPS}
        ion_tab = torch.stack([m[1] for m in mixed])  # (L, n_E) GeV/cm
        mass = props["rho"] * th
        m_tot = mass.sum()
        period_cm = th.sum()
        z_eff = (props["rho_z"] * th).sum() / m_tot
        period_x0 = (props["inv_x0"] * th).sum()
        x0_cm = period_cm / period_x0
        rho_eff = m_tot / period_cm
        ec_over_x0 = (props["rho_ec_x0"] * th).sum() / m_tot  # GeV cm²/g per ... (g/cm²)
        rm_cm = E_S_GEV / ec_over_x0 / rho_eff
        ec_gev = x0_cm * rho_eff * ec_over_x0
        slots = design.slots[s.name]
        sensitive = tuple(sl.sensitive for sl in slots)
        single = len({c.name for sl in slots for c in sl.candidates}) == 1
        mip = props["mip"] * th  # MeV per layer crossing
        zmip = props["zmip"] * th
        sens_t = torch.tensor(sensitive, device=design.device)
        if single:
            medium = MediumParams(z_eff, ec_gev, x0_cm, rm_cm)  # type: ignore[arg-type]
            em_share = torch.where(sens_t, th / period_cm, torch.zeros_like(th))
            em_q = torch.zeros_like(th)
        else:
            # ê of the section (MIP-weighted Z of passive and active layers)
            def zw(
                mask: torch.Tensor, mip: torch.Tensor = mip, zmip: torch.Tensor = zmip
            ) -> torch.Tensor:
                mm = torch.where(mask, mip, torch.zeros_like(mip))
                zz = torch.where(mask, zmip, torch.zeros_like(zmip))
                return zz.sum() / mm.sum().clamp(min=1e-30)

            has_p = not all(sensitive)
            has_a = any(sensitive)
            ehat = torch.ones((), **kw)
            if has_p and has_a:
                ehat = 1.0 / (1.0 + EHAT_COEFF * (zw(~sens_t) - zw(sens_t)))
            fs = x0_cm / period_cm
            medium = MediumParams(z_eff, ec_gev, x0_cm, rm_cm, fs=fs, ehat=ehat)  # type: ignore[arg-type]
            fmip = mip / mip.sum()
            areal = props["rho"] * th
            shares = []
            for j, sen in enumerate(sensitive):
                if not sen:
                    shares.append(torch.zeros((), **kw))
                    continue
                others = torch.ones(len(sensitive), dtype=torch.bool, device=design.device)
                others[j] = False
                z_others = zw(others)
                areal_o = (areal * others).sum()
                ehat_j = 1.0 / (1.0 + EHAT_COEFF * (z_others - (zmip[j] / mip[j])))
                d_a = _burlin_d(2.0 * areal[j], beta_l)
                d_p = _burlin_d(2.0 * areal_o, beta_l)
                shares.append(fmip[j] * (1.0 - (1.0 - ehat_j) * (1.0 - d_a) * (1.0 - d_p)))
            em_share = torch.stack(shares)
            tot = em_share.sum()
            em_share = torch.where(tot > 1.0, em_share / tot, em_share)
            period_mip_gev = mip.sum() * 1e-3
            z_passive = zw(~sens_t) if has_p else torch.zeros((), **kw)
            landau = 1.0 + (sampling.t0_g_cm2 / areal) ** 2
            q = period_mip_gev * sampling.g0 * (1.0 + sampling.c_z * z_passive) * landau
            em_q = torch.where(sens_t, q, torch.zeros_like(q))
        # the hadronic response at the current design (constants)
        cur = design.to_calorimeter().sections[det.sections.index(s)]
        resp = hp.hadronic_response()
        had_share = torch.tensor(resp.shares(cur), **kw)
        had_q = torch.tensor(resp.quanta(cur), **kw)
        f_inv = float(hp.section_response(cur).f_inv)
        n_slots = max(1, int(math.ceil(float(n.detach()) - 1e-9)))
        frac = (n - torch.arange(n_slots, **kw)).clamp(min=0.0, max=1.0)
        ion_per_x0 = (ion_tab * th[:, None]).sum(0) / period_x0
        mu_tab = torch.stack([_photon_mu(design, s.name, i) for i in range(len(s.layers))])
        photon_mfp_x0 = period_x0 / (mu_tab * th[:, None]).sum(0)
        # μ_min of the period, as the reference's section_medium: the tail floor and the
        # photon-limited fall-off of sub-GeV showers (calolab.physics.em) need it
        mu_min = (mu_tab * th[:, None]).sum(0).min() / period_cm
        medium = replace(medium, photon_mu_min_cm=mu_min)  # type: ignore[arg-type]
        t_pi = np.array([pion_energy_gev])
        pion_loss = []
        for i, sl in enumerate(slots):
            p = design.probabilities(s.name, i)
            lo = torch.tensor(
                [
                    float(bethe_loss(t_pi, PION_MASS_GEV, m, xp=np)[0]) * m.density_g_cm3 * 1e-3
                    for m in sl.candidates
                ],
                **kw,
            )
            pion_loss.append((p * lo).sum())
        landau_const = None
        if not single:
            landau_const = torch.stack(
                [
                    (
                        design.probabilities(s.name, i)[:, None]
                        * torch.tensor(
                            [electron_landau_constants(m) for m in sl.candidates],
                            **kw,
                        )
                    ).sum(0)
                    for i, sl in enumerate(slots)
                ]
            )
        out.append(
            SectionTables(
                name=s.name,
                medium=medium,
                thickness=th,
                period_cm=period_cm,
                period_x0=period_x0,
                period_lambda=(props["inv_lam"] * th).sum(),
                period_lambda_i=(props["inv_lam_i"] * th).sum(),
                frac=frac,
                sensitive=sensitive,
                em_share=em_share,
                em_quantum=em_q,
                had_share=had_share,
                had_quantum=had_q,
                had_f_inv=f_inv,
                ion_per_x0=ion_per_x0,
                ion_tab=ion_tab,
                landau_const=landau_const,
                photon_mfp_x0=photon_mfp_x0,
                layer_inv_lam=props["inv_lam"],
                layer_pion_loss=torch.stack(pion_loss),
                cell_size=s.cell_size_cm,
                grid=det.section_grid(s),
            )
        )
    return out


__all__ = ["DesignParameters", "SectionTables", "section_tables"]
