"""The ``fast`` backend: parametrised physics, vectorised, runs everywhere.

Each event has its own random stream, ``SeedSequence(seed, spawn_key=(event_index,))``, so
the same seed gives the same events whatever the batch size, the number of workers or the
order in which batches run. Digitisation uses a second stream per event,
``spawn_key=(event_index, 1)``.

Particles are dispatched to *handlers* by PDG id. A handler records what the particle does
in an :class:`~calolab.simulation.event.EventContext`; EM showers it requests are developed
by :class:`~calolab.simulation.em.EMShowerModel`, and all deposits are binned into cells by
:class:`~calolab.simulation.binning.Binner`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from calolab.core.errors import ConfigError
from calolab.core.particles import particle_mass_gev, particle_name
from calolab.data.showers import Ragged, Showers
from calolab.geometry.detector import Calorimeter
from calolab.physics.sampling import DEFAULT_SAMPLING, SamplingModel
from calolab.simulation._transport import perp_vectors
from calolab.simulation.binning import Binner
from calolab.simulation.digitize import Digitizer, check_digitizer
from calolab.simulation.em import EMShowerModel, SubShowers
from calolab.simulation.event import EventContext
from calolab.simulation.gun import ParticleGun, Primary
from calolab.simulation.stack import MODE_EM, MODE_HAD, MODE_LOCAL, StackModel

if TYPE_CHECKING:
    from calolab.physics.hadronic import HadronicResponse

PI0_MASS_GEV = 0.1349768  # PDG 2024
#: Events whose EM sub-showers are planned together (:meth:`EMShowerModel.plan`: the
#: arithmetic per sub-shower once per batch; each event keeps its own random stream).
EVENTS_PER_PLAN = 64


class Handler(Protocol):
    """Simulates one primary species: records its effects in the event context."""

    def __call__(self, primary: Primary, ctx: EventContext) -> None: ...


def event_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """Random generator of event ``index`` (``stream`` 0: physics, 1: digitisation)."""
    key = (index,) if stream == 0 else (index, stream)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def em_handler(primary: Primary, ctx: EventContext) -> None:
    """Photons and electrons: one EM shower from the entry point."""
    ctx.add_em_shower(primary.entry, primary.direction, primary.energy, primary.pdg == 22)


def pi0_handler(primary: Primary, ctx: EventContext) -> None:
    """π0 → γγ (branching ratio 98.8 %; the Dalitz mode is treated as γγ) with exact
    two-body kinematics: isotropic in the π0 rest frame, boosted along its direction.

    The decay happens ``primary.vertex_distance_cm`` upstream of the entry point; each photon
    flies in vacuum to the front face. A photon that does not reach the face escapes.
    """
    e = primary.energy
    m = PI0_MASS_GEV
    if e <= m:
        raise ConfigError(f"pi0 energy {e:g} GeV must exceed its mass {m} GeV (energy is total)")
    gamma = e / m
    beta = math.sqrt(max(0.0, 1.0 - 1.0 / gamma**2))
    cos_t = 2.0 * ctx.rng.random() - 1.0
    phi = 2.0 * math.pi * ctx.rng.random()
    sin_t = math.sqrt(max(0.0, 1.0 - cos_t**2))
    u = np.array(primary.direction)
    e1, e2 = perp_vectors(u)
    pt = 0.5 * m * sin_t
    vertex = np.array(primary.entry) - primary.vertex_distance_cm * u
    for sign in (1.0, -1.0):
        c = sign * cos_t
        energy = 0.5 * e * (1.0 + beta * c)
        pz = gamma * 0.5 * m * (c + beta)
        p = sign * pt * (math.cos(phi) * e1 + math.sin(phi) * e2) + pz * u
        d = p / np.linalg.norm(p)
        if primary.vertex_distance_cm == 0.0:
            start = np.array(primary.entry)
        elif d[2] <= 1e-9:
            ctx.add_escaped(energy)
            continue
        else:
            start = vertex + (-vertex[2] / d[2]) * d
        if d[2] <= 1e-9:
            ctx.add_escaped(energy)
            continue
        ctx.add_em_shower(start, d, energy, photon=True)
        ctx.record(
            "decay_photons", energy=energy, x=start[0], y=start[1], ux=d[0], uy=d[1], uz=d[2]
        )


# every batch of a π0 run carries this record, even if no event of the batch filled it
pi0_handler.record_columns = {  # type: ignore[attr-defined]
    "decay_photons": ("energy", "x", "y", "ux", "uy", "uz")
}


#: Factories of extra handlers: each takes the :class:`StackModel` and returns {pdg: handler}.
#: Modules that add species (hadrons, muons) register themselves here.
HANDLER_FACTORIES: list[Callable[[StackModel], dict[int, Handler]]] = []


def _default_handlers(stack: StackModel) -> dict[int, Handler]:
    handlers: dict[int, Handler] = {
        22: em_handler,
        11: em_handler,
        -11: em_handler,
        111: pi0_handler,
    }
    for factory in HANDLER_FACTORIES:
        handlers.update(factory(stack))
    return handlers


@dataclass
class EventResult:
    cells: np.ndarray
    digitized: np.ndarray | None
    truth: dict[str, Any]
    extras: dict[str, float]
    records: dict[str, dict[str, list[float]]]
    #: ascending indices of the non-zero cells (``None``: not known)
    nonzero: np.ndarray | None = None


class FastSimulator:
    """Parametrised simulation of particles in a calorimeter (GeV, cm).

    Parameters
    ----------
    detector:
        The calorimeter.
    sampling:
        Sampling-fluctuation model of sampling calorimeters.
    digitizer:
        Digitisation with the detector's readout, applied to every event (``None``: none;
        :func:`simulate` and :func:`simulate_to_file` digitise by default).
    """

    name = "fast"

    def __init__(
        self,
        detector: Calorimeter,
        *,
        sampling: SamplingModel = DEFAULT_SAMPLING,
        digitizer: Digitizer | None = None,
    ):
        self._load_extensions()
        self.detector = detector
        self.sampling = sampling
        self.stack = StackModel.build(detector, sampling, self._hadronic_response())
        self.em = EMShowerModel(self.stack)
        # the followed leptons' ionisation is seen where it lies (local deposits); where every
        # period is one sensitive layer that is what the EM binning gives too, without the
        # extra pass (the same cells, bit for bit)
        self._ion_mode = (
            MODE_EM
            if all(len(s.layers) == 1 and s.layers[0].sensitive for s in detector.sections)
            else MODE_LOCAL
        )
        self.binner = Binner(self.stack)
        self.handlers = _default_handlers(self.stack)
        self.digitizer = check_digitizer(digitizer)
        self._readout = digitizer.prepare(self.stack) if digitizer else None
        self._buffers: (
            tuple[np.ndarray, np.ndarray | None, tuple[list[np.ndarray], list[np.ndarray]]] | None
        ) = None
        self._em_columns: np.ndarray | None = None

    def _batch_arrays(
        self, n: int, reuse: bool
    ) -> tuple[np.ndarray, np.ndarray | None, tuple[list[np.ndarray], list[np.ndarray]]]:
        """Cells and digitised cells (float32, ``(n, n_cells)``, zero) of a batch, and per row
        of each the indices where it may be non-zero (its event writes there; the next
        batch's event clears them). With ``reuse``, views of buffers kept for the next batch:
        writing into memory already mapped saves the page faults of a fresh ~64 MB array per
        batch, and clearing only what the last event wrote saves a pass over every cell of
        the row (~45 µs per 51,200-cell row; BENCHMARKS.md, issue 17, showers per core)."""
        shape = (n, self.stack.n_cells)
        buf = self._buffers
        if not reuse or buf is None or buf[0].shape[0] < n:
            none = np.zeros(0, dtype=np.int64)
            buf = (
                np.zeros(shape, dtype=np.float32),
                np.zeros(shape, dtype=np.float32) if self.digitizer else None,
                ([none] * n, [none] * n),
            )
            if reuse:
                self._buffers = buf
        return buf[0][:n], None if buf[1] is None else buf[1][:n], buf[2]

    def written_cells(
        self, batch: Showers
    ) -> tuple[list[np.ndarray], list[np.ndarray] | None] | None:
        """Per event of ``batch`` — the result of the last :meth:`run` with ``reuse_buffers``,
        its cells unchanged since — the ascending indices of its non-zero cells and
        digitised cells (``None`` without digitisation), as the binning and the digitiser
        wrote them, for :meth:`ShowerWriter.append`; ``None`` if ``batch`` is not in the
        reused buffers."""
        buf = self._buffers
        n = len(batch)
        if buf is None or n > buf[0].shape[0] or not np.shares_memory(batch.cells, buf[0]):
            return None
        cells_nz, digi_nz = buf[2]
        if buf[1] is None or batch.digitized is None:
            return cells_nz[:n], None
        digi = []
        for j in range(n):
            at = digi_nz[j]
            written = at[buf[1][j, at] != 0]
            written.sort()
            digi.append(written)
        return cells_nz[:n], digi

    @staticmethod
    def _load_extensions() -> None:
        """Import modules that register handlers for more species (hadrons, muons)."""
        import importlib

        for mod in ("calolab.simulation.hadronic", "calolab.simulation.muon"):
            try:
                importlib.import_module(mod)
            except ModuleNotFoundError as exc:
                if exc.name != mod:
                    raise

    def _hadronic_response(self) -> HadronicResponse | None:
        try:
            from calolab.physics.hadronic import hadronic_response
        except (ImportError, AttributeError):
            return None
        return hadronic_response()

    @property
    def supported(self) -> list[str]:
        return sorted({particle_name(p) for p in self.handlers})

    def check_gun(self, gun: ParticleGun) -> None:
        """Raise :class:`ConfigError` if the gun's particle or energies cannot be simulated."""
        if gun.pdg not in self.handlers:
            raise ConfigError(
                f"particle '{gun.particle_name}' (PDG {gun.pdg}) is not supported by the fast "
                f"backend; supported: {', '.join(self.supported)}"
            )
        if gun.pdg == 111 and gun.spectrum.bounds[0] <= PI0_MASS_GEV:
            raise ConfigError(
                f"pi0 energy {gun.spectrum.spec()} GeV must exceed the pi0 mass "
                f"{PI0_MASS_GEV} GeV (the energy of a pi0 is its total energy)"
            )
        check = getattr(self.handlers[gun.pdg], "check_gun", None)
        if check is not None:
            check(gun)

    def declared_outputs(
        self, guns: Sequence[ParticleGun]
    ) -> tuple[list[str], dict[str, tuple[str, ...]]]:
        """Truth extras and ragged records the handlers of ``guns`` always produce (handler
        attributes ``extras_names`` and ``record_columns``), so that every batch of a run has
        the same fields even when no event of the batch filled them."""
        extras: list[str] = []
        records: dict[str, tuple[str, ...]] = {}
        for g in guns:
            h = self.handlers[g.pdg]
            for k in getattr(h, "extras_names", ()):
                if k not in extras:
                    extras.append(k)
            for name, cols in getattr(h, "record_columns", {}).items():
                records.setdefault(name, tuple(cols))
        return extras, records

    def simulate_event(
        self,
        primary: Primary,
        rng: np.random.Generator,
        index: int,
        out: np.ndarray | None = None,
    ) -> EventResult:
        """Simulate one primary with the event's random generator (``out``: (n_cells,)
        float32 that receives the cells, e.g. the event's row of a batch)."""
        ctx = self._begin_event(primary, rng, index)
        seeds = ctx.seeds()
        plan = self.em.plan([seeds], [rng])[0] if len(seeds) else None
        return self._finish_event(primary, ctx, plan, out)

    def _begin_event(self, primary: Primary, rng: np.random.Generator, index: int) -> EventContext:
        """The primary's handler: what it does in the event, its EM showers to develop."""
        ctx = EventContext(index=index, rng=rng)
        self.handlers[primary.pdg](primary, ctx)
        return ctx

    def _finish_event(
        self,
        primary: Primary,
        ctx: EventContext,
        plan: SubShowers | None,
        out: np.ndarray | None,
        out_nonzero: np.ndarray | None = None,
    ) -> EventResult:
        """Deposit the event's EM sub-showers (``plan``, :meth:`EMShowerModel.plan` of its
        seeds; ``None`` without seeds), bin everything into cells (into ``out``, non-zero at
        most at ``out_nonzero`` if given: see :meth:`Binner.bin`)."""
        rng = ctx.rng
        em_columns = None
        em_dep = em_leak = 0.0
        if plan is not None:
            # kept zero between events: the binning reads its non-zero columns and clears
            # them (cheaper than a fresh (n_cells,) array per event)
            if self._em_columns is None:
                self._em_columns = np.zeros(self.stack.n_cells)
            em_columns = self._em_columns
        try:
            if em_columns is not None:
                assert plan is not None
                em_dep, em_leak, ionisation = self.em.deposit(plan, rng, em_columns)
                # the followed leptons' ionisation is seen where it lies: an active layer
                # sees a track's loss in it (the MIP response), not the shower's e/mip
                ctx.add_deposits(self._ion_mode, *ionisation)
            binned = self.binner.bin(
                [ctx.deposits(MODE_EM), ctx.deposits(MODE_HAD), ctx.deposits(MODE_LOCAL)],
                rng,
                em_columns,
                out=out,
                out_nonzero=out_nonzero,
            )
        except BaseException:
            if em_columns is not None:
                em_columns.fill(0.0)
            raise
        truth = {
            "pdg": primary.pdg,
            "energy": primary.energy,
            "direction": primary.direction,
            "entry_point": primary.entry,
            "deposited": binned.deposited + em_dep,
            "visible": float(binned.cells.sum(dtype=np.float64)),
            "leaked": binned.leaked + em_leak + ctx.escaped,
            "invisible": ctx.invisible,
        }
        return EventResult(binned.cells, None, truth, ctx.extras, ctx.records, binned.nonzero)

    def run(
        self,
        guns: ParticleGun | Sequence[ParticleGun],
        n_events: int,
        *,
        seed: int,
        start: int = 0,
        progress: Callable[[int], None] | None = None,
        reuse_buffers: bool = False,
    ) -> Showers:
        """Simulate events ``start … start + n_events - 1``.

        With several guns, event i uses gun ``i % len(guns)`` (a mixed, balanced sample).
        With ``reuse_buffers``, the cells and digitised cells of the result are views of
        buffers that the next call with ``reuse_buffers`` overwrites: for callers that consume
        a batch (write it) before simulating the next one.
        """
        gun_list = [guns] if isinstance(guns, ParticleGun) else list(guns)
        if not gun_list:
            raise ConfigError("no particle gun given")
        for g in gun_list:
            self.check_gun(g)
        n = int(n_events)
        cells, digi, (cells_nz, digi_nz) = self._batch_arrays(n, reuse_buffers)
        try:
            return self._run(gun_list, n, seed, start, progress, cells, digi, cells_nz, digi_nz)
        except BaseException:
            self._buffers = None  # rows an event left half-written are not tracked
            raise

    def _run(
        self,
        gun_list: list[ParticleGun],
        n: int,
        seed: int,
        start: int,
        progress: Callable[[int], None] | None,
        cells: np.ndarray,
        digi: np.ndarray | None,
        cells_nz: list[np.ndarray],
        digi_nz: list[np.ndarray],
    ) -> Showers:
        """:meth:`run` into the batch arrays (see :meth:`_batch_arrays`)."""
        pdg = np.zeros(n, dtype=np.int32)
        vec = {k: np.zeros((n, 3)) for k in ("direction", "entry_point")}
        scal = {k: np.zeros(n) for k in ("energy", "deposited", "visible", "leaked", "invisible")}
        extras: dict[str, np.ndarray] = {}
        records: dict[str, list[dict[str, list[float]]]] = {}
        for j0 in range(0, n, EVENTS_PER_PLAN):
            batch = range(j0, min(n, j0 + EVENTS_PER_PLAN))
            primaries, contexts = [], []
            for j in batch:
                i = start + j
                rng = event_rng(seed, i)
                primary = gun_list[i % len(gun_list)].sample(rng)
                primaries.append(primary)
                contexts.append(self._begin_event(primary, rng, i))
            # the EM sub-showers of the batch's events at once (each event its own draws)
            seeds = [c.seeds() for c in contexts]
            with_em = [b for b, sd in enumerate(seeds) if len(sd)]
            plans: list[SubShowers | None] = [None] * len(contexts)
            if with_em:
                planned = self.em.plan(
                    [seeds[b] for b in with_em], [contexts[b].rng for b in with_em]
                )
                for b, p in zip(with_em, planned):
                    plans[b] = p
            for b, j in enumerate(batch):
                i = start + j
                res = self._finish_event(primaries[b], contexts[b], plans[b], cells[j], cells_nz[j])
                cells_nz[j] = res.nonzero if res.nonzero is not None else np.flatnonzero(res.cells)
                if digi is not None:
                    assert self.digitizer is not None and self._readout is not None
                    at, values = self.digitizer.apply_sparse(
                        res.cells, self._readout, event_rng(seed, i, 1), nonzero=res.nonzero
                    )
                    row = digi[j]
                    row[digi_nz[j]] = 0.0
                    row[at] = values
                    digi_nz[j] = at
                t = res.truth
                pdg[j] = t["pdg"]
                vec["direction"][j] = t["direction"]
                vec["entry_point"][j] = t["entry_point"]
                for k in scal:
                    scal[k][j] = t[k]
                for k, v in res.extras.items():
                    extras.setdefault(k, np.full(n, np.nan))[j] = v
                for k, rec in res.records.items():
                    records.setdefault(k, [{} for _ in range(n)])[j] = rec
                if progress is not None:
                    progress(1)
        declared_extras, declared_records = self.declared_outputs(gun_list)
        for k in declared_extras:
            extras.setdefault(k, np.full(n, np.nan))
        for name in declared_records:
            records.setdefault(name, [{} for _ in range(n)])
        return Showers(
            cells=cells,
            truth={"pdg": pdg, **vec, **scal},
            detector=self.detector,
            digitized=digi,
            extras=extras,
            records={k: _ragged(v, declared_records.get(k, ())) for k, v in records.items()},
        )


def _ragged(per_event: list[dict[str, list[float]]], columns: Sequence[str] = ()) -> Ragged:
    keys = sorted({k for ev in per_event for k in ev} | set(columns))
    counts = [len(next(iter(ev.values()))) if ev else 0 for ev in per_event]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    cols = {
        k: np.array([v for ev in per_event for v in ev.get(k, [])], dtype=np.float64) for k in keys
    }
    return Ragged(offsets, cols)


def simulator_for(
    detector: Calorimeter,
    backend: str = "fast",
    *,
    digitizer: Digitizer | None = None,
    sampling: SamplingModel = DEFAULT_SAMPLING,
) -> FastSimulator:
    """The simulator of a backend (``"fast"``; ``"geant4"`` needs the optional extra)."""
    if backend == "fast":
        return FastSimulator(detector, digitizer=digitizer, sampling=sampling)
    if backend == "geant4":
        raise ConfigError(
            "the geant4 backend needs Geant4's Python bindings and its data sets; they cannot "
            "be installed here. Use --backend fast"
        )
    raise ConfigError(f"unknown simulation backend {backend!r}; available: fast")


__all__ = [
    "FastSimulator",
    "HANDLER_FACTORIES",
    "event_rng",
    "particle_mass_gev",
    "simulator_for",
]
