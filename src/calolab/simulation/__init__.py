"""Simulation of particles in a calorimeter: particle gun, fast backend, digitisation."""

from calolab.core.particles import particle_name, particle_pdg
from calolab.simulation.digitize import Digitizer
from calolab.simulation.fast import FastSimulator, event_rng, simulator_for
from calolab.simulation.gun import EnergySpectrum, ParticleGun, Primary
from calolab.simulation.request import SimulationRequest
from calolab.simulation.run import simulate, simulate_to_file
from calolab.simulation.timing import TimingModel, add_timing

__all__ = [
    "Digitizer",
    "EnergySpectrum",
    "FastSimulator",
    "ParticleGun",
    "Primary",
    "SimulationRequest",
    "TimingModel",
    "add_timing",
    "event_rng",
    "particle_name",
    "particle_pdg",
    "simulate",
    "simulate_to_file",
    "simulator_for",
]
