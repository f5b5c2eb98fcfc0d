"""Digitise a dataset again with a varied readout: the noise or light-yield systematics.

The true visible energies of a calolab file (``showers``) are digitised again with the
readout of its detector, its electronic noise scaled by ``noise_scale`` (the zero-suppression
threshold, given in σ of the noise, follows) and its light yield by ``light_yield_scale``,
with the same random streams as the original digitisation (``event_rng(seed, i, 1)`` of the
file's provenance), so that the difference to the original is the variation's effect, not new
noise. Dead channels stored with the file stay dead. The detector stored in the output is the
original one, so a trained run reads the varied file as the same detector.

:func:`redigitize` does the same for showers in memory (the optimiser's systematic envelope),
given the seed and first event they were simulated with.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from calolab.core.config import check_float
from calolab.core.errors import DataError
from calolab.data.hdf5 import ShowerFile, ShowerWriter
from calolab.data.showers import Showers
from calolab.geometry.detector import Calorimeter
from calolab.simulation.digitize import Digitizer, PreparedReadout
from calolab.simulation.fast import FastSimulator, event_rng


def varied_readout(
    prep: PreparedReadout, noise_scale: float = 1.0, light_yield_scale: float = 1.0
) -> PreparedReadout:
    """``prep`` with the noise (and thresholds in σ of it) and the light yield scaled."""
    check_float("noise_scale", noise_scale, exclusive_minimum=0.0)
    check_float("light_yield_scale", light_yield_scale, exclusive_minimum=0.0)
    groups = tuple(
        (cells, sigma * noise_scale, t * noise_scale, occ, dense)
        for cells, sigma, t, occ, dense in prep.groups
    )
    return dataclasses.replace(
        prep,
        noise=prep.noise * noise_scale,
        threshold=prep.threshold * noise_scale,
        pe_per_mip=prep.pe_per_mip * light_yield_scale,
        groups=groups,
    )


def _digitize_again(
    cells: np.ndarray,
    digitizer: Digitizer,
    prep: PreparedReadout,
    seed: int,
    first: int,
    dead: np.ndarray | None,
) -> np.ndarray:
    """Digitised energies of ``cells`` (events ``first, first + 1, ...`` of a run of ``seed``)
    with the readout ``prep``, from the original digitisation's random streams."""
    digi = np.zeros_like(cells)
    for j in range(len(cells)):
        digi[j] = digitizer.apply(cells[j], prep, event_rng(seed, first + j, 1))
    if dead is not None:
        digi[:, dead] = 0
    return digi


def _prepared(
    det: Calorimeter, calibration: str, noise_scale: float, light_yield_scale: float
) -> tuple[Digitizer, PreparedReadout]:
    digitizer = Digitizer(calibration=calibration)
    sim = FastSimulator(det, digitizer=digitizer)
    return digitizer, varied_readout(digitizer.prepare(sim.stack), noise_scale, light_yield_scale)


def redigitize(
    showers: Showers,
    *,
    seed: int,
    first_event: int = 0,
    noise_scale: float = 1.0,
    light_yield_scale: float = 1.0,
    calibration: str = "em",
) -> np.ndarray:
    """The digitised cells (GeV, ``(N, n_cells)`` float32) of ``showers`` — simulated with
    ``seed`` from event ``first_event`` on, digitised with the ``calibration`` of
    :class:`~calolab.simulation.digitize.Digitizer` — digitised again with the noise and the
    light yield scaled. With both scales 1 this reproduces ``showers.digitized``."""
    if showers.detector is None:
        raise DataError("showers without a calolab detector cannot be digitised again")
    digitizer, prep = _prepared(showers.detector, calibration, noise_scale, light_yield_scale)
    dead = showers.conditions.dead if showers.conditions is not None else None
    return _digitize_again(showers.cells, digitizer, prep, seed, first_event, dead)


def redigitize_file(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    noise_scale: float = 1.0,
    light_yield_scale: float = 1.0,
    max_events: int | None = None,
    batch_size: int = 512,
) -> Path:
    """Write ``output``: the events of ``path`` digitised with the varied readout."""
    with ShowerFile(path) as f:
        det = f.detector
        if det is None or not f.has_digitized:
            raise DataError(
                f"'{path}' needs a calolab detector and digitised cells to be digitised again"
            )
        prov = dict(f.provenance)
        raw_config = prov.get("config")
        config: dict[str, Any] = raw_config if isinstance(raw_config, dict) else {}
        digi_cfg = config.get("digitizer") or {}
        calibration = digi_cfg.get("calibration", "em") if isinstance(digi_cfg, dict) else "em"
        seed = int(config.get("seed", 0) or 0)
        first = int(config.get("first_event", 0) or 0)
        digitizer, prep = _prepared(det, calibration, noise_scale, light_yield_scale)
        prov["readout_variation"] = {
            "noise_scale": noise_scale,
            "light_yield_scale": light_yield_scale,
            "input": str(path),
        }
        n = min(len(f), max_events or len(f))
        dead = f.conditions.dead if f.conditions is not None else None
        with ShowerWriter(output, det, prov, inputs=[path]) as w:
            for a in range(0, n, batch_size):
                batch = f.read(a, min(n, a + batch_size))
                batch.digitized = _digitize_again(
                    batch.cells, digitizer, prep, seed, first + a, dead
                )
                w.append(batch)
    return Path(output)


__all__ = ["redigitize", "redigitize_file", "varied_readout"]
