"""Exact results: Kaufman's torus against enumeration and Onsager, and the Bayes thermometer."""

import itertools

import numpy as np
import pytest

from ising.exact import (
    bayes_beta_estimate,
    bayes_posterior,
    enumerate_ising,
    exact_entropy_per_spin,
    kaufman_energy_per_spin,
    kaufman_log_z,
    kaufman_specific_heat,
    onsager_critical_temperature,
    onsager_energy_per_spin,
    onsager_free_energy,
    onsager_spontaneous_magnetization,
)
from ising.lattice import Lattice, cubic, greedy_colouring, square, triangular

BETA_C = np.log1p(np.sqrt(2.0)) / 2.0
# High temperature, near T_c on both sides, exactly T_c, and deep in the ordered phase.
BETAS = np.array([0.05, 0.2, 0.4, BETA_C, 0.5, 1.0, 3.0])


def rectangular_torus(lx, ly):
    """Periodic lx x ly square lattice; a side of 2 repeats neighbours, as square(2) does."""
    index = np.arange(lx * ly).reshape(lx, ly)
    i, j = np.indices((lx, ly)).reshape(2, -1)
    neighbours = np.stack(
        [index[(i + 1) % lx, j], index[(i - 1) % lx, j], index[i, (j + 1) % ly], index[i, (j - 1) % ly]],
        axis=1,
    )
    even = lx % 2 == 0 and ly % 2 == 0
    colours = (i + j) % 2 if even else greedy_colouring(neighbours)
    return Lattice("rectangle", (lx, ly), neighbours, colours)


def brute_force(lattice, beta, J, h):
    """ln Z, <E>, <|M|>/N by a plain loop over configurations and bonds (the definition)."""
    n = lattice.n_sites
    energies, mags = [], []
    for config in itertools.product((-1, 1), repeat=n):
        s = np.array(config)
        bonds = sum(s[i] * s[k] for i in range(n) for k in lattice.neighbours[i])
        energies.append(-0.5 * J * bonds - h * s.sum())
        mags.append(abs(s.sum()) / n)
    energies, mags = np.array(energies), np.array(mags)
    w = np.exp(-beta * energies)
    return np.log(w.sum()), (w * energies).sum() / w.sum(), (w * mags).sum() / w.sum()


def test_kaufman_log_z_equals_enumeration_on_square_4():
    result = enumerate_ising(square(4), BETAS)
    np.testing.assert_allclose(kaufman_log_z(4, BETAS), result.log_z, rtol=1e-12)


# Sides of 2 (doubled bonds in both conventions), odd sides, and both orientations of each rectangle.
@pytest.mark.parametrize("lx, ly", [(2, 2), (2, 4), (4, 2), (3, 4), (4, 3), (3, 3), (2, 3), (4, 5)])
def test_kaufman_matches_enumeration_on_rectangular_tori(lx, ly):
    result = enumerate_ising(rectangular_torus(lx, ly), BETAS)
    np.testing.assert_allclose(kaufman_log_z(lx, BETAS, Ly=ly), result.log_z, rtol=1e-12)
    np.testing.assert_allclose(kaufman_energy_per_spin(lx, BETAS, Ly=ly), result.energy_per_spin, atol=1e-12)
    np.testing.assert_allclose(kaufman_specific_heat(lx, BETAS, Ly=ly), result.specific_heat, atol=1e-12)


def test_kaufman_derivatives_match_enumeration_moments_on_square_4():
    result = enumerate_ising(square(4), BETAS)
    n = 16
    np.testing.assert_allclose(kaufman_energy_per_spin(4, BETAS), result.mean_energy / n, atol=1e-12)
    variance = result.mean_energy_sq - result.mean_energy**2
    np.testing.assert_allclose(kaufman_specific_heat(4, BETAS), BETAS**2 * variance / n, atol=1e-10)


@pytest.mark.parametrize("L", [16, 256])
def test_kaufman_derivatives_match_central_differences(L):
    # Central differences with step 1e-5 are accurate to ~h^2 |f'''| ~ 1e-8 here (and
    # rounding eps |ln Z| / h^2 would swamp the second difference of ln Z, so c uses u).
    beta = np.array([0.2, 0.42, BETA_C, 0.46, 0.8, 1.5])
    h = 1e-5
    log_z_diff = (kaufman_log_z(L, beta + h) - kaufman_log_z(L, beta - h)) / (2 * h)
    np.testing.assert_allclose(kaufman_energy_per_spin(L, beta), -log_z_diff / L**2, atol=1e-7)
    u_diff = (kaufman_energy_per_spin(L, beta + h) - kaufman_energy_per_spin(L, beta - h)) / (2 * h)
    np.testing.assert_allclose(kaufman_specific_heat(L, beta), -(beta**2) * u_diff, rtol=1e-5)


