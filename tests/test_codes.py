import numpy as np
import pytest
from scipy.linalg import hadamard
from sklearn.model_selection import KFold

from analysis.codes import (
    _group_blocks,
    _held_out_loss,
    align_units,
    apply_alignment,
    code_summary,
    correlation_spectrum,
    lattice_targets,
    mean_abs_correlation,
    probe_r2,
    standardised_units,
    unit_correlation,
)
from ising.lattice import cubic, graph_lattice, square, triangular
from ising.sampling import sample_ensemble
from tests.naive import brute_force_alignment, mean_abs_pearson, quadratic_ridge_r2
from transfer.analytic import RULES, block_spins, rule_weights

LATTICES = [square(8), square(8, b=4), triangular(6), cubic(4)]


def signed_permutation(n_units, seed):
    rng = np.random.default_rng(seed)
    return rng.permutation(n_units), rng.choice([-1.0, 1.0], size=n_units)


def correlated_codes(n_samples=300, n_units=12, binary=False, seed=0):
    """Codes driven by a few shared Gaussian modes, so their units are correlated."""
    rng = np.random.default_rng(seed)
    modes = rng.normal(size=(n_samples, 3))
    codes = np.tanh(modes @ rng.normal(size=(3, n_units)) + 0.5 * rng.normal(size=(n_samples, n_units)))
    return np.where(codes < 0, -1.0, 1.0) if binary else codes


# --- alignment -------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("lattice", LATTICES, ids=lambda lat: lat.describe())
def test_alignment_of_rule_weights_is_identity(lattice, rule):
    order, signs = align_units(rule_weights(lattice, rule), lattice)
    np.testing.assert_array_equal(order, np.arange(lattice.n_blocks))
    np.testing.assert_array_equal(signs, np.ones(lattice.n_blocks))


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("lattice", LATTICES, ids=lambda lat: lat.describe())
def test_alignment_undoes_a_signed_permutation_of_units(lattice, rule):
    W = rule_weights(lattice, rule).astype(np.float64)
    perm, flips = signed_permutation(lattice.n_blocks, seed=lattice.n_sites)
    shuffled = W[:, perm] * flips
    order, signs = align_units(shuffled, lattice)
    np.testing.assert_array_equal(shuffled[:, order] * signs, W)
    # the same alignment puts the shuffled encoder's codes back on their blocks
    rng = np.random.default_rng(1)
    codes = rng.choice([-1.0, 1.0], size=(5, *lattice.coarse_shape))
    flat = codes.reshape(5, -1)
    shuffled_codes = (flat[:, perm] * flips).reshape(codes.shape)
    np.testing.assert_array_equal(apply_alignment(shuffled_codes, order, signs), codes)


def test_alignment_finds_noisy_receptive_fields():
    """A majority rule blurred by dense noise (a trained encoder's kind of kernel) is still aligned."""
    lattice = square(16)
    rng = np.random.default_rng(3)
    W = rule_weights(lattice, "majority") + 0.1 * rng.normal(size=(lattice.n_sites, lattice.n_blocks))
    perm, flips = signed_permutation(lattice.n_blocks, seed=4)
    order, signs = align_units(W[:, perm] * flips, lattice)
    np.testing.assert_array_equal(perm[order], np.arange(lattice.n_blocks))
    np.testing.assert_array_equal(signs, flips[order])


def test_alignment_matches_brute_force_on_dense_kernels():
    lattice = square(4)  # 4 blocks: all 24 assignments can be tried
    for seed in range(10):
        W = np.random.default_rng(seed).normal(size=(lattice.n_sites, lattice.n_blocks))
        order, signs = align_units(W, lattice)
        best_order, best_signs = brute_force_alignment(W, lattice.block_ids)
        np.testing.assert_array_equal(order, best_order)
        np.testing.assert_array_equal(signs, best_signs)


def test_alignment_rejects_bad_input():
    lattice = square(8)
    W = rule_weights(lattice, "decimation")
    with pytest.raises(ValueError, match="shape"):
        align_units(W[:, :-1], lattice)
    dead = W.copy()
    dead[:, 3] = 0
    with pytest.raises(ValueError, match="all-zero"):
        align_units(dead, lattice)
    with pytest.raises(ValueError, match="block partition"):
        sites = np.arange(64)
        ring = graph_lattice("ring", (64,), np.stack([(sites - 1) % 64, (sites + 1) % 64], axis=1))
        align_units(W, ring)
    codes = np.ones((3, lattice.n_blocks))
    with pytest.raises(ValueError, match="one entry per code unit"):
        apply_alignment(codes, np.arange(3), np.ones(3))
    with pytest.raises(ValueError, match="permutation"):
        apply_alignment(codes, np.zeros(lattice.n_blocks, dtype=int), np.ones(lattice.n_blocks))


