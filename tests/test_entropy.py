import numpy as np
import pytest

import naive
from analysis.correlations import flip_symmetrised
from analysis.entropy import (
    binarise,
    causal_neighbourhood,
    compression_entropy,
    conditional_entropy,
    conditional_entropy_estimate,
    entropy_table,
    mirror_pair_groups,
    patch_entropy,
    patch_entropy_estimate,
    patch_pattern_counts,
    shell_orders,
)
from ising.lattice import cubic, square, triangular


def coins(p_up, shape, seed):
    rng = np.random.default_rng(seed)
    return np.where(rng.random(shape) < p_up, 1, -1).astype(np.int8)


def binary_entropy(p):
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def correlated_field(n, L, seed, width=1.5):
    """Sign of a Gaussian random field smoothed over ~width sites on the L x L torus."""
    rng = np.random.default_rng(seed)
    k = 2 * np.pi * np.fft.fftfreq(L)
    kernel = np.exp(-0.5 * width**2 * (k[:, None] ** 2 + k[None, :] ** 2))
    field = np.fft.ifft2(np.fft.fft2(rng.normal(size=(n, L, L))) * kernel).real
    return binarise(field)


def test_pattern_counts_cover_every_position():
    spins = coins(0.5, (7, 6, 5), seed=0)
    for k in (1, 2, 3):
        counts = patch_pattern_counts(spins, k)
        assert counts.sum() == spins.size
        assert counts.size <= 2 ** (k * k)
    # A single up spin seen through 2 x 2 windows appears in 4 different patterns (periodic wrap).
    one = -np.ones((1, 4, 4), dtype=np.int8)
    one[0, 0, 0] = 1
    assert sorted(patch_pattern_counts(one, 2).tolist()) == [1, 1, 1, 1, 12]


def test_fair_coins_give_one_bit_per_spin():
    # n = 200 * 256 = 51200 patches. For a uniform distribution the Miller-Madow estimate is
    # unbiased to O(m / n^2) and its spread is O(m / n) per patch, < 1e-3 bits per spin here.
    spins = coins(0.5, (200, 16, 16), seed=1)
    for k in (1, 2, 3):
        assert patch_entropy(spins, k) == pytest.approx(1.0, abs=2e-3)


def test_constant_configurations_have_zero_entropy():
    up = np.ones((20, 8, 8), dtype=np.int8)
    for k in (1, 2, 3):
        assert patch_entropy(up, k) == 0.0
        assert patch_entropy(-up, k) == 0.0


@pytest.mark.parametrize("p", [0.1, 0.3])
def test_biased_coins_give_the_binary_entropy(p):
    spins = coins(p, (200, 16, 16), seed=2)
    n = spins.size
    # Standard deviation of the plug-in entropy of iid draws: sqrt(Var[log2 P(X)] / n) per spin.
    sd = np.sqrt(p * (1 - p)) * abs(np.log2(p / (1 - p))) / np.sqrt(n)
    for k in (1, 2):
        # Overlapping patches share spins; 6 sigma leaves room for that and for k = 2.
        assert patch_entropy(spins, k) == pytest.approx(binary_entropy(p), abs=6 * sd)


def test_patch_entropy_decreases_with_k_on_a_correlated_field():
    spins = correlated_field(300, 16, seed=3)
    h = [patch_entropy(spins, k) for k in (1, 2, 3)]
    assert h[0] == pytest.approx(1.0, abs=0.01)  # the field is symmetric under s -> -s
    assert h[0] - h[1] > 0.1 and h[1] - h[2] > 0.02


def test_real_inputs_are_binarised_by_sign():
    spins = correlated_field(50, 8, seed=4)
    soft = 0.3 * spins + np.random.default_rng(5).uniform(-0.2, 0.2, spins.shape)
    for k in (1, 2):
        assert patch_entropy(soft, k) == patch_entropy(spins, k)
    assert compression_entropy(soft) == compression_entropy(spins)
    np.testing.assert_array_equal(binarise(np.array([-0.5, 0.0, 1e-9])), [-1, -1, 1])


def test_cubic_patches_are_cubes():
    lattice = cubic(4)
    spins = coins(0.5, (100, lattice.n_sites), seed=6)
    counts = patch_pattern_counts(spins, 2, lattice)
    assert counts.sum() == spins.size and counts.size <= 256
    assert patch_entropy(spins, 2, lattice) == pytest.approx(1.0, abs=0.01)


def test_compression_entropy_bounds():
    random_bits = coins(0.5, (100, 32, 32), seed=7)
    assert 0.95 <= compression_entropy(random_bits) <= 1.05
    assert compression_entropy(np.ones((100, 32, 32), dtype=np.int8)) < 0.01
    # Biased coins compress, but never below their Shannon entropy.
    biased = coins(0.1, (100, 32, 32), seed=8)
    assert binary_entropy(0.1) < compression_entropy(biased) < 1.0


