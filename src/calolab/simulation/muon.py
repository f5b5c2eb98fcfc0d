"""Muons (μ±, 1 GeV - 10 TeV) in the fast backend.

The muon is transported step by step through the layers of the stack
(:mod:`calolab.simulation._transport`) with the tables of :mod:`calolab.physics.muon`:

* continuous loss below the cut (restricted ionisation with Landau fluctuations, plus the
  soft part of the radiative losses) deposited where it happens (``MODE_LOCAL``);
* discrete losses above the cut, sampled from the differential cross sections:
  bremsstrahlung (seeds a photon shower), e+e- pair production (an electron-like shower of
  the pair energy), knock-on electrons (an electron shower) and photonuclear interactions
  (a hadronic shower, :class:`~calolab.simulation.hadronic.HadronicShowerModel`), all
  starting at the loss position along the muon direction;
* Highland multiple scattering after each step.

The muon's energy decreases along the track; what is left when it leaves the stack is leaked
energy and stored as the truth extra ``muon_exit_energy`` (GeV, 0 if it stopped). Every
discrete loss is stored in the ragged record ``radiative_losses`` with columns ``type``
(index into :data:`calolab.physics.muon.PROCESSES`: 0 bremsstrahlung, 1 pair production,
2 photonuclear, 3 knock-on electron), ``energy`` (GeV), ``depth_cm`` (z of the loss),
``x_cm``, ``y_cm`` and ``muon_energy`` (kinetic energy before the loss, GeV).

Energy convention: the gun energy is the kinetic energy; a muon that stops deposits its
kinetic energy, its rest energy (decay or capture products) is not simulated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from calolab.core.errors import ConfigError
from calolab.geometry.materials import Material
from calolab.physics.ionisation import MUON_MASS_GEV
from calolab.physics.muon import BREMS, KNOCKON, PAIR, PHOTONUCLEAR, T_MAX_GEV, muon_tables
from calolab.simulation import fast
from calolab.simulation._transport import STOPPED
from calolab.simulation.event import EventContext
from calolab.simulation.gun import ParticleGun, Primary
from calolab.simulation.hadronic import HadronicShowerModel
from calolab.simulation.stack import MODE_LOCAL, StackModel
from calolab.simulation.tracking import Tracker, build_track_tables

#: Highest supported muon kinetic energy (GeV): the tables end at 100 TeV.
MAX_MUON_ENERGY_GEV = T_MAX_GEV / 2


@dataclass(frozen=True)
class MuonConfig:
    """Settings of the muon transport.

    Attributes
    ----------
    cut_gev:
        Energy transfers above the cut are discrete losses (showers); below, continuous.
    max_step_cm:
        Longest step, cm.
    stop_gev:
        Kinetic energy below which a muon is stopped (and deposits the rest), GeV.
    """

    cut_gev: float = 0.05
    max_step_cm: float = 5.0
    stop_gev: float = 1e-3

    def __post_init__(self) -> None:
        for name, lo, hi in (("cut_gev", 1e-3, 10.0), ("max_step_cm", 1e-3, 1e3)):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and lo <= v <= hi):
                raise ConfigError(f"muon config: {name} {v!r} must be in [{lo:g}, {hi:g}]")
        if not (isinstance(self.stop_gev, (int, float)) and 1e-3 <= self.stop_gev < self.cut_gev):
            raise ConfigError(
                f"muon config: stop_gev {self.stop_gev!r} must be >= 0.001 and below cut_gev"
            )


DEFAULT_MUON_CONFIG = MuonConfig()


class MuonHandler:
    """Simulates μ- and μ+ (the same physics; see module docstring)."""

    extras_names = ("muon_exit_energy",)
    record_columns = {
        "radiative_losses": ("type", "energy", "depth_cm", "x_cm", "y_cm", "muon_energy")
    }

    def __init__(
        self,
        stack: StackModel,
        config: MuonConfig = DEFAULT_MUON_CONFIG,
        hadronic: HadronicShowerModel | None = None,
    ):
        self.stack = stack
        self.config = config
        self.hadronic = hadronic or HadronicShowerModel(stack)
        cut = config.cut_gev

        def per_material(m: Material) -> dict[str, np.ndarray]:
            a = muon_tables(m, cut).arrays()
            a.pop("ln_t")
            return a

        tables = build_track_tables(stack, per_material)
        self.tracker = Tracker(
            stack,
            tables,
            mass_gev=MUON_MASS_GEV,
            charged=True,
            max_step_cm=config.max_step_cm,
            t_stop_gev=config.stop_gev,
        )

    @staticmethod
    def check_gun(gun: ParticleGun) -> None:
        """Raise :class:`ConfigError` if the gun's energies exceed the tables."""
        lo, hi = gun.spectrum.bounds
        if hi > MAX_MUON_ENERGY_GEV:
            raise ConfigError(
                f"muon energy {gun.spectrum.spec()} GeV: the fast muon tables reach "
                f"{MAX_MUON_ENERGY_GEV:g} GeV; use lower energies"
            )

    def __call__(self, primary: Primary, ctx: EventContext) -> None:
        res = self.tracker.run(ctx.rng, primary.entry, primary.direction, primary.energy)
        d = res.deposits
        if len(d):
            ctx.add_deposits(MODE_LOCAL, d[:, 0], d[:, 1], d[:, 2], d[:, 3])
        for row in res.losses:
            pos, u = row[0:3], row[3:6]
            kind, eps = int(row[6]), float(row[7])
            if kind == BREMS:
                ctx.add_em_shower(pos, u, eps, photon=True)
            elif kind in (PAIR, KNOCKON):
                ctx.add_em_shower(pos, u, eps, photon=False)
            elif kind == PHOTONUCLEAR:
                self.hadronic.develop(ctx, pos, u, eps, 211)
            ctx.record(
                "radiative_losses",
                type=kind,
                energy=eps,
                depth_cm=float(pos[2]),
                x_cm=float(pos[0]),
                y_cm=float(pos[1]),
                muon_energy=float(row[8]),
            )
        t_exit = 0.0 if res.status == STOPPED else float(res.state[6])
        if t_exit > 0.0:
            ctx.add_escaped(t_exit)
        ctx.extras["muon_exit_energy"] = t_exit

    def to_dict(self) -> dict[str, float]:
        return asdict(self.config)


def _factory(stack: StackModel) -> dict[int, fast.Handler]:
    cache: list[MuonHandler] = []

    class _Lazy:
        extras_names = MuonHandler.extras_names
        record_columns = MuonHandler.record_columns

        def _get(self) -> MuonHandler:
            if not cache:
                cache.append(MuonHandler(stack))
            return cache[0]

        def check_gun(self, gun: ParticleGun) -> None:
            MuonHandler.check_gun(gun)

        def __call__(self, primary: Primary, ctx: EventContext) -> None:
            self._get()(primary, ctx)

    h = _Lazy()
    return {13: h, -13: h}


if _factory not in fast.HANDLER_FACTORIES:
    fast.HANDLER_FACTORIES.append(_factory)

__all__ = ["DEFAULT_MUON_CONFIG", "MuonConfig", "MuonHandler"]