# --- invariant measures ------------------------------------------------------------------------


@pytest.mark.parametrize("binary", [False, True], ids=["continuous", "binary"])
def test_measures_are_invariant_to_order_and_sign_of_units(binary):
    codes = correlated_codes(binary=binary)
    targets = {"mode": codes[:, :4].sum(axis=1) ** 2 + 0.1 * np.arange(len(codes)) % 3}
    perm, flips = signed_permutation(codes.shape[1], seed=5)
    shuffled = codes[:, perm] * flips
    assert mean_abs_correlation(shuffled) == pytest.approx(mean_abs_correlation(codes), abs=1e-14)
    a, b = correlation_spectrum(codes), correlation_spectrum(shuffled)
    np.testing.assert_allclose(b["eigenvalues"], a["eigenvalues"], atol=1e-12)
    assert b["leading_share"] == pytest.approx(a["leading_share"], abs=1e-13)
    assert b["participation_ratio"] == pytest.approx(a["participation_ratio"], rel=1e-12)
    pa, pb = probe_r2(codes, targets)["mode"], probe_r2(shuffled, targets)["mode"]
    assert pa["mean"] > 0.5  # the probe does see the target, so invariance is not trivial
    np.testing.assert_allclose(pb["folds"], pa["folds"], atol=1e-9)
    np.testing.assert_array_equal(pb["alphas"], pa["alphas"])


def test_mean_abs_correlation_matches_naive_pearson_with_a_constant_unit():
    codes = correlated_codes(n_samples=80, n_units=6, seed=2)
    codes[:, 2] = 0.7  # a dead unit
    assert mean_abs_correlation(codes) == pytest.approx(mean_abs_pearson(codes), rel=1e-12)
    z, n_constant = standardised_units(codes)
    assert n_constant == 1 and not z[:, 2].any()
    R = unit_correlation(codes)
    np.testing.assert_allclose(np.diag(R), [1, 1, 0, 1, 1, 1], atol=1e-12)


def test_spectrum_of_exactly_uncorrelated_and_of_identical_units():
    orthogonal = hadamard(16)[:, 1:]  # ±1 columns of mean 0, pairwise orthogonal: R = I
    spectrum = correlation_spectrum(orthogonal)
    np.testing.assert_allclose(spectrum["eigenvalues"], np.ones(15), atol=1e-12)
    assert spectrum["leading_share"] == pytest.approx(1 / 15)
    assert spectrum["participation_ratio"] == pytest.approx(15)
    assert mean_abs_correlation(orthogonal) == pytest.approx(0, abs=1e-15)
    bit = np.random.default_rng(0).choice([-1.0, 1.0], size=(50, 1))
    copies = bit * np.array([1, -1, 1, 1, -1, -1])  # one mode, signs scrambled
    spectrum = correlation_spectrum(copies)
    assert spectrum["leading_share"] == pytest.approx(1)
    assert spectrum["participation_ratio"] == pytest.approx(1)
    assert mean_abs_correlation(copies) == pytest.approx(1)
    assert np.isnan(correlation_spectrum(np.ones((10, 3)))["leading_share"])


def test_probe_equals_ridge_on_explicit_quadratic_features():
    codes = correlated_codes(n_samples=60, n_units=5, seed=7)
    y = codes[:, 0] * codes[:, 1] + 0.3 * codes[:, 2] + 0.1 * np.random.default_rng(0).normal(size=60)
    folds = list(KFold(4, shuffle=True, random_state=3).split(codes))
    for alpha in (1e-3, 0.1, 10.0):
        got = probe_r2(codes, {"y": y}, n_splits=4, seed=3, alphas=[alpha])["y"]["folds"]
        np.testing.assert_allclose(got, quadratic_ridge_r2(codes, y, folds, alpha), rtol=1e-8, atol=1e-10)


def test_quadratic_probe_sees_an_even_statistic_that_a_linear_one_cannot():
    rng = np.random.default_rng(11)
    codes = rng.choice([-1.0, 1.0], size=(400, 8))
    parity = codes[:, 0] * codes[:, 1]  # even under every sign flip, like the energy
    assert probe_r2(codes, {"p": parity})["p"]["mean"] > 0.95
    assert probe_r2(codes, {"p": parity}, degree=1)["p"]["mean"] < 0.05


def test_random_code_retains_nothing():
    n = 400
    rng = np.random.default_rng(12)
    codes = rng.choice([-1, 1], size=(n, 64)).astype(np.int8)
    floor = np.sqrt(2 / (np.pi * n))  # mean |r| of independent units
    assert abs(mean_abs_correlation(codes) - floor) < 3 / np.sqrt(n) / 8
    assert mean_abs_correlation(codes) < 3 / np.sqrt(n)
    targets = {"a": rng.normal(size=n), "b": rng.normal(size=n) ** 2}
    for result in probe_r2(codes, targets).values():
        assert -0.1 < result["mean"] < 0.03