def test_patch_entropies_bound_the_exact_entropy_from_above():
    """STUDY.md section 4: patch entropies of square-lattice ensembles lie above Kaufman's s."""
    from ising.exact import exact_entropy_per_spin
    from ising.sampling import sample_ensemble

    L, T = 16, 2.6
    ensemble = sample_ensemble(square(L), T, 500, seed=21)
    exact = exact_entropy_per_spin(L, 1.0 / T, bits=True)
    h = [patch_entropy(ensemble.spins, k) for k in (1, 2, 3)]
    assert h[0] > h[1] > h[2] > exact
    table = entropy_table({"original": ensemble.spins}, T, exact_entropy=exact, seed=21)
    patches = table[table["measure"] != "conditional"]
    assert patches["entropy"].min() > exact
    # The conditional estimate converges to s itself: within a few errors, far below the patches.
    row = table[table["measure"] == "conditional"].iloc[0]
    assert abs(row["entropy"] - exact) < 4 * row["stat_err"] + row["sys_err"] + 0.005
    assert row["entropy"] < h[2] - 0.05


def test_entropy_table_rows_and_columns():
    lattice = square(8)
    spins = correlated_field(30, 8, seed=9)
    code = np.tanh(np.random.default_rng(10).normal(size=(30, lattice.n_blocks)))
    table = entropy_table(
        {"original": spins, "ae_code": code},
        T=2.5,
        ks=(1, 2, 3, 5),
        lattices={"ae_code": lattice.coarse()},
        seed=3,
    )
    assert list(table.columns) == [
        "representation",
        "T",
        "measure",
        "estimator",
        "k",
        "entropy",
        "stat_err",
        "sys_err",
        "plugin",
        "n_patterns",
        "n_samples",
        "undersampled",
        "exact_entropy",
        "seed",
    ]
    # The 4 x 4 code has no 5 x 5 patches; the 8 x 8 original has. Each has one conditional row.
    assert table.groupby("representation").size().to_dict() == {"ae_code": 5, "original": 6}
    conditional = table[table["measure"] == "conditional"].set_index("representation")
    assert (conditional["estimator"] == "grassberger_extrapolated").all()
    # Order 10 wraps onto itself on the 4 x 4 code (offsets (-1, -2) and (-1, 2) coincide).
    assert conditional.loc["ae_code", "k"] <= 6
    patches = table[table["measure"] == "patch"]
    assert (patches["stat_err"] > 0).all() and (patches["sys_err"] >= 0).all()
    assert table["exact_entropy"].isna().all()
    lzma_rows = table[table["measure"] == "lzma"]
    assert lzma_rows["k"].isna().all() and len(lzma_rows) == 2


def test_undersampled_patch_sizes_are_flagged():
    # 30 x 64 = 1920 patches of fair coins: ~500 of the 512 3 x 3 patterns appear, about 4 times
    # each, too few; the 16 2 x 2 patterns appear ~120 times each.
    table = entropy_table({"coins": coins(0.5, (30, 8, 8), seed=13)}, T=5.0)
    flags = table[table["measure"] == "patch"].set_index("k")["undersampled"].to_dict()
    assert flags == {1: False, 2: False, 3: True}
    assert not table.loc[table["measure"] == "lzma", "undersampled"].any()


def test_bad_inputs_raise():
    spins = coins(0.5, (4, 4, 4), seed=11)
    with pytest.raises(ValueError, match="exceeds"):
        patch_entropy(spins, 5)
    with pytest.raises(ValueError, match="positive integer"):
        patch_entropy(spins, 0)
    with pytest.raises(ValueError, match="do not fit"):
        compression_entropy(spins, square(8))
    with pytest.raises(ValueError, match="62"):
        patch_entropy(coins(0.5, (2, 4, 4, 4), seed=12), 4)


def markov_rows(n, L, q, seed):
    """Independent rows, each a one-dimensional Ising ring: iid domain walls with probability q
    conditioned on an even number (by rejection). Translation invariant; its entropy per spin is
    the binary entropy H2(q) up to (1 - 2q)^L.
    """
    rng = np.random.default_rng(seed)
    walls = rng.random((4 * n * L, L)) < q
    walls = walls[walls.sum(axis=1) % 2 == 0][: n * L].reshape(n, L, L)
    first = np.where(rng.random((n, L, 1)) < 0.5, 1, -1)
    signs = np.where(np.cumsum(walls, axis=-1) % 2 == 1, -1, 1)
    return (first * np.roll(signs, 1, axis=-1)).astype(np.int8)


def test_causal_neighbourhood_shells():
    np.testing.assert_array_equal(causal_neighbourhood(2, 4), [[-1, 0], [0, -1], [-1, -1], [-1, 1]])
    assert shell_orders(2) == (2, 4, 6, 10, 12)
    assert shell_orders(3) == (3, 9, 13)
    assert shell_orders(1, 4) == (1, 2, 3, 4)
    # Every offset precedes the origin in raster (C) order.
    for dim in (1, 2, 3):
        offsets = causal_neighbourhood(dim, 13)
        assert all(next(v for v in d if v) < 0 for d in offsets)
        assert len({tuple(d) for d in offsets}) == 13


def test_conditional_entropy_matches_a_site_by_site_count():
    spins = correlated_field(6, 7, seed=14)
    offsets = causal_neighbourhood(2, 6)
    expected = naive.conditional_entropy_grassberger(spins > 0, [tuple(d) for d in offsets])
    assert conditional_entropy(spins, 6) == pytest.approx(expected, abs=1e-12)


