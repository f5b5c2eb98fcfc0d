"""Versions of the physics models that make calolab's showers.

Every dataset records these in its provenance (``provenance["config"]["physics"]``). Bump the
entry of a model whenever a change alters the showers it makes — the formulas in
:mod:`calolab.physics` or the way :mod:`calolab.simulation` samples them (spots, sampling
fluctuations, leakage, transport). ``tests/simulation/test_fingerprint.py`` compares
fixed-seed showers with values stored in the repository and fails until the version is
bumped and the values regenerated on purpose (``python scripts/fingerprint.py --write``).
"""

from __future__ import annotations

#: The model versions, by model.
MODEL_VERSIONS: dict[str, str] = {
    # EM showers, π0 → γγ, sampling fluctuations (2: bounded Beta visible fraction per cell,
    # 3 uniforms per spot; 3: explicit first generations + GFlash sub-showers, exponential
    # spot weights, depth importance sampling, e/mip with the transition effect; 4: the
    # radial profile of cascaded showers at depths standardised per event, spot count ∝ E with
    # Gamma(2) weights in homogeneous media; 5: the far lateral tail falls off with the
    # minimum photon attenuation coefficient of the medium; 6: photons travel the energy-dependent
    # mean free path of Compton scattering + pair production before their sub-showers start,
    # GFlash's sampling term of α applied as a relative change below its 1 GeV fit range;
    # 8: the axial offsets of photon-tail spots from a direction-dependent attenuation (the
    # Compton bound on a photon's energy by its direction), centred on GFlash's depth; "hybrid-7"
    # was the two-component profile of an unmerged experiment, never released; 9: sub-showers
    # below GFlash's fit range fluctuate in T about the median T, and no profile falls off more
    # slowly than the photons at the attenuation minimum, β ≥ μ_min X0; 10: the photoelectric
    # effect in the photon attenuation — μ_min, the photons' mean free path and the direction-
    # dependent attenuation of the far tail's photons; 11: the spots of GFlash's tail component
    # (the photons' deposits) get the axial offsets of the far tail's photons too; 12: in
    # homogeneous media a photon spot's backward share is deposited in soft quanta of at most
    # m_e c²/2 at stratified backward directions, its forward share in one piece, where the
    # shower is sparse: near its start and in each sub-shower's deepest tenth; 13: EM sampling
    # fluctuations as a compound Poisson of samples with Gamma-distributed visible energies
    # (no Beta draws that put sub-keV values into empty cells), the followed leptons'
    # ionisation seen where it is deposited (MIP response of the active layer) with Landau
    # fluctuations in the active layers of sampling sections; "hybrid-14" was a finer spot
    # count in sampling media, measured and not released; 15: below GFlash's fit range a
    # (sub-)shower's fall-off β is limited by its photons' attenuation — interpolated in ln E
    # from β at 1 GeV to μ_min X0 at the critical energy, the mean depth kept; 16: a forward
    # photon of the far tail leaves the axis no earlier than its sub-shower's start, a backward
    # one that would cross the front face is absorbed at it, and the albedo leaves in quanta
    # of m_e c² to E_c, η exp(-t/2 X0) of each spot's energy, η ∝ the electron backscattering
    # coefficient of the medium at the face; 17: every particle above 1 GeV followed explicitly
    # (the follow energy no longer 0.1 E0), and the Gamma profile of a sub-shower whose
    # lepton's first X0 is deposited explicitly starts later, its centre of gravity kept; 18:
    # the explicit cascade's bremsstrahlung LPM-suppressed below k_LPM = E²/E_LPM; 19: the
    # backward share of the spots near the first start as back-scattered photons, their
    # number rounded stochastically, each with the Compton energy of its direction; 20: the
    # followed leptons' ionisation Landau-straggled in homogeneous layers too; 21: a sampling
    # layer's EM signal is MIP-like crossings, Gamma-shaped about Landau's most probable loss,
    # plus broad samples, the crossings a share 0.4 d_active of the visible energy; 22: the
    # depth importance sampling in sampling media too, the crossings 0.3 d_active; 23: in
    # homogeneous media a quarter fewer spots (36 instead of 48 ln Z E) and the halo's spots
    # (GFlash's tail component) drawn with twice the odds and weighted back, normalised over
    # the event; the depth importance sampling with κ = 0.8 instead of 0.85; 24: the tail
    # floor bounds the profile's fall-off where its tail begins (centre of gravity plus three
    # widths), not only its asymptotic β; 25: in sampling media the fluctuations of a
    # (sub-)shower's T and α are GFlash's homogeneous ones of the effective medium — its
    # sampling fits held the sampling noise that the cells get from the sampling model;
    # 26: no radial component wider than R* = 0.82/μ_min, where GFlash's hazard equals the
    # photons' at R — its extrapolated R_T spread deep spots of low-energy showers over
    # tens of Molière radii; 27: the albedo's share per unit backscattering coefficient
    # refitted to the reference's escaping energy, 0.0263 → 0.0308; 28: the pair-production
    # cross section held at its 100 GeV value above it, where its fit's tables end — the
    # extrapolated fit shortened photons' mean free path to 0.99 X0 at 1 TeV in lead)
    "em": "hybrid-28",
    # hadronic showers (EM fraction, invisible energy, e/h, profiles) (3: e/h from Wigmans'
    # decomposition by absorber and active medium, invisible energy per section, one
    # continuous profile set)
    "hadronic": "hadronic-3",
    # muon transport (ionisation, radiative losses, scattering)
    "muon": "muon-2",
}