def test_kaufman_is_finite_and_vectorised_over_a_wide_range():
    beta = np.concatenate([np.geomspace(0.01, 5.0, 60), [BETA_C]]).reshape(-1, 1)
    for L in (2, 64, 512):
        for f in (kaufman_log_z, kaufman_energy_per_spin, kaufman_specific_heat):
            values = f(L, beta)
            assert values.shape == beta.shape
            assert np.all(np.isfinite(values))
    assert isinstance(kaufman_log_z(8, 0.3), float)
    # Ground state: ln Z -> ln 2 + 2 N K, u -> -2 (two bonds per spin).
    assert kaufman_log_z(512, 5.0) == pytest.approx(np.log(2.0) + 2 * 512**2 * 5.0, rel=1e-15)
    assert kaufman_energy_per_spin(512, 5.0) == pytest.approx(-2.0, abs=1e-12)


def test_antiferromagnet_equals_ferromagnet_on_even_torus():
    np.testing.assert_allclose(kaufman_log_z(6, BETAS, J=-1.0), kaufman_log_z(6, BETAS), rtol=1e-14)
    ferro = enumerate_ising(square(4), BETAS, J=1.0)
    anti = enumerate_ising(square(4), BETAS, J=-1.0)
    np.testing.assert_allclose(anti.log_z, ferro.log_z, rtol=1e-13)
    np.testing.assert_allclose(kaufman_log_z(4, BETAS, J=-1.0), anti.log_z, rtol=1e-12)
    np.testing.assert_allclose(kaufman_energy_per_spin(4, BETAS, J=-1.0), anti.energy_per_spin, atol=1e-12)
    with pytest.raises(ValueError, match="frustrated"):
        kaufman_log_z(3, 0.5, J=-1.0, Ly=4)


def test_kaufman_approaches_onsager_free_energy_and_energy():
    # Off T_c the finite-size corrections on a torus are ~exp(-L/xi): at L = 256 they are far
    # below double precision, except for the exact ln 2 / N of the two ordered phases below T_c.
    for T in (1.5, 2.0, 3.0, 3.5):
        beta = 1.0 / T
        bulk = -beta * onsager_free_energy(beta)
        ordered = np.log(2.0) / 256**2 if T < onsager_critical_temperature() else 0.0
        assert kaufman_log_z(256, beta) / 256**2 == pytest.approx(bulk + ordered, abs=1e-13)
        assert kaufman_energy_per_spin(256, beta) == pytest.approx(onsager_energy_per_spin(beta), abs=1e-12)
    # At T_c the corrections are power laws: ln Z / N - (-beta f) ~ 1/L^2 and u_L - u ~ 1/L.
    gap_f = [kaufman_log_z(L, BETA_C) / L**2 + BETA_C * onsager_free_energy(BETA_C) for L in (256, 512)]
    gap_u = [kaufman_energy_per_spin(L, BETA_C) - onsager_energy_per_spin(BETA_C) for L in (256, 512)]
    assert gap_f[0] / gap_f[1] == pytest.approx(4.0, rel=1e-3)
    assert gap_u[0] / gap_u[1] == pytest.approx(2.0, rel=1e-3)
    # Specific heat at T_c grows as (8 K_c^2 / pi) ln L (Ferdinand & Fisher 1969), corrections ~1/L.
    growth = kaufman_specific_heat(512, BETA_C) - kaufman_specific_heat(256, BETA_C)
    assert growth == pytest.approx(8 * BETA_C**2 / np.pi * np.log(2.0), abs=1e-3)


def test_onsager_values_at_the_critical_point():
    assert onsager_critical_temperature() == pytest.approx(2.269185314213022, rel=1e-14)
    assert onsager_critical_temperature(-2.0) == pytest.approx(2 * 2.269185314213022, rel=1e-14)
    catalan = 0.915965594177219015
    assert -BETA_C * onsager_free_energy(BETA_C) == pytest.approx(
        0.5 * np.log(2) + 2 * catalan / np.pi, abs=1e-13
    )
    assert onsager_energy_per_spin(BETA_C) == pytest.approx(-np.sqrt(2.0), abs=1e-12)
    # High-temperature series: ln Z / N = ln 2 + 2 ln cosh K + tanh^4 K + ..., so u = -2K + O(K^3).
    assert onsager_energy_per_spin(1e-3) == pytest.approx(-2e-3, rel=1e-5)