def test_conditional_entropy_of_markov_rows_is_the_binary_entropy():
    # Given its left neighbour a spin of a Markov row is a q-coin; the rows above tell nothing.
    q = 0.2
    spins = markov_rows(100, 16, q, seed=15)
    estimate = conditional_entropy_estimate(spins, orders=(1, 2, 4, 6))
    assert estimate.k == 6 and not estimate.undersampled
    assert estimate.entropy == pytest.approx(binary_entropy(q), abs=4 * estimate.stat_err + estimate.sys_err)
    assert estimate.stat_err < 0.01
    # The 3 x 3 patch entropy per spin is far above: its first column is 3 fair coins, so it is
    # (3 + 6 H2(q)) / 9 = 0.815 bits.
    assert patch_entropy(spins, 3) == pytest.approx((3 + 6 * binary_entropy(q)) / 9, abs=0.01)


def test_fair_coins_have_one_bit_per_spin_under_every_estimator():
    spins = coins(0.5, (100, 16, 16), seed=16)
    conditional = conditional_entropy_estimate(spins)
    assert conditional.k in shell_orders(2) and not conditional.undersampled
    for e in (conditional, patch_entropy_estimate(spins, 2)):
        assert e.entropy == pytest.approx(1.0, abs=4 * e.stat_err + e.sys_err)


def test_errors_cover_the_truth_when_undersampled():
    # 40 x 64 = 2560 3 x 3 patches of fair coins, 512 patterns: far from the 1/n regime, where the
    # extrapolation is unreliable; sys_err (the size of the correction) must say so.
    for seed in range(5):
        e = patch_entropy_estimate(coins(0.5, (40, 8, 8), seed=100 + seed), 3)
        assert e.undersampled
        assert e.sys_err == pytest.approx(abs(e.entropy - e.plugin))
        assert abs(e.entropy - 1.0) < e.sys_err + 3 * e.stat_err


def test_mirror_pairs_are_resampled_together():
    spins = flip_symmetrised(correlated_field(60, 8, seed=18))
    paired = patch_entropy_estimate(spins, 2, groups=mirror_pair_groups(len(spins)))
    loose = patch_entropy_estimate(spins, 2)
    assert paired.n_units == 60 and loose.n_units == 120
    # A row and its mirror image carry the same information: counted as two units, the
    # jackknife error shrinks by about sqrt 2.
    assert paired.stat_err / loose.stat_err == pytest.approx(np.sqrt(2), rel=0.3)
    np.testing.assert_array_equal(mirror_pair_groups(6), [0, 1, 2, 0, 1, 2])
    with pytest.raises(ValueError, match="even"):
        mirror_pair_groups(5)
    with pytest.raises(ValueError, match="groups"):
        patch_entropy_estimate(spins, 2, groups=np.zeros(3))


def test_other_lattices_do_not_crash():
    tri = coins(0.5, (20, triangular(6).n_sites), seed=19)
    cube = coins(0.5, (20, cubic(4).n_sites), seed=20)
    table = entropy_table(
        {"triangular": tri, "cubic": cube, "strip": coins(0.5, (20, 1, 4), seed=21)},
        T=5.0,
        lattices={"triangular": triangular(6), "cubic": cubic(4)},
    )
    conditional = table[table["measure"] == "conditional"].set_index("representation")
    assert set(conditional.index) == {"triangular", "cubic"}  # no neighbourhood fits a 1 x 4 array
    assert conditional.loc["cubic", "k"] in shell_orders(3)
    assert np.isfinite(conditional["entropy"]).all()
    with pytest.raises(ValueError, match="wraps"):
        conditional_entropy(coins(0.5, (2, 4, 4), seed=22), 10)
    assert conditional_entropy_estimate(coins(0.5, (2, 1, 4), seed=23)) is None


def test_a_single_configuration_has_no_errors():
    e = patch_entropy_estimate(coins(0.5, (1, 16, 16), seed=24), 1)
    assert np.isnan(e.stat_err) and np.isnan(e.sys_err) and e.entropy == e.plugin


def test_conditional_estimate_reaches_kaufman_at_the_critical_point():
    """Issue #11 acceptance: L = 32 at T_c, 100 configurations flip-symmetrised as the pipeline does."""
    from ising.exact import exact_entropy_per_spin, onsager_critical_temperature
    from ising.sampling import sample_ensemble

    tc = onsager_critical_temperature()
    ensemble = sample_ensemble(square(32), tc, 100, seed=25)
    spins = flip_symmetrised(ensemble.spins)
    exact = exact_entropy_per_spin(32, 1.0 / tc, bits=True)
    e = conditional_entropy_estimate(spins, groups=mirror_pair_groups(len(spins)))
    assert abs(e.entropy - exact) < 0.03
    assert abs(e.entropy - exact) < 4 * e.stat_err + e.sys_err
    assert patch_entropy(spins, 3) - exact > 0.1  # the 3 x 3 patch bound is 0.12 bits/spin above
