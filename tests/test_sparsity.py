import numpy as np
import pytest

from analysis.sparsity import (
    SPARSITY_MEASURES,
    block_locality,
    fraction_small,
    gini,
    hoyer,
    receptive_field,
    receptive_field_table,
    sparsity_table,
)
from ising.lattice import cubic, square, triangular

LATTICES = [square(8), square(8, b=4), triangular(6), cubic(4)]


def decimation_matrix(lattice):
    W = np.zeros((lattice.n_sites, lattice.n_blocks))
    W[lattice.representatives, np.arange(lattice.n_blocks)] = 1.0
    return W


def block_sum_matrix(lattice):
    W = np.zeros((lattice.n_sites, lattice.n_blocks))
    W[np.arange(lattice.n_sites), lattice.block_ids] = 1.0
    return W


@pytest.mark.parametrize("lattice", LATTICES, ids=lambda lat: lat.describe())
def test_decimation_is_maximally_sparse_and_local(lattice):
    W = decimation_matrix(lattice)
    N = lattice.n_sites
    np.testing.assert_allclose(fraction_small(W), 1.0 - 1.0 / N)
    np.testing.assert_allclose(hoyer(W), 1.0)
    np.testing.assert_allclose(gini(W), 1.0 - 1.0 / N)
    np.testing.assert_allclose(block_locality(W, lattice), 1.0)


@pytest.mark.parametrize("lattice", LATTICES, ids=lambda lat: lat.describe())
def test_constant_matrix_is_dense_and_delocalised(lattice):
    W = np.full((lattice.n_sites, lattice.n_blocks), -0.3)
    np.testing.assert_allclose(fraction_small(W), 0.0)
    np.testing.assert_allclose(hoyer(W), 0.0, atol=1e-12)
    np.testing.assert_allclose(gini(W), 0.0, atol=1e-12)
    np.testing.assert_allclose(block_locality(W, lattice), lattice.block_size / lattice.n_sites)


def test_block_sum_is_local_with_known_sparsity():
    lattice = square(8)
    W = block_sum_matrix(lattice)
    N, B = lattice.n_sites, lattice.block_size
    np.testing.assert_allclose(block_locality(W, lattice), 1.0)
    np.testing.assert_allclose(fraction_small(W), 1.0 - B / N)
    # B equal weights among N: L1/L2 = sqrt(B).
    np.testing.assert_allclose(hoyer(W), (np.sqrt(N) - np.sqrt(B)) / (np.sqrt(N) - 1.0))
    # Hurley-Rickard Gini of B equal non-zeros among N is 1 - B/N.
    np.testing.assert_allclose(gini(W), 1.0 - B / N)


def test_gaussian_weights_lie_between_the_extremes():
    lattice = square(16)
    W = np.random.default_rng(1).normal(size=(lattice.n_sites, lattice.n_blocks))
    h, g = hoyer(W), gini(W)
    # |N(0,1)|: E|w| / sqrt(E w^2) = sqrt(2/pi), so Hoyer -> (sqrt(N) - sqrt(2N/pi)) / (sqrt(N) - 1);
    # the Gini coefficient of a half-normal is sqrt(2) - 1.
    N = lattice.n_sites
    assert h.mean() == pytest.approx((np.sqrt(N) - np.sqrt(2 * N / np.pi)) / (np.sqrt(N) - 1), abs=0.02)
    assert g.mean() == pytest.approx(np.sqrt(2) - 1, abs=0.02)
    assert block_locality(W, lattice).mean() == pytest.approx(lattice.block_size / N, rel=0.2)
    assert 0.0 < fraction_small(W).mean() < 0.05


def test_measures_are_invariant_under_column_scaling():
    lattice = square(8)
    rng = np.random.default_rng(2)
    W = rng.normal(size=(lattice.n_sites, lattice.n_blocks)) ** 3
    scale = rng.uniform(0.1, 10.0, size=lattice.n_blocks) * rng.choice([-1, 1], size=lattice.n_blocks)
    for measure in (fraction_small, hoyer, gini):
        np.testing.assert_allclose(measure(W * scale), measure(W), atol=1e-12)
    np.testing.assert_allclose(block_locality(W * scale, lattice), block_locality(W, lattice))


def test_locality_follows_the_block_of_each_unit():
    lattice = square(8)
    W = decimation_matrix(lattice)
    # Unit j pointing at block j+1's representative is entirely non-local.
    shifted = np.roll(W, 1, axis=1)
    np.testing.assert_allclose(block_locality(shifted, lattice), 0.0)


def test_sparsity_table_has_one_row_per_encoder():
    lattice = square(8)
    table = sparsity_table(
        {"decimation": decimation_matrix(lattice), "sum": block_sum_matrix(lattice)}, lattice
    )
    assert list(table["encoder"]) == ["decimation", "sum"]
    for measure in SPARSITY_MEASURES:
        assert {f"{measure}_mean", f"{measure}_std"} <= set(table.columns)
    assert table.loc[0, "hoyer_mean"] == pytest.approx(1.0)
    assert table.loc[0, "hoyer_std"] == pytest.approx(0.0)
    assert table.loc[1, "block_locality_mean"] == pytest.approx(1.0)


def test_bad_shapes_and_dead_units_raise():
    lattice = square(8)
    W = decimation_matrix(lattice)
    with pytest.raises(ValueError, match="pass W.T"):
        block_locality(W.T, lattice)
    with pytest.raises(ValueError, match="does not match"):
        block_locality(W[:-1], lattice)
    W[:, 3] = 0.0
    with pytest.raises(ValueError, match="all-zero"):
        hoyer(W)


def test_receptive_field_reshapes_a_column():
    lattice = triangular(6)
    W = decimation_matrix(lattice)
    field = receptive_field(W, 4, lattice)
    assert field.shape == (6, 6)
    assert np.flatnonzero(field.ravel()).tolist() == [lattice.representatives[4]]


def test_receptive_field_table_of_cubic_lattice_keeps_the_plane_of_the_unit():
    lattice = cubic(4)
    W = decimation_matrix(lattice)
    units = [0, lattice.n_blocks - 1]
    table = receptive_field_table({"decimation": W}, lattice, units=units)
    assert list(table.columns) == ["encoder", "unit", "row", "col", "weight"]
    assert len(table) == len(units) * 16
    # Each unit's plane contains its representative, the one non-zero weight.
    assert table.groupby("unit")["weight"].sum().tolist() == [1.0, 1.0]
