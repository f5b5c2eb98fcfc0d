"""The particle table: names, PDG ids and masses of the species calolab knows.

Names are calolab's short names (``"gamma"``, ``"e-"``, ``"pi0"``, ``"pi+"``, ``"mu-"``,
``"proton"``, ``"neutron"``, ``"K0L"`` …) with common aliases; any other PDG id is checked
and named with the scikit-hep ``particle`` package. Masses are in GeV.
"""

from __future__ import annotations

import re

import numpy as np

from calolab.core.errors import ConfigError

_ALIASES: dict[str, int] = {
    "gamma": 22,
    "photon": 22,
    "γ": 22,
    "g": 22,
    "e-": 11,
    "electron": 11,
    "e": 11,
    "e+": -11,
    "positron": -11,
    "pi0": 111,
    "π0": 111,
    "pion0": 111,
    "pi+": 211,
    "π+": 211,
    "pion+": 211,
    "pion": 211,
    "pi-": -211,
    "π-": -211,
    "pion-": -211,
    "mu-": 13,
    "μ-": 13,
    "muon": 13,
    "mu": 13,
    "mu+": -13,
    "μ+": -13,
    "antimuon": -13,
    "p": 2212,
    "proton": 2212,
    "n": 2112,
    "neutron": 2112,
    "k0l": 130,
    "kl": 130,
    "k0_l": 130,
    "klong": 130,
    "k_l0": 130,
    "k(l)0": 130,
    "k+": 321,
    "kaon+": 321,
    "k-": -321,
    "kaon-": -321,
}
_CANONICAL: dict[int, str] = {
    22: "gamma",
    11: "e-",
    -11: "e+",
    111: "pi0",
    211: "pi+",
    -211: "pi-",
    13: "mu-",
    -13: "mu+",
    2212: "proton",
    2112: "neutron",
    130: "K0L",
    321: "K+",
    -321: "K-",
}


def particle_pdg(spec: str | int) -> int:
    """PDG id of a particle given by name (``"gamma"``, ``"e-"``, ``"pi0"``, ``"mu-"``,
    ``"neutron"``, ``"K0L"`` …) or by PDG id (int or numeric string).

    Unknown names raise :class:`ConfigError` listing the accepted names. Validity of PDG ids
    is checked with the scikit-hep ``particle`` package.
    """
    if isinstance(spec, bool):
        raise ConfigError(f"particle {spec!r} must be a name or a PDG id")
    if isinstance(spec, (int, np.integer)):
        pdg = int(spec)
    elif isinstance(spec, str) and re.fullmatch(r"[+-]?\d+", spec.strip()):
        pdg = int(spec)
    elif isinstance(spec, str) and spec.strip().lower() in _ALIASES:
        return _ALIASES[spec.strip().lower()]
    else:
        raise ConfigError(
            f"unknown particle {spec!r}; use a PDG id or one of: "
            + ", ".join(sorted(set(_CANONICAL.values())))
        )
    from particle import Particle
    from particle.particle import ParticleNotFound

    try:
        Particle.from_pdgid(pdg)
    except (ParticleNotFound, ValueError, Exception):
        raise ConfigError(f"particle PDG id {pdg} is not a known particle") from None
    return pdg


def particle_name(pdg: int) -> str:
    """Short name of a PDG id (calolab's names for common species, else the PDG name)."""
    if pdg in _CANONICAL:
        return _CANONICAL[pdg]
    from particle import Particle

    try:
        return str(Particle.from_pdgid(pdg).name)
    except Exception:
        return str(pdg)


def particle_mass_gev(pdg: int) -> float:
    """Rest mass in GeV (from the ``particle`` package; 0 for the photon)."""
    if pdg == 22:
        return 0.0
    from particle import Particle

    m = Particle.from_pdgid(pdg).mass
    return float(m) * 1e-3 if m is not None else 0.0
