"""Monte Carlo against exact results (enumeration, Kaufman) with tau-aware errors.

Each check is a z-score |MC - exact| / sigma with sigma = sqrt(var * tau_int / n),
tau_int measured on the stored series itself; |z| < 4 fails by chance with
probability ~6e-5 per check. Seeds are fixed, so the suite is deterministic.
"""

import numpy as np
import pytest

from ising.exact import enumerate_ising, kaufman_energy_per_spin
from ising.lattice import cubic, square, triangular
from ising.sampling import sample_ensemble
from zscores import two_sample_z, zscore

TC = 2.0 / np.log(1.0 + np.sqrt(2.0))


@pytest.mark.parametrize("algorithm", ["metropolis", "wolff"])
@pytest.mark.parametrize("T", [1.5, TC, 3.0, 5.0])
def test_4x4_torus_matches_enumeration(algorithm, T):
    lat = square(4)
    exact = enumerate_ising(lat, 1.0 / T)
    ens = sample_ensemble(lat, T, 4000, algorithm=algorithm, seed=17)
    assert abs(zscore(ens.energy, exact.mean_energy)) < 4
    assert abs(zscore(np.abs(ens.magnetization) / lat.n_sites, exact.mean_abs_m)) < 4


@pytest.mark.parametrize("algorithm", ["metropolis", "wolff"])
@pytest.mark.parametrize("T", [1.5, 2.0, TC, 3.0])
def test_16x16_torus_energy_matches_kaufman(algorithm, T):
    lat = square(16)
    exact = kaufman_energy_per_spin(16, 1.0 / T)
    ens = sample_ensemble(lat, T, 3000, algorithm=algorithm, seed=23)
    assert abs(zscore(ens.energy / lat.n_sites, exact)) < 4


@pytest.mark.parametrize("T", [1.2, 1.6410, 2.0, 3.0])
def test_16x16_anisotropic_torus_energy_matches_kaufman(T):
    """J_y/J_x = 0.5 (T_c = 1.6410) against Kaufman's anisotropic ln Z, -d ln Z/d beta / N by a central
    difference whose error bound (< 1e-8) is far below sigma. Only colour-class Metropolis takes
    per-bond couplings: the packed fast path and Wolff decline them."""
    from analysis.symmetry import anisotropic_energy_per_spin
    from ising.lattice import anisotropic_square
    from ising.sampling import MarkovChain

    lat = anisotropic_square(16, ratio=0.5)
    chain = MarkovChain(lat, T)
    assert chain.algorithm_ == "metropolis" and not chain.fast_path
    with pytest.raises(ValueError, match="per-bond"):
        MarkovChain(lat, T, algorithm="wolff")
    exact, bound = anisotropic_energy_per_spin(16, 1.0 / T, 0.5)
    ens = sample_ensemble(lat, T, 3000, seed=23)
    assert bound < 1e-8
    assert abs(zscore(ens.energy / lat.n_sites, exact)) < 4


def test_antiferromagnet_has_the_ferromagnets_energy():
    lat = square(16)
    exact = kaufman_energy_per_spin(16, 1.0 / 2.5)
    for algorithm in ("metropolis", "wolff"):
        afm = sample_ensemble(lat, 2.5, 2000, J=-1.0, algorithm=algorithm, seed=5)
        assert abs(zscore(afm.energy / lat.n_sites, exact)) < 4
        staggered = np.where(np.indices((16, 16)).sum(0) % 2, -1, 1)
        # the staggered magnetisation of the AFM is the FM's magnetisation
        assert np.mean(np.abs((afm.spins * staggered).sum((1, 2)))) > np.mean(np.abs(afm.magnetization))


def test_field_enumeration_small_lattice():
    lat = square(4)
    exact = enumerate_ising(lat, 1 / 2.5, h=0.3)
    ens = sample_ensemble(lat, 2.5, 4000, h=0.3, algorithm="metropolis", seed=2)
    assert abs(zscore(ens.energy, exact.mean_energy)) < 4
    assert abs(zscore(ens.magnetization / lat.n_sites, exact.mean_m)) < 4


@pytest.mark.parametrize(
    ("builder", "temperatures"),
    [(lambda: triangular(9), [3.0, 3.64, 5.0]), (lambda: cubic(6), [4.0, 4.5, 6.0])],
)
def test_metropolis_and_wolff_agree_beyond_the_square_lattice(builder, temperatures):
    lat = builder()
    for T in temperatures:
        met = sample_ensemble(lat, T, 2000, algorithm="metropolis", seed=31)
        wol = sample_ensemble(lat, T, 2000, algorithm="wolff", seed=32)
        assert abs(two_sample_z(met.energy, wol.energy)) < 4
        assert abs(two_sample_z(np.abs(met.magnetization), np.abs(wol.magnetization))) < 4


def test_small_triangular_and_cubic_match_enumeration():
    for lat, T in ((triangular(3), 4.0), (cubic(2), 5.0)):
        exact = enumerate_ising(lat, 1 / T)
        ens = sample_ensemble(lat, T, 3000, algorithm="metropolis", seed=8)
        assert abs(zscore(ens.energy, exact.mean_energy)) < 4


def test_same_seed_same_bytes_and_independent_seeds_differ():
    a = sample_ensemble(square(8), 2.3, 50, seed=9)
    b = sample_ensemble(square(8), 2.3, 50, seed=9)
    c = sample_ensemble(square(8), 2.3, 50, seed=10)
    assert a.spins.tobytes() == b.spins.tobytes()
    assert a.spins.tobytes() != c.spins.tobytes()


def test_stored_spacing_follows_tau():
    ens = sample_ensemble(square(16), 2.4, 20, algorithm="metropolis", seed=1)
    p = ens.params
    assert p["sweeps_between"] == int(np.ceil(2 * p["tau_int"]))
    assert p["tau_int"] == max(p["tau_int_energy"], p["tau_int_abs_m"]) >= 0.5
    assert p["thermalization_sweeps"] >= 20 * p["tau_int"]
