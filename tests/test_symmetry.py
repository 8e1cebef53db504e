"""Symmetry-aware thermometers (C6, C7): group actions, exact invariance, soft penalties,
anisotropic couplings against exact enumeration, and the side study's tables and claims."""

import numpy as np
import pytest

from ising.exact import enumerate_ising
from ising.lattice import anisotropic_critical_temperature, anisotropic_square, make_lattice, square
from ising.sampling import sample_ensemble

L = 6


def _spins(n=5, side=L, seed=0):
    rng = np.random.default_rng(seed)
    return np.where(rng.random((n, side, side)) < 0.5, -1.0, 1.0).astype(np.float32)


# ---- anisotropic couplings -------------------------------------------------------------


def test_anisotropic_critical_temperature_solves_onsager_condition():
    assert anisotropic_critical_temperature(1.0) == pytest.approx(2 / np.log(1 + np.sqrt(2)), rel=1e-10)
    for ratio in (0.25, 0.5, 2.0):
        tc = anisotropic_critical_temperature(ratio)
        assert np.sinh(2 / tc) * np.sinh(2 * ratio / tc) == pytest.approx(1.0, abs=1e-10)
    assert anisotropic_critical_temperature(0.5) == pytest.approx(anisotropic_critical_temperature(2.0) / 2)


def test_anisotropic_lattice_is_data_and_rebuilds_from_its_spec():
    lattice = anisotropic_square(4, ratio=0.5)
    assert lattice.bond_couplings.shape == (16, 4)
    rebuilt = make_lattice(**lattice.spec())
    np.testing.assert_array_equal(rebuilt.bond_couplings, lattice.bond_couplings)
    np.testing.assert_array_equal(rebuilt.neighbours, square(4).neighbours)
    with pytest.raises(ValueError, match="ratio"):
        anisotropic_square(4, ratio=-1.0)


def test_asymmetric_bond_couplings_are_refused():
    base = square(4)
    couplings = np.ones(base.neighbours.shape)
    couplings[0, 0] = 2.0
    from dataclasses import replace

    with pytest.raises(ValueError, match="two ends"):
        replace(base, bond_couplings=couplings)


def test_enumeration_with_unit_couplings_matches_the_isotropic_path():
    from dataclasses import replace

    base = square(4)
    weighted = replace(base, bond_couplings=np.ones(base.neighbours.shape))
    for beta in (0.3, 0.6):
        a, b = enumerate_ising(base, beta, h=0.2), enumerate_ising(weighted, beta, h=0.2)
        assert b.log_z == pytest.approx(a.log_z, rel=1e-12)
        assert b.mean_energy == pytest.approx(a.mean_energy, rel=1e-10)


def test_enumeration_of_decoupled_rows_is_the_ising_ring():
    """J_y = 0 leaves 4 independent rings of 4 spins: ln Z = 4 ln(2^4 (cosh^4 K + sinh^4 K))."""
    from dataclasses import replace

    base = square(4)
    weighted = replace(base, bond_couplings=np.tile([0.0, 0.0, 1.0, 1.0], (16, 1)))
    K = 0.7
    ring = np.log(2.0**4 * (np.cosh(K) ** 4 + np.sinh(K) ** 4))
    assert enumerate_ising(weighted, K).log_z == pytest.approx(4 * ring, rel=1e-12)


def test_bond_energy_kernel_matches_naive_sum():
    from ising._kernels import total_energy, total_energy_bonds

    lattice = anisotropic_square(4, ratio=0.3)
    spins = _spins(1, 4, seed=3).reshape(-1).astype(np.int8)
    i, j = np.indices((4, 4))
    s = spins.reshape(4, 4).astype(float)
    naive = -(0.3 * np.sum(s * np.roll(s, 1, 0)) + np.sum(s * np.roll(s, 1, 1))) - 0.2 * s.sum()
    assert total_energy_bonds(spins, lattice.neighbours, lattice.bond_couplings, 1.0, 0.2) == pytest.approx(
        naive
    )
    ones = np.ones(lattice.neighbours.shape)
    assert total_energy_bonds(spins, lattice.neighbours, ones, 1.0, 0.2) == pytest.approx(
        total_energy(spins, lattice.neighbours, 1.0, 0.2)
    )


def test_anisotropic_sampler_declines_fast_path_and_wolff():
    from ising.sampling import MarkovChain

    lattice = anisotropic_square(4, ratio=0.5)
    chain = MarkovChain(lattice, T=1.5, algorithm="auto")
    assert chain.algorithm_ == "metropolis" and not chain.fast_path
    with pytest.raises(ValueError, match="per-bond"):
        MarkovChain(lattice, T=1.5, algorithm="wolff")
    with pytest.raises(ValueError, match="fast path"):
        MarkovChain(lattice, T=1.5, fast=True)


@pytest.mark.parametrize("ratio, T, h", [(0.5, 1.2, 0.0), (0.5, 2.0, 0.0), (0.25, 1.0, 0.3)])
def test_anisotropic_energy_agrees_with_enumeration(ratio, T, h):
    """Mean energy of Metropolis with J_x != J_y on the 4 x 4 torus against exact enumeration."""
    lattice = anisotropic_square(4, ratio=ratio)
    ens = sample_ensemble(lattice, T, 4000, h=h, seed=11, pilot_taus=200)
    result = enumerate_ising(lattice, 1.0 / T, h=h)
    exact, var = result.mean_energy, result.mean_energy_sq - result.mean_energy**2
    se = np.sqrt(var / ens.energy.size)
    z = (ens.energy.mean() - exact) / se
    assert abs(z) < 4, f"z = {z:.2f}"
    assert ens.energy.std() == pytest.approx(np.sqrt(var), rel=0.1)