def test_yang_magnetization():
    # Low-temperature series m = 1 - 2u^2 - 8u^3 - 34u^4 - 152u^5 - ..., u = exp(-4J/T).
    for T in (0.8, 1.0):
        u = np.exp(-4.0 / T)
        series = 1 - 2 * u**2 - 8 * u**3 - 34 * u**4
        assert onsager_spontaneous_magnetization(T) == pytest.approx(series, abs=2 * 152 * u**5)
    T_c = onsager_critical_temperature()
    m = onsager_spontaneous_magnetization(np.array([T_c * (1 - 1e-8), T_c * (1 + 1e-8), 3.0]))
    assert 0.0 < m[0] < 0.2  # continuous: ~ (1 - T/T_c)^(1/8) vanishes at T_c
    assert m[1] == 0.0 and m[2] == 0.0


def test_entropy_limits_and_monotonicity():
    L = 16
    assert exact_entropy_per_spin(L, 1e-4) == pytest.approx(np.log(2.0), abs=1e-7)
    assert exact_entropy_per_spin(L, 1e-4, bits=True) == pytest.approx(1.0, abs=1e-7)
    # beta -> infinity: only the two ground states remain.
    assert exact_entropy_per_spin(L, 5.0) == pytest.approx(np.log(2.0) / L**2, abs=1e-12)
    beta = np.geomspace(0.01, 3.0, 200)
    s = exact_entropy_per_spin(L, beta)
    assert np.all(s > 0.0)
    assert np.all(np.diff(s) < 0.0)
    # Against enumeration: s = ln Z / N + beta <E> / N.
    result = enumerate_ising(square(4), BETAS)
    expected = result.log_z / 16 + BETAS * result.energy_per_spin
    np.testing.assert_allclose(exact_entropy_per_spin(4, BETAS), expected, atol=1e-12)


@pytest.mark.parametrize("lattice", [triangular(3), cubic(2), square(2)], ids=lambda lat: lat.describe())
def test_enumeration_at_infinite_temperature(lattice):
    n = lattice.n_sites
    result = enumerate_ising(lattice, 0.0)
    assert result.log_z == pytest.approx(n * np.log(2.0), rel=1e-14)
    assert result.mean_energy == pytest.approx(0.0, abs=1e-12)
    assert result.mean_m2 == pytest.approx(1.0 / n, rel=1e-12)  # independent spins


def test_enumeration_matches_the_definition_with_a_field():
    lattice = triangular(3)  # z = 6 and 9 sites: 512 configurations
    for beta, J, h in [(0.3, 1.0, 0.0), (0.7, -0.5, 0.4)]:
        log_z, mean_e, mean_abs_m = brute_force(lattice, beta, J, h)
        result = enumerate_ising(lattice, beta, J=J, h=h)
        assert result.log_z == pytest.approx(log_z, rel=1e-13)
        assert result.mean_energy == pytest.approx(mean_e, rel=1e-12)
        assert result.mean_abs_m == pytest.approx(mean_abs_m, rel=1e-12)


def test_bayes_estimate_is_sharp_on_a_large_lattice():
    # At L = 256 the log-odds between neighbouring grid points, ~ (d beta)^2 N c / (2 beta^2),
    # is in the tens or more, so the posterior sits on the true grid point.
    temperatures = np.round(np.arange(1.0, 3.51, 0.1), 10)
    beta_grid = 1.0 / temperatures
    log_z = kaufman_log_z(256, beta_grid)
    mean_energy = 256**2 * kaufman_energy_per_spin(256, beta_grid)
    estimate = bayes_beta_estimate(mean_energy, beta_grid, log_z)
    np.testing.assert_allclose(estimate, beta_grid, atol=1e-3)


