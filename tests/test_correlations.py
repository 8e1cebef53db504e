import numpy as np
import pytest

from analysis.correlations import (
    bond_products,
    connected_correlation,
    correlation_function,
    correlation_matrix_table,
    correlation_summary,
    flip_symmetrised,
    nearest_neighbour_correlation,
    second_moment_correlation_length,
    sign_folded,
    structure_factor,
)
from ising.lattice import cubic, graph_lattice, square, triangular


def smooth_field(shape, n, seed, width=1.5):
    """Real Gaussian fields on the torus with a Gaussian kernel of the given width (sites)."""
    rng = np.random.default_rng(seed)
    k2 = sum(np.meshgrid(*[(2 * np.pi * np.fft.fftfreq(L)) ** 2 for L in shape], indexing="ij", sparse=True))
    kernel = np.exp(-0.5 * width**2 * k2)
    noise = rng.normal(size=(n, *shape))
    axes = tuple(range(1, len(shape) + 1))
    return np.fft.ifftn(np.fft.fftn(noise, axes=axes) * kernel, axes=axes).real


def correlated_spins(shape, n, seed, width=1.5):
    return np.where(smooth_field(shape, n, seed, width) > 0, 1, -1).astype(np.int8)


def stripes(L):
    """All 4 phases x 2 signs of period-4 stripes along axis 1: site means vanish exactly."""
    pattern = np.array([1, 1, -1, -1])
    configs = []
    for phase in range(4):
        row = pattern[(np.arange(L) + phase) % 4]
        for sign in (1, -1):
            configs.append(np.broadcast_to(sign * row, (L, L)))
    return np.array(configs, dtype=np.int8)


def test_independent_spins_have_diagonal_correlation():
    rng = np.random.default_rng(0)
    n, N = 4000, 36
    p_up = rng.uniform(0.2, 0.8, size=N)
    spins = np.where(rng.random((n, N)) < p_up, 1, -1).astype(np.int8).reshape(n, 6, 6)
    C = connected_correlation(spins)
    m = spins.reshape(n, N).mean(axis=0)
    np.testing.assert_allclose(np.diag(C), 1.0 - m**2, atol=1e-12)
    off = C[~np.eye(N, dtype=bool)]
    # Each off-diagonal entry is a sample covariance of independent spins: sd <= 1/sqrt(n).
    assert np.max(np.abs(off)) < 5.0 / np.sqrt(n)
    assert abs(off.mean()) < 5.0 / np.sqrt(n * off.size / 2)


def test_flip_symmetrised_ensemble_is_the_same_state_whatever_the_sampler():
    """A one-sign ordered ensemble (Metropolis below T_c) and the same configurations with random
    global signs (Wolff) give different connected correlations, and identical ones once symmetrised.

    Spins are independent, up with probability 0.9: <s_i> = 0.8 in the one-sign ensemble, so
    <s_i s_j> = 0.64 and the connected nearest-neighbour correlation is 0. Statistical errors
    (n = 4000 samples of 128 bonds, shared sites included) are about 0.002; tolerances are 0.015.
    """
    lattice = square(8)
    rng = np.random.default_rng(11)
    one_sign = np.where(rng.random((4000, 8, 8)) < 0.9, 1, -1).astype(np.int8)
    both_signs = one_sign * rng.choice(np.array([-1, 1], dtype=np.int8), size=(4000, 1, 1))
    raw = {name: correlation_summary(x, lattice) for name, x in (("one", one_sign), ("both", both_signs))}
    assert raw["one"]["nn_correlation"] == pytest.approx(0.0, abs=0.015)
    assert raw["both"]["nn_correlation"] == pytest.approx(0.64, abs=0.015)
    assert raw["one"]["nn_product"] == pytest.approx(0.64, abs=0.015)
    sym = {
        name: correlation_summary(flip_symmetrised(x), lattice)
        for name, x in (("one", one_sign), ("both", both_signs))
    }
    for summary in sym.values():
        assert summary["n_samples"] == 8000
        # <s_i> = 0 exactly, so connected equals non-connected, which the flip leaves unchanged
        assert summary["nn_correlation"] == pytest.approx(raw["one"]["nn_product"], abs=1e-12)
        assert summary["nn_product"] == pytest.approx(raw["one"]["nn_product"], abs=1e-12)
        assert summary["C_r"][0] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(sym["one"]["C_r"], sym["both"]["C_r"], atol=1e-12)
    assert sym["one"]["xi"] == pytest.approx(sym["both"]["xi"], rel=1e-9)
    np.testing.assert_array_equal(
        flip_symmetrised(one_sign[:2]), np.concatenate([one_sign[:2], -one_sign[:2]])
    )
    with pytest.raises(ValueError, match="signed"):
        flip_symmetrised(np.ones((3, 4), dtype=np.uint8))


