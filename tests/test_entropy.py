import numpy as np
import pytest

from analysis.entropy import (
    binarise,
    compression_entropy,
    entropy_table,
    patch_entropy,
    patch_pattern_counts,
)
from ising.lattice import cubic, square


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
    assert table["entropy"].min() > exact


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
        "k",
        "entropy",
        "n_patterns",
        "n_samples",
        "undersampled",
        "exact_entropy",
        "seed",
    ]
    # The 4 x 4 code has no 5 x 5 patches; the 8 x 8 original has.
    assert table.groupby("representation").size().to_dict() == {"ae_code": 4, "original": 5}
    assert table["exact_entropy"].isna().all()
    lzma_rows = table[table["measure"] == "lzma"]
    assert lzma_rows["k"].isna().all() and len(lzma_rows) == 2


def test_undersampled_patch_sizes_are_flagged():
    # 30 x 64 = 1920 patches of fair coins: ~500 of the 512 3 x 3 patterns appear, about 4 times
    # each, too few; the 16 2 x 2 patterns appear ~120 times each.
    table = entropy_table({"coins": coins(0.5, (30, 8, 8), seed=13)}, T=5.0)
    flags = table.dropna(subset=["k"]).set_index("k")["undersampled"].to_dict()
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