def test_bayes_estimate_is_bounded_stable_and_monotone():
    beta_grid = np.linspace(0.25, 1.0, 16)
    log_z = kaufman_log_z(8, beta_grid)
    energy = np.concatenate([[-1e12, -1e300, 1e12, 1e300], np.linspace(-128.0, 0.0, 50)])
    estimate = bayes_beta_estimate(energy, beta_grid, log_z)
    assert np.all(np.isfinite(estimate))
    assert np.all((estimate >= beta_grid.min()) & (estimate <= beta_grid.max()))
    assert estimate[0] == pytest.approx(1.0) and estimate[2] == pytest.approx(0.25)
    # Exponential family: a higher energy means a lower posterior mean of beta.
    assert np.all(np.diff(estimate[4:]) < 0.0)
    # Moderate energies: equals the formula evaluated directly.
    w = np.exp(-np.outer(energy[4:], beta_grid) - log_z)
    np.testing.assert_allclose(estimate[4:], w @ beta_grid / w.sum(axis=1), rtol=1e-12)
    posterior = bayes_posterior(energy, beta_grid, log_z)
    assert posterior.shape == (energy.size, beta_grid.size)
    np.testing.assert_allclose(posterior.sum(axis=1), 1.0, rtol=1e-12)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="side"):
        kaufman_log_z(0, 0.5)
    with pytest.raises(ValueError, match="side"):
        kaufman_log_z(4, 0.5, Ly=-3)
    with pytest.raises(ValueError, match="beta"):
        kaufman_log_z(4, np.array([0.5, 0.0]))
    with pytest.raises(ValueError, match="beta"):
        kaufman_energy_per_spin(4, -1.0)
    with pytest.raises(ValueError, match="24 sites"):
        enumerate_ising(square(6), 0.5)
    with pytest.raises(ValueError, match="beta"):
        enumerate_ising(square(2), -0.1)
    with pytest.raises(ValueError, match="log_z"):
        bayes_beta_estimate(np.zeros(3), np.ones(4), np.ones(3))
    with pytest.raises(ValueError, match="finite"):
        bayes_posterior(np.array([np.nan]), np.ones(2), np.ones(2))


@pytest.mark.parametrize("offset", [-1e-9, 1e-9, -1e-8, 1e-8])
def test_kaufman_within_1e_9_of_beta_c_matches_enumeration(offset):
    # cosh g_0 - 1 = (1 - s)^2 / s ~ 1e-17 here; written as s - 2 + 1/s it rounded to 0 (or
    # 1e-15), which put errors of ~2e-9 into ln Z and ~1e-9 into u on the 4 x 4 torus.
    beta = BETA_C + offset
    result = enumerate_ising(square(4), beta)
    assert kaufman_log_z(4, beta) == pytest.approx(result.log_z, rel=1e-14)
    assert kaufman_energy_per_spin(4, beta) == pytest.approx(result.energy_per_spin, abs=1e-13)
    assert kaufman_specific_heat(4, beta) == pytest.approx(result.specific_heat, abs=1e-12)


@pytest.mark.parametrize("offset", [-1e-9, 1e-9])
def test_cancellation_free_gap_against_extended_precision(offset):
    # cosh g_0 - 1 at K = beta_c + offset in float64 against the same expression in long double
    # (64-bit mantissa): the cancellation-free form keeps ~8 digits, the expanded one none.
    k = BETA_C + offset
    s, s_long = np.sinh(2.0 * k), np.sinh(2.0 * np.longdouble(k))
    reference = (1 - s_long) ** 2 / s_long
    assert np.finfo(np.longdouble).eps < 1e-18
    assert abs((1.0 - s) ** 2 / s / reference - 1) < 1e-6
    assert abs((s - 2.0 + 1.0 / s) / reference - 1) > 0.5


@pytest.mark.parametrize("L", [16, 64])
def test_kaufman_is_smooth_through_beta_c(L):
    # u(beta_c + e) - u(beta_c - e) = -2 e c / beta^2 + O(e^3): at e = 1e-9 that is ~1e-9;
    # the old form's ~1e-9 errors on each side broke this by more than the difference itself.
    eps = 1e-9
    beta = np.array([BETA_C - eps, BETA_C, BETA_C + eps])
    u = kaufman_energy_per_spin(L, beta)
    slope = -kaufman_specific_heat(L, BETA_C) / BETA_C**2
    assert u[2] - u[0] == pytest.approx(2 * eps * slope, rel=1e-3, abs=1e-15)
    assert u[1] == pytest.approx(0.5 * (u[0] + u[2]), abs=1e-14)
    log_z = kaufman_log_z(L, beta)
    assert log_z[2] - log_z[0] == pytest.approx(-2 * eps * L * L * u[1], rel=1e-4)
