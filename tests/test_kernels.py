import numpy as np
import pytest

import naive
from ising import _kernels
from ising._rng import next_double, seed_states
from ising.lattice import cubic, square, triangular

LATTICES = [lambda: square(4), lambda: square(6), lambda: triangular(6), lambda: cubic(4)]


def random_spins(n, seed):
    return np.where(np.random.default_rng(seed).random(n) < 0.5, -1, 1).astype(np.int8)


@pytest.mark.parametrize("builder", LATTICES)
@pytest.mark.parametrize(("J", "h"), [(1.0, 0.0), (-1.0, 0.3), (0.7, -0.5)])
def test_energy_kernel_matches_reference(builder, J, h):
    lat = builder()
    spins = random_spins(lat.n_sites, 1)
    assert _kernels.total_energy(spins, lat.neighbours, J, h) == pytest.approx(
        naive.energy_from_bonds(spins, lat.neighbours, J, h), abs=1e-9
    )


def test_energy_of_square_matches_array_shifts():
    lat = square(8)
    for seed in range(5):
        spins = random_spins(lat.n_sites, seed)
        assert _kernels.total_energy(spins, lat.neighbours, 1.3, 0.2) == pytest.approx(
            naive.energy_square(spins.reshape(8, 8), 1.3, 0.2)
        )


@pytest.mark.parametrize("builder", LATTICES)
@pytest.mark.parametrize(("beta", "J", "h"), [(0.3, 1.0, 0.0), (0.6, -1.0, 0.2), (1.0, 1.0, -0.4)])
def test_metropolis_kernel_matches_reference_bit_for_bit(builder, beta, J, h):
    lat = builder()
    spins = random_spins(lat.n_sites, 7)
    sites, offsets = lat.colour_classes()
    state_kernel = seed_states(11)[0]
    state_naive = state_kernel.copy()
    fast = spins.copy()
    _kernels.metropolis_sweeps(fast, lat.neighbours, sites, offsets, beta, J, h, 3, state_kernel)
    slow = naive.metropolis_sweeps(spins, lat.neighbours, lat.colours, beta, J, h, 3, state_naive)
    assert np.array_equal(fast, slow)
    assert np.array_equal(state_kernel, state_naive)  # same number of random draws


@pytest.mark.parametrize("builder", LATTICES)
@pytest.mark.parametrize(("beta", "J"), [(0.2, 1.0), (0.44, 1.0), (0.5, -1.0)])
def test_wolff_kernel_matches_reference_bit_for_bit(builder, beta, J):
    lat = builder()
    spins = random_spins(lat.n_sites, 5)
    state_kernel = seed_states(3)[0]
    state_naive = state_kernel.copy()
    fast = spins.copy()
    members = np.empty(lat.n_sites, dtype=np.int32)
    in_cluster = np.zeros(lat.n_sites, dtype=np.uint8)
    sizes = np.empty(4, dtype=np.int64)
    p_add = -np.expm1(-2.0 * beta * abs(J))
    _kernels.wolff_steps(fast, lat.neighbours, p_add, J, 4, state_kernel, members, in_cluster, sizes)
    slow = spins
    for step in range(4):
        slow, size = naive.wolff_step(slow, lat.neighbours, beta, J, state_naive)
        assert sizes[step] == size
    assert np.array_equal(fast, slow)
    assert not in_cluster.any()


def test_random_stream_is_uniform_and_streams_differ():
    states = seed_states(0, 2)
    x = np.array([next_double(states[0]) for _ in range(20000)])
    y = np.array([next_double(states[1]) for _ in range(20000)])
    # mean 1/2 and variance 1/12 within ~5 standard errors
    assert abs(x.mean() - 0.5) < 5 * np.sqrt(1 / 12 / x.size)
    assert abs(x.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / x.size)
    assert abs(np.corrcoef(x, y)[0, 1]) < 5 / np.sqrt(x.size)
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 5 / np.sqrt(x.size)