def test_sign_folded_ensemble_is_the_pure_state_whatever_the_sampler():
    """Folding to non-negative magnetisation maps a one-sign ensemble to itself and a both-signs
    ensemble (Wolff) onto the same configurations, so their connected correlations agree exactly;
    for independent spins (up with probability 0.9) the connected nn correlation is 0 within the
    statistical error (about 0.002 for n = 4000; tolerance 0.015)."""
    lattice = square(8)
    rng = np.random.default_rng(12)
    one_sign = np.where(rng.random((4000, 8, 8)) < 0.9, 1, -1).astype(np.int8)
    signs = rng.choice(np.array([-1, 1], dtype=np.int8), size=(4000, 1, 1))
    np.testing.assert_array_equal(sign_folded(one_sign * signs), one_sign)
    np.testing.assert_array_equal(sign_folded(one_sign), one_sign)
    folded = correlation_summary(sign_folded(one_sign * signs), lattice)
    assert folded["nn_correlation"] == pytest.approx(0.0, abs=0.015)
    assert folded["n_samples"] == 4000
    real = np.array([[0.5, -0.9], [-0.2, 0.1], [0.3, -0.3]])
    np.testing.assert_array_equal(sign_folded(real), [[-0.5, 0.9], [0.2, -0.1], [0.3, -0.3]])
    with pytest.raises(ValueError, match="signed"):
        sign_folded(np.ones((3, 4), dtype=np.uint8))


def test_ordered_ensembles():
    up = np.ones((10, 4, 4), dtype=np.int8)
    np.testing.assert_array_equal(connected_correlation(up), 0.0)
    lattice = square(4)
    assert nearest_neighbour_correlation(up, lattice) == 0.0
    assert nearest_neighbour_correlation(up, lattice, connected=False) == 1.0
    # Half all-up, half all-down: every pair perfectly correlated, chi(k_min) = 0 -> xi undefined.
    both = np.concatenate([up, -up])
    np.testing.assert_allclose(connected_correlation(both), 1.0)
    assert nearest_neighbour_correlation(both, lattice) == pytest.approx(1.0)
    assert np.isnan(second_moment_correlation_length(both, lattice))