def test_mirror_pairs_must_share_a_fold():
    """In a flip-symmetrised ensemble a row's mirror image gives away any even target."""
    rng = np.random.default_rng(13)
    n = 150
    codes = rng.normal(size=(n, 16))
    even = rng.normal(size=n)  # unrelated to the code, equal for a row and its mirror
    mirrored, target = np.concatenate([codes, -codes]), np.concatenate([even, even])
    leaky = probe_r2(mirrored, {"e": target})["e"]["mean"]
    grouped = probe_r2(mirrored, {"e": target}, groups=np.tile(np.arange(n), 2))["e"]["mean"]
    assert leaky > 0.2
    assert -0.1 < grouped < 0.03


@pytest.mark.parametrize("group_size", [1, 2, 3])
def test_held_out_loss_equals_refitting_without_each_group(group_size):
    rng = np.random.default_rng(group_size)
    n = 12 * group_size
    z, y = rng.normal(size=(n, 3)), rng.normal(size=n)
    labels = np.repeat(np.arange(12), group_size)[rng.permutation(n)]
    K = (1.0 + z @ z.T / 3) ** 2
    lam, V = np.linalg.eigh(K)
    a = 0.3
    shrink = lam / (lam + a)
    got = _held_out_loss(V, shrink, y - V @ (shrink * (V.T @ y)), _group_blocks(labels))
    squared = []
    for g in range(12):
        out, keep = labels == g, labels != g
        dual = np.linalg.solve(K[np.ix_(keep, keep)] + a * np.eye(keep.sum()), y[keep])
        squared.extend((y[out] - K[np.ix_(out, keep)] @ dual) ** 2)
    assert got == pytest.approx(np.mean(squared), rel=1e-9)


def test_probe_rejects_bad_input():
    codes = correlated_codes(n_samples=20, n_units=3)
    with pytest.raises(ValueError, match="shape"):
        probe_r2(codes, {"y": np.zeros(19)})
    with pytest.raises(ValueError, match="n_splits"):
        probe_r2(codes, {"y": np.zeros(20)}, n_splits=1)
    with pytest.raises(ValueError, match="too few"):
        probe_r2(codes, {"y": np.zeros(20)}, n_splits=11)
    with pytest.raises(ValueError, match="one label per sample"):
        probe_r2(codes, {"y": np.zeros(20)}, groups=np.zeros(19))
    with pytest.raises(ValueError, match="alphas"):
        probe_r2(codes, {"y": np.zeros(20)}, alphas=[0.0])
    with pytest.raises(ValueError, match="NaN"):
        mean_abs_correlation(np.full((4, 3), np.nan))


# --- block spins of Monte Carlo configurations -------------------------------------------------


@pytest.fixture(scope="module")
def critical_ensemble():
    lattice = square(16)
    return lattice, sample_ensemble(lattice, lattice.critical_temperature, 200, seed=2)


def test_lattice_targets_match_the_sampler(critical_ensemble):
    lattice, ensemble = critical_ensemble
    targets = lattice_targets(ensemble.spins, lattice)
    np.testing.assert_allclose(targets["energy"], ensemble.energy / lattice.n_sites, atol=1e-12)
    np.testing.assert_allclose(targets["magnetization"], ensemble.magnetization / lattice.n_sites, atol=1e-12)


@pytest.mark.parametrize("rule", RULES)
def test_block_spins_near_tc_retain_energy_and_magnetisation(critical_ensemble, rule):
    lattice, ensemble = critical_ensemble
    x = ensemble.spins
    row = code_summary(block_spins(x, lattice, rule), x, lattice)
    random_bits = np.random.default_rng(0).choice([-1, 1], size=(len(x), lattice.n_blocks))
    noise = code_summary(random_bits, x, lattice)
    assert row["n_units"] == lattice.n_blocks and row["n_constant_units"] == 0
    assert row["probe_r2_energy"] > 0.2 > noise["probe_r2_energy"]
    assert row["probe_r2_abs_magnetization"] > 0.5 > noise["probe_r2_abs_magnetization"]
    assert row["probe_r2_magnetization"] > 0.95
    assert row["mean_abs_correlation"] > 0.3 > noise["mean_abs_correlation"]
    assert row["participation_ratio"] < 10 < noise["participation_ratio"]
    with pytest.raises(ValueError, match="same configurations"):
        code_summary(block_spins(x, lattice, rule)[:-1], x, lattice)