def test_stripes_have_known_correlations():
    L = 8
    lattice = square(L)
    spins = stripes(L)
    C = connected_correlation(spins)
    x, y = np.indices((L, L)).reshape(2, -1)
    pattern_corr = np.array([1.0, 0.0, -1.0, 0.0])
    expected = pattern_corr[(y[None, :] - y[:, None]) % 4]
    np.testing.assert_allclose(C, expected, atol=1e-12)
    r, C_r = correlation_function(spins, lattice)
    np.testing.assert_array_equal(r, np.arange(L // 2 + 1))
    # Mean over the two axes: along axis 0 the stripes are constant (1), along axis 1 periodic.
    np.testing.assert_allclose(C_r, 0.5 * (1.0 + np.array([1.0, 0.0, -1.0, 0.0, 1.0])), atol=1e-12)
    assert nearest_neighbour_correlation(spins, lattice) == pytest.approx(0.5)


def test_float_input_scales_quadratically():
    spins = correlated_spins((6, 6), 50, seed=1)
    soft = 0.7 * spins.astype(np.float32)
    np.testing.assert_allclose(connected_correlation(soft), 0.49 * connected_correlation(spins), atol=1e-6)
    lattice = square(6)
    assert nearest_neighbour_correlation(soft, lattice) == pytest.approx(
        0.49 * nearest_neighbour_correlation(spins, lattice)
    )


@pytest.mark.parametrize("lattice", [square(8), cubic(4)], ids=["square", "cubic"])
def test_correlation_function_matches_the_matrix(lattice):
    spins = correlated_spins(lattice.shape, 200, seed=2)
    C = connected_correlation(spins)
    coords = np.indices(lattice.shape).reshape(len(lattice.shape), -1).T
    index = np.arange(lattice.n_sites).reshape(lattice.shape)
    r, C_r = correlation_function(spins, lattice)
    for distance, value in zip(r, C_r, strict=True):
        naive = []
        for axis in range(len(lattice.shape)):
            for step in (distance, -distance):
                shifted = coords.copy()
                shifted[:, axis] = (shifted[:, axis] + step) % lattice.L
                naive.append(C[np.arange(lattice.n_sites), index[tuple(shifted.T)]].mean())
        assert value == pytest.approx(np.mean(naive), abs=1e-12)
    # Nearest-neighbour correlation is C(1) on a hypercubic lattice.
    assert nearest_neighbour_correlation(spins, lattice) == pytest.approx(C_r[1], abs=1e-12)


def test_graph_shells_do_not_depend_on_site_numbering():
    """The FFT route (triangular array) and the full-matrix route (shuffled sites) agree."""
    lattice = triangular(6)
    spins = correlated_spins(lattice.shape, 300, seed=3)
    r, C_r = correlation_function(spins, lattice)
    perm = np.random.default_rng(4).permutation(lattice.n_sites)  # new site k is old site perm[k]
    inverse = np.argsort(perm)
    shuffled = graph_lattice("shuffled", lattice.shape, inverse[lattice.neighbours[perm]])
    flat = spins.reshape(len(spins), -1)[:, perm]
    r2, C_r2 = correlation_function(flat, shuffled)
    np.testing.assert_array_equal(r, r2)
    np.testing.assert_allclose(C_r, C_r2, atol=1e-12)
    assert r.tolist() == [0, 1, 2, 3, 4]  # graph diameter of the 6 x 6 triangular torus
    assert C_r[1] == pytest.approx(nearest_neighbour_correlation(spins, lattice), abs=1e-12)


def test_correlation_length_matches_the_naive_structure_factor():
    lattice = square(8)
    spins = correlated_spins(lattice.shape, 400, seed=5)
    C = connected_correlation(spins)
    x = np.indices(lattice.shape).reshape(2, -1).T
    k = 2 * np.pi / lattice.L

    def chi(kvec):
        phase = (x[:, None, :] - x[None, :, :]) @ np.asarray(kvec, dtype=float)
        return np.sum(C * np.cos(phase)) / lattice.n_sites

    chi_0 = chi([0, 0])
    chi_k = np.mean([chi([k, 0]), chi([0, k])])
    np.testing.assert_allclose(structure_factor(spins, lattice)[0, 0], chi_0, rtol=1e-10)
    expected = np.sqrt(chi_0 / chi_k - 1) / (2 * np.sin(k / 2))
    assert second_moment_correlation_length(spins, lattice) == pytest.approx(expected, rel=1e-10)


def test_correlation_length_grows_with_the_correlation_width():
    # With 1000 samples on 16 x 16 the seed-to-seed spread of xi is below 10 %.
    lattice = square(16)
    xis = [
        second_moment_correlation_length(correlated_spins(lattice.shape, 1000, 6, w), lattice)
        for w in (1, 2, 4)
    ]
    assert xis[0] < xis[1] < xis[2]


def test_summary_and_errors():
    lattice = square(8)
    spins = correlated_spins(lattice.shape, 50, seed=7)
    summary = correlation_summary(spins.reshape(50, -1), lattice)
    assert summary["distance"] == "axis"
    assert summary["r"].shape == summary["C_r"].shape == (5,)
    assert summary["nn_correlation"] == pytest.approx(summary["C_r"][1])
    assert np.isfinite(summary["xi"])
    tri = correlation_summary(correlated_spins((6, 6), 50, seed=8), triangular(6))
    assert tri["distance"] == "graph" and np.isnan(tri["xi"])
    with pytest.raises(ValueError, match="correlation_function"):
        connected_correlation(np.ones((2, 65, 64), dtype=np.int8))
    with pytest.raises(ValueError, match="hypercubic"):
        second_moment_correlation_length(spins[:, :6, :6], triangular(6))
    with pytest.raises(ValueError, match="do not fit"):
        correlation_function(spins, square(4))
    table = correlation_matrix_table(np.eye(3), representation="original", T=2.0)
    assert list(table.columns) == ["representation", "T", "i", "j", "C"]
    assert table["C"].sum() == 3.0


def test_nearest_neighbour_correlation_is_minus_half_the_exact_energy():
    """STUDY.md section 4: on the square torus <s_i s_j>_nn = -u/2 (Kaufman's exact u)."""
    from ising.exact import kaufman_energy_per_spin
    from ising.sampling import sample_ensemble

    L, T, n = 16, 3.0, 2000
    ensemble = sample_ensemble(square(L), T, n, seed=11)
    products = bond_products(ensemble.spins, square(L))
    np.testing.assert_allclose(-2.0 * products, ensemble.energy / L**2, atol=1e-12)
    exact = -0.5 * kaufman_energy_per_spin(L, 1.0 / T)
    # Configurations are kept every 2 tau_int, so they are close to independent; allow 4 sigma
    # with the variance inflated by 2 for the remaining autocorrelation.
    sigma = products.std(ddof=1) * np.sqrt(2.0 / n)
    assert nearest_neighbour_correlation(ensemble.spins, square(L), connected=False) == pytest.approx(
        exact, abs=4 * sigma
    )
    # Above T_c the connected version differs only by <s_i><s_j> ~ 1/n.
    connected = nearest_neighbour_correlation(ensemble.spins, square(L))
    assert connected == pytest.approx(exact, abs=4 * sigma + 5.0 / n)
